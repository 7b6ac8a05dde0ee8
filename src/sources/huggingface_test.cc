#include "sources/huggingface.h"

#include <gtest/gtest.h>

namespace modeld::sources {
namespace {

TEST(HubTreeTest, FilesWithSizesDigestsAndResolveUrls) {
  auto files = ParseHubTree(R"([
      {"type": "directory", "path": "sub", "oid": "d0"},
      {"type": "file", "path": "config.json", "size": 12, "oid": "a1"},
      {"type": "file", "path": "sub/w [1].bin", "size": 5, "oid": "b2",
       "lfs": {"oid": ")" + std::string(64, 'c') +
                                R"(", "size": 4096}}])",
                            "org/repo", "abc123", "https://hub.example");
  ASSERT_TRUE(files.has_value()) << files.error().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path, "config.json");
  EXPECT_EQ((*files)[0].size, 12u);
  EXPECT_EQ((*files)[0].git_sha1, "a1");
  EXPECT_FALSE((*files)[0].lfs());
  EXPECT_EQ((*files)[0].url, "https://hub.example/org/repo/resolve/abc123/config.json");
  EXPECT_EQ((*files)[1].size, 4096u) << "the LFS size is the content's";
  EXPECT_EQ((*files)[1].sha256, std::string(64, 'c'));
  EXPECT_EQ((*files)[1].url, "https://hub.example/org/repo/resolve/abc123/sub/w%20%5B1%5D.bin");
}

TEST(HubTreeTest, DamagedPagesAreCorrupt) {
  for (const char* page :
       {R"({"type": "file"})", R"([{"type": "file", "path": 7, "size": 1, "oid": "a"}])",
        R"([{"type": "file", "path": "a", "size": 1.5, "oid": "a"}])",
        R"([{"type": "file", "path": "a", "size": -1, "oid": "a"}])",
        R"([{"type": "file", "path": "a", "size": 1, "oid": "a", "lfs": {"oid": 1}}])",
        R"([{"type": "file", "path": "../a", "size": 1, "oid": "a"}])",
        R"([{"type": "file", "path": ".git/config", "size": 1, "oid": "a"}])", "[", ""}) {
    auto files = ParseHubTree(page, "org/repo", "c", "https://hub.example");
    ASSERT_FALSE(files.has_value()) << page;
    EXPECT_EQ(files.error().code(), Status::Code::kCorrupt) << page;
  }
  auto empty = ParseHubTree("[]", "org/repo", "c", "https://hub.example");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

// Regression (fuzz/pull_target_fuzz.cc): a link whose org or name segment holds an
// escaped '/' ("https://huggingface.co/a%2Fb/c") named the repository "a/b/c", which the
// Hub API cannot have. A repository is exactly org/name.
TEST(HubReferenceTest, AnEscapedSlashIsNotPartOfTheRepository) {
  EXPECT_FALSE(ParseHubReference("https://huggingface.co/a%2Fb/c"));
  EXPECT_FALSE(ParseHubReference("https://huggingface.co/a/b%2Fc/resolve/main/x"));
  auto r = ParseHubReference("https://huggingface.co/org/name/resolve/refs%2Fpr%2F1/a%2Fb.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo_id, "org/name");
  EXPECT_EQ(r->revision, "refs/pr/1");
  EXPECT_EQ(r->file, "a/b.bin");
}

}  // namespace
}  // namespace modeld::sources
