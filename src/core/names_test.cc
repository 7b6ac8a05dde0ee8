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

// Regression (fuzz/catalog_fuzz.cc): a catalog file URL ending in "%8E%2E" named the file
// "\x8E.", which passed; any JSON holding that path (GET /catalog, --json listings) then
// threw nlohmann::type_error 316 when dumped. Paths must be valid UTF-8.
TEST(NamesTest, FilePathsAreValidUtf8) {
  for (const char* ok : {"caf\xc3\xa9.bin", "\xe6\xa8\xa1\xe5\x9e\x8b/w.bin",
                         "\xf0\x9f\x98\x80.bin", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(ValidateRelativePath(ok).ok()) << ok;
  }
  for (const char* bad :
       {"\x8e.", "caf\xe9.bin", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "a\xe6\xa8"}) {
    auto s = ValidateRelativePath(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("UTF-8"), std::string::npos) << s.message();
  }
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

// The ids are RFC 9562 version 5 UUIDs: Python's uuid.uuid5(UUID("6f1d3c8e-5a0b-4c2e-9d7f-
// 2b8a4e6c1f30"), name) gives the same (an independent implementation).
TEST(NamesTest, ModelUuidsAreVersion5UuidsOfTheCanonicalName) {
  EXPECT_EQ(ModelUuid({"whisper-tiny", "ggml"}), "8121c924-f26c-5210-a44a-588757fe9536");
  EXPECT_EQ(ModelUuid({"Qwen/Qwen2.5-0.5B-Instruct-GGUF", "Q4_K_M"}),
            "5d29326d-a1fe-5fd6-848f-2aee26074b6f");
  EXPECT_NE(ModelUuid({"a", "v1"}), ModelUuid({"a", "v2"}));
  EXPECT_TRUE(IsUuid(ModelUuid({"a", "v1"})));
  EXPECT_TRUE(IsUuid("8121C924-F26C-5210-A44A-588757FE9536"));
  for (const char* bad :
       {"", "whisper-tiny:ggml", "8121c924f26c5210a44a588757fe9536",
        "8121c924-f26c-5210-a44a-588757fe953", "8121c924-f26c-5210-a44a-588757fe953g",
        "8121c924-f26c-5210-a44a_588757fe9536"}) {
    EXPECT_FALSE(IsUuid(bad)) << bad;
  }
}

}  // namespace
}  // namespace modeld
