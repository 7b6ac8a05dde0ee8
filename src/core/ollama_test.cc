#include "core/ollama.h"

#include <gtest/gtest.h>

namespace modeld {
namespace {

TEST(OllamaNameTest, FillsOllamasDefaults) {
  auto n = ParseOllamaName("llama3.2");
  ASSERT_TRUE(n.has_value()) << n.error().ToString();
  EXPECT_EQ(n->host, "registry.ollama.ai");
  EXPECT_EQ(n->ns, "library");
  EXPECT_EQ(n->model, "llama3.2");
  EXPECT_EQ(n->tag, "latest");
  EXPECT_EQ(n->Shortest(), "llama3.2:latest");
  EXPECT_EQ(n->Full(), "registry.ollama.ai/library/llama3.2:latest");
  EXPECT_EQ(n->ToModelRef()->ToString(), "registry.ollama.ai/library/llama3.2:latest");
}

TEST(OllamaNameTest, ReadsEveryShape) {
  struct Case {
    const char* text;
    const char* host;
    const char* ns;
    const char* model;
    const char* tag;
    const char* shortest;
  } cases[] = {
      {"qwen2.5:0.5b", "registry.ollama.ai", "library", "qwen2.5", "0.5b", "qwen2.5:0.5b"},
      {"user/model:v1", "registry.ollama.ai", "user", "model", "v1", "user/model:v1"},
      {"registry.ollama.ai/library/x:1", "registry.ollama.ai", "library", "x", "1", "x:1"},
      {"https://reg.example.com/ns/m", "reg.example.com", "ns", "m", "latest",
       "reg.example.com/ns/m:latest"},
      {"hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co", "bartowski",
       "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"},
      {"localhost:5000/ns/m:t", "localhost:5000", "ns", "m", "t", "localhost:5000/ns/m:t"},
  };
  for (const auto& c : cases) {
    auto n = ParseOllamaName(c.text);
    ASSERT_TRUE(n.has_value()) << c.text << ": " << n.error().ToString();
    EXPECT_EQ(n->host, c.host) << c.text;
    EXPECT_EQ(n->ns, c.ns) << c.text;
    EXPECT_EQ(n->model, c.model) << c.text;
    EXPECT_EQ(n->tag, c.tag) << c.text;
    EXPECT_EQ(n->Shortest(), c.shortest) << c.text;
  }
  EXPECT_TRUE(ParseOllamaName("hf.co/a/b")->OnHub());
  EXPECT_TRUE(ParseOllamaName("HuggingFace.co/a/b")->OnHub());
  EXPECT_FALSE(ParseOllamaName("a/b")->OnHub());
}

TEST(OllamaNameTest, RefusesWhatOllamaRefuses) {
  for (const char* bad :
       {"", ":", "a:", ":tag", "a/b/c/d", "../etc:passwd", "a//b", "-a", "a b", "a/.b",
        "m@sha256:00", "a_b/ns/m", "a:b:c", "x/y:z/w", "m:" /* empty tag */}) {
    auto n = ParseOllamaName(bad);
    EXPECT_FALSE(n.has_value()) << "'" << bad << "' parsed";
    if (!n.has_value()) {
      EXPECT_EQ(n.error().code(), Status::Code::kInvalidArgument) << bad;
    }
  }
  EXPECT_FALSE(ParseOllamaName(std::string(81, 'a')).has_value());
  EXPECT_TRUE(ParseOllamaName(std::string(80, 'a')).has_value());
}

TEST(OllamaNameTest, APortedHostIsStoredWithAnUnderscore) {
  auto n = ParseOllamaName("localhost:5000/ns/m:t");
  ASSERT_TRUE(n.has_value());
  auto ref = n->ToModelRef();
  ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
  EXPECT_EQ(ref->ToString(), "localhost_5000/ns/m:t");
  auto back = OllamaNameOf(*ref);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, *n);
  EXPECT_EQ(back->Shortest(), "localhost:5000/ns/m:t");
  EXPECT_FALSE(ParseOllamaName("host:99999x/ns/m")->ToModelRef().has_value());
}

TEST(OllamaNameTest, StoredNamesMapBack) {
  auto ref = ParseOllamaName("user/model:v2")->ToModelRef();
  ASSERT_TRUE(ref.has_value());
  auto back = OllamaNameOf(*ref);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->Shortest(), "user/model:v2");
  EXPECT_FALSE(OllamaNameOf(ModelRef{"org/repo", "main"}).has_value());
  EXPECT_FALSE(OllamaNameOf(ModelRef{"a/b/c", "main"}).has_value());  // no dot: not a host
}

const std::string kManifestA(64, 'a');
const std::string kManifestB(64, 'b');

std::string ManifestWith(const std::string& layers) {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
         R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:)" +
         kManifestA + R"(","size":10},"layers":[)" + layers + "]}";
}

TEST(OllamaManifestTest, ReadsConfigAndLayers) {
  auto m = ParseOllamaManifest(ManifestWith(
      R"({"mediaType":"application/vnd.ollama.image.model","digest":"sha256:)" + kManifestB +
      R"(","size":1234567890123},{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:)" +
      kManifestA + R"(","size":5,"from":"x"})"));
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->config.sha256, kManifestA);
  EXPECT_EQ(m->config.size, 10u);
  ASSERT_EQ(m->layers.size(), 2u);
  EXPECT_EQ(m->layers[0].media_type, "application/vnd.ollama.image.model");
  EXPECT_EQ(m->layers[0].sha256, kManifestB);
  EXPECT_EQ(m->layers[0].size, 1234567890123u);
}

TEST(OllamaManifestTest, RefusesWhatItCannotVerify) {
  const std::string model = R"({"mediaType":"application/vnd.ollama.image.model","digest":")";
  for (const std::string& bad : {
           std::string("[]"),
           std::string("{}"),
           std::string("not json"),
           ManifestWith(""),  // no layers
           ManifestWith(model + "sha256:" + kManifestB.substr(1) +
                        R"(","size":1})"),  // short digest
           ManifestWith(model + "sha256:" + std::string(64, 'B') + R"(","size":1})"),  // upper
           ManifestWith(model + "sha512:" + kManifestB + R"(","size":1})"),
           ManifestWith(model + "sha256:" + kManifestB + R"(","size":-1})"),
           ManifestWith(model + "sha256:" + kManifestB + R"(","size":"1"})"),
           ManifestWith(model + "sha256:" + kManifestB + R"(","size":1e300})"),
           ManifestWith(R"({"digest":"sha256:)" + kManifestB + R"(","size":1})"),  // no mediaType
           ManifestWith("1"),
       }) {
    auto m = ParseOllamaManifest(bad);
    EXPECT_FALSE(m.has_value()) << bad;
    if (!m.has_value()) {
      EXPECT_EQ(m.error().code(), Status::Code::kCorrupt) << bad;
    }
  }
}

}  // namespace
}  // namespace modeld
