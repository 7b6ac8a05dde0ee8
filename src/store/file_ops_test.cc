#include "store/file_ops.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "store/paths.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

class FileOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("modeld_fileops_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void Write(const fs::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary) << content;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  // The names in |dir|.
  static std::set<std::string> Names(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
      out.insert(e.path().filename().string());
    }
    return out;
  }

  fs::path root_;
};

TEST_F(FileOpsTest, RandomNamesAreHexOfTheLengthAskedAndDiffer) {
  for (size_t n : {0u, 1u, 7u, 8u, 24u}) {
    std::string s = RandomHex(n);
    EXPECT_EQ(s.size(), n);
    EXPECT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos) << s;
  }
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    seen.insert(RandomHex(24));
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST_F(FileOpsTest, LinksShareTheFileAndRefuseAnExistingName) {
  Write(root_ / "a", "bytes");
  ASSERT_TRUE(CreateDirs(root_ / "x" / "y").ok());
  ASSERT_TRUE(LinkOrCopy(root_ / "a", root_ / "x" / "y" / "b").ok());
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat((root_ / "a").c_str(), &a), 0);
  ASSERT_EQ(::stat((root_ / "x" / "y" / "b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "a hard link on one file system";
  EXPECT_FALSE(LinkOrCopy(root_ / "a", root_ / "x" / "y" / "b").ok());
  EXPECT_FALSE(LinkOrCopy(root_ / "missing", root_ / "c").ok());
}

TEST_F(FileOpsTest, SymlinksAndSmallFilesAreReplacedAtomically) {
  ASSERT_TRUE(ReplaceSymlink("target-1", root_ / "link").ok());
  EXPECT_EQ(fs::read_symlink(root_ / "link"), "target-1");
  ASSERT_TRUE(ReplaceSymlink("../elsewhere/target-2", root_ / "link").ok());
  EXPECT_EQ(fs::read_symlink(root_ / "link"), "../elsewhere/target-2");
  ASSERT_TRUE(WriteFileAtomic(root_ / "ref", "one").ok());
  ASSERT_TRUE(WriteFileAtomic(root_ / "ref", "two").ok());
  EXPECT_EQ(Read(root_ / "ref"), "two");
  EXPECT_EQ(Names(root_), (std::set<std::string>{"link", "ref"})) << "no temporaries left";
  EXPECT_FALSE(WriteFileAtomic(root_ / "no" / "such" / "dir", "x").ok());
  EXPECT_FALSE(ReplaceSymlink("t", root_ / "no" / "such" / "link").ok());
}

TEST_F(FileOpsTest, CountsTheBytesOfATree) {
  ASSERT_TRUE(CreateDirs(root_ / "t" / "sub").ok());
  Write(root_ / "t" / "a", "12345");
  Write(root_ / "t" / "sub" / "b", "123");
  EXPECT_EQ(TreeBytes(root_ / "t"), 8u);
  EXPECT_EQ(TreeBytes(root_ / "missing"), 0u);
}

TEST_F(FileOpsTest, AdoptsEachBlobOnceAndReadOnly) {
  const fs::path data = root_ / "data";
  ASSERT_TRUE(CreateDirs(BlobDir(data)).ok());
  const std::string sha(64, 'a');
  Write(root_ / "one", "12345");
  EXPECT_FALSE(HasBlob(data, sha, 5));
  ASSERT_TRUE(AdoptBlob(data, root_ / "one", sha).ok());
  EXPECT_FALSE(fs::exists(root_ / "one")) << "moved, not copied";
  EXPECT_TRUE(HasBlob(data, sha, 5));
  EXPECT_FALSE(HasBlob(data, sha, 6)) << "the size must match too";
  struct stat st {};
  ASSERT_EQ(::stat(BlobPath(data, sha).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  // The same digest again: the new file is dropped, the blob kept.
  Write(root_ / "two", "12345");
  ASSERT_TRUE(AdoptBlob(data, root_ / "two", sha).ok());
  EXPECT_FALSE(fs::exists(root_ / "two"));
  EXPECT_EQ(Read(BlobPath(data, sha)), "12345");
  // Told to replace it: the new file takes its place, atomically.
  ASSERT_EQ(::stat(BlobPath(data, sha).c_str(), &st), 0);
  Write(root_ / "four", "12345");
  bool moved = false;
  ASSERT_TRUE(AdoptBlob(data, root_ / "four", sha, /*replace=*/true, &moved).ok());
  EXPECT_TRUE(moved);
  EXPECT_FALSE(fs::exists(root_ / "four"));
  struct stat now {};
  ASSERT_EQ(::stat(BlobPath(data, sha).c_str(), &now), 0);
  EXPECT_NE(now.st_ino, st.st_ino);
  EXPECT_EQ(now.st_mode & 0777, 0444u);
  Write(root_ / "three", "x");
  EXPECT_EQ(AdoptBlob(data, root_ / "three", "abc").code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(fs::exists(root_ / "three"));
}

}  // namespace
}  // namespace modeld::store
