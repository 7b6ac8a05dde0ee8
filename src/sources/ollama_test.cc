#include "sources/ollama.h"

#include <gtest/gtest.h>

namespace modeld::sources {
namespace {

TEST(OllamaManifestTest, NamesEachBlobByItsMediaType) {
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.model", false), "model.gguf");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.projector", false), "projector.gguf");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.adapter", false), "adapter.gguf");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.template", false), "template");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.license", false), "license");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.params", false), "params");
  EXPECT_EQ(OllamaBlobPath("application/vnd.docker.container.image.v1+json", true), "config");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image.../../x", false), "x");
  EXPECT_EQ(OllamaBlobPath("application/vnd.ollama.image./", false), "layer");
  EXPECT_EQ(OllamaBlobPath("text/plain", false), "layer");
}

}  // namespace
}  // namespace modeld::sources
