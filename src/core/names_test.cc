#include "core/names.h"

#include <gtest/gtest.h>

namespace modeld {
namespace {

TEST(NamesTest, ParsesReferences) {
  auto r = ParseModelRef("resnet50:v1.0");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "resnet50");
  EXPECT_EQ(r->version, "v1.0");
  r = ParseModelRef("Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(r->version, "Q4_K_M");
  r = ParseModelRef("bert-base");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->version, "latest");
}

TEST(NamesTest, RejectsHostileNames) {
  for (const char* bad : {"", "../etc", "a/../b", "/abs", "a//b", ".hidden", "-x", "a b", "a\\b",
                          "a:b:c", "a\nb", "x:", ":v1", "a/b/c/d/e", "a:..", "a:-rf"}) {
    auto r = ParseModelRef(bad);
    EXPECT_FALSE(r.has_value()) << "accepted '" << bad << "'";
    if (!r.has_value()) {
      EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    }
  }
  EXPECT_FALSE(ParseModelRef(std::string(201, 'a')).has_value());
  EXPECT_FALSE(ParseModelRef(std::string("a\0b", 3)).has_value());
}

TEST(NamesTest, ValidatesFilePaths) {
  for (const char* ok : {"model.bin", "sub/dir/x.safetensors", "a..b", ".gitattributes"}) {
    EXPECT_TRUE(ValidateRelativePath(ok).ok()) << ok;
  }
  for (const char* bad :
       {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "a\x01"}) {
    EXPECT_FALSE(ValidateRelativePath(bad).ok()) << bad;
  }
  EXPECT_FALSE(ValidateRelativePath(std::string(256, 'a')).ok());
  EXPECT_FALSE(ValidateRelativePath(std::string("a\0b", 3)).ok());
}

// A hostile mirror's listing must not write into a .git directory (hooks run code).
TEST(NamesTest, RefusesGitComponentsInAnyCase) {
  for (const char* ok :
       {".gitignore", ".github/workflows/x.yml", "a/.git2/x", "git/config", "x.git"}) {
    EXPECT_TRUE(ValidateRelativePath(ok).ok()) << ok;
  }
  for (const char* bad : {".git", ".git/config", "a/.git/hooks/post-checkout", ".GIT/config",
                          "sub/.Git", "a/.gIt/b"}) {
    Status s = ValidateRelativePath(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find(".git"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace modeld
