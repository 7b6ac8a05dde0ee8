#include "store/hub_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/checksum.h"
#include "store/file_ops.h"
#include "store/paths.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

class HubCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("modeld_hub_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(BlobDir(root_ / "data"));
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path Hf() const { return root_ / "hf"; }
  fs::path Data() const { return root_ / "data"; }
  HubCache Cache() const { return HubCache(Hf(), Data()); }

  // Puts |content| into our blobs; returns its sha256.
  std::string OurBlob(const std::string& content) {
    std::string sha = HashHex(HashAlgorithm::kSha256, content);
    fs::path tmp = root_ / ("tmp" + std::to_string(counter_++));
    Write(tmp, content);
    EXPECT_TRUE(AdoptBlob(Data(), tmp, sha).ok());
    return sha;
  }
  // Puts |content| into the Hub cache of |repo| as blobs/<etag>.
  void HubBlob(const std::string& repo, const std::string& etag, const std::string& content) {
    fs::path dir = Cache().RepoDir(repo) / "blobs";
    fs::create_directories(dir);
    Write(dir / etag, content);
  }
  static void Write(const fs::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary) << content;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  fs::path root_;
  int counter_ = 0;
};

TEST_F(HubCacheTest, NamesRepositoriesAsTheHubDoes) {
  EXPECT_EQ(Cache().RepoDir("org/name"), Hf() / "models--org--name");
  EXPECT_EQ(Cache().RepoDir("gpt2"), Hf() / "models--gpt2");
  EXPECT_EQ(Cache().RepoDir("Qwen/Qwen2.5-0.5B-Instruct-GGUF"),
            Hf() / "models--Qwen--Qwen2.5-0.5B-Instruct-GGUF");
}

TEST_F(HubCacheTest, FindsBlobsByEtagAndNothingOutsideBlobs) {
  HubBlob("org/m", "abc123", "bytes");
  auto found = Cache().FindBlob("org/m", "abc123");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, Cache().RepoDir("org/m") / "blobs" / "abc123");
  EXPECT_FALSE(Cache().FindBlob("org/m", "absent").has_value());
  EXPECT_FALSE(Cache().FindBlob("org/other", "abc123").has_value());
  fs::create_directories(Cache().RepoDir("org/m") / "refs");
  Write(Cache().RepoDir("org/m") / "refs" / "main", "x");
  for (const std::string etag : {"", "../refs/main", "..", "a/b"}) {
    EXPECT_FALSE(Cache().FindBlob("org/m", etag).has_value()) << etag;
  }
  fs::create_directories(Cache().RepoDir("org/m") / "blobs" / "adir");
  EXPECT_FALSE(Cache().FindBlob("org/m", "adir").has_value()) << "a directory is no blob";
}

TEST_F(HubCacheTest, LinksASnapshotAsTheHubLaysItOut) {
  std::string w = OurBlob(std::string(4096, 'w'));
  std::string cfg = OurBlob("{}");
  const std::string commit(40, 'c');
  const std::string cfg_etag(40, 'e');
  HubSnapshot snap{
      "org/m", "main", commit, {{"model.bin", w, w}, {"sub/config.json", cfg_etag, cfg}}};
  ASSERT_TRUE(Cache().LinkSnapshot(snap).ok());
  fs::path repo = Cache().RepoDir("org/m");
  EXPECT_EQ(Read(Hf() / "CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55\n");
  EXPECT_EQ(Read(repo / "refs" / "main"), commit);
  // blobs/<etag> shares our blob's bytes (a hard link on one file system).
  struct stat ours {
  }, theirs{};
  ASSERT_EQ(::stat(BlobPath(Data(), w).c_str(), &ours), 0);
  ASSERT_EQ(::stat((repo / "blobs" / w).c_str(), &theirs), 0);
  EXPECT_EQ(ours.st_ino, theirs.st_ino);
  // snapshots/<commit>/<path> are relative symlinks into blobs/.
  fs::path snapdir = repo / "snapshots" / commit;
  EXPECT_EQ(fs::read_symlink(snapdir / "model.bin"), fs::path("../../blobs") / w);
  EXPECT_EQ(fs::read_symlink(snapdir / "sub" / "config.json"),
            fs::path("../../../blobs") / cfg_etag);
  EXPECT_EQ(Read(snapdir / "sub" / "config.json"), "{}");
  // Again, and under the commit itself as the revision: the same tree, no refs/<commit>.
  ASSERT_TRUE(Cache().LinkSnapshot(snap).ok());
  snap.revision = commit;
  ASSERT_TRUE(Cache().LinkSnapshot(snap).ok());
  EXPECT_FALSE(fs::exists(repo / "refs" / commit));
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(repo / "blobs")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2u) << "no temporary files left behind";
}

// A blob of ours replaced by a repair (a new file with the right bytes) leaves the Hub
// cache's hard link on the old, corrupt file: linking the snapshot again points it at ours.
TEST_F(HubCacheTest, LinkingAgainReplacesABlobThatIsNoLongerOurs) {
  const std::string good(4096, 'w');
  std::string w = OurBlob(good);
  const std::string commit(40, 'c');
  HubSnapshot snap{"org/m", "main", commit, {{"model.bin", w, w}}};
  ASSERT_TRUE(Cache().LinkSnapshot(snap).ok());
  fs::path theirs = Cache().RepoDir("org/m") / "blobs" / w;
  // Corrupt in place (the shared inode), then repaired as Store does: a new file renamed
  // over ours.
  fs::permissions(BlobPath(Data(), w), fs::perms::owner_write, fs::perm_options::add);
  Write(BlobPath(Data(), w), std::string(4096, 'x'));
  fs::path fresh = root_ / "fresh";
  Write(fresh, good);
  fs::rename(fresh, BlobPath(Data(), w));
  EXPECT_EQ(Read(theirs), std::string(4096, 'x')) << "the Hub cache still has the bad bytes";
  ASSERT_TRUE(Cache().LinkSnapshot(snap).ok());
  EXPECT_EQ(Read(theirs), good);
  EXPECT_EQ(Read(Cache().RepoDir("org/m") / "snapshots" / commit / "model.bin"), good);
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat(BlobPath(Data(), w).c_str(), &a), 0);
  ASSERT_EQ(::stat(theirs.c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "one file again";
  // A blob that is ours already is left alone.
  ASSERT_TRUE(Cache().LinkSnapshot(snap).ok());
  ASSERT_EQ(::stat(theirs.c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(HubCacheTest, RefusesNamesThatCouldEscapeTheCache) {
  std::string w = OurBlob("w");
  const std::string commit(40, 'c');
  auto link = [&](HubSnapshot s) { return Cache().LinkSnapshot(s).code(); };
  const auto kBad = Status::Code::kInvalidArgument;
  EXPECT_EQ(link({"org/m", "../x", commit, {{"w", w, w}}}), kBad);
  EXPECT_EQ(link({"org/m", "main", "", {{"w", w, w}}}), kBad);
  EXPECT_EQ(link({"org/m", "main", "a/b", {{"w", w, w}}}), kBad);
  EXPECT_EQ(link({"org/m", "main", commit, {{"../w", w, w}}}), kBad);
  EXPECT_EQ(link({"org/m", "main", commit, {{"w", "", w}}}), kBad);
  EXPECT_EQ(link({"org/m", "main", commit, {{"w", "a/b", w}}}), kBad);
  EXPECT_FALSE(Cache().LinkSnapshot({"../m", "main", commit, {{"w", w, w}}}).ok());
  EXPECT_FALSE(fs::exists(root_ / "m"));
  // A file whose blob we do not have cannot be linked.
  EXPECT_FALSE(
      Cache().LinkSnapshot({"org/m", "main", commit, {{"x", "e", std::string(64, '0')}}}).ok());
}

TEST_F(HubCacheTest, StagesOnlyFilesWhoseBytesMatch) {
  // An LFS file: named by its sha256.
  std::string big(100000, 'h');
  std::string sha = HashHex(HashAlgorithm::kSha256, big);
  HubBlob("org/m", sha, big);
  auto got = Cache().Stage("org/m", sha, sha, big.size());
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->sha256, sha);
  EXPECT_EQ((*got)->path.parent_path(), BlobDir(Data())) << "beside the blobs: adopted by rename";
  EXPECT_NE((*got)->path.filename().string().size(), 64u) << "a name gc leaves alone";
  EXPECT_EQ(Read((*got)->path), big);
  EXPECT_EQ(Read(Cache().RepoDir("org/m") / "blobs" / sha), big) << "the Hub's copy stays";
  EXPECT_FALSE(fs::exists(BlobPath(Data(), sha))) << "adopting it is the store's decision";
  // A small file: named by its git blob id, its sha256 computed.
  std::string small = "{\"model_type\": \"x\"}";
  std::string oid = HashHex(HashAlgorithm::kGitSha1, small);
  HubBlob("org/m", oid, small);
  auto staged = Cache().Stage("org/m", oid, "", small.size());
  ASSERT_TRUE(staged.has_value() && staged->has_value());
  EXPECT_EQ((*staged)->sha256, HashHex(HashAlgorithm::kSha256, small));
  // Not staged, and not an error: absent, the wrong size, the wrong bytes, the wrong git id.
  std::string other(1000, 'x');
  std::string other_sha = HashHex(HashAlgorithm::kSha256, other);
  HubBlob("org/m", other_sha, std::string(1000, 'y'));
  HubBlob("org/m", std::string(40, 'a'), small);
  EXPECT_FALSE(Cache().Stage("org/m", "absent", other_sha, other.size())->has_value());
  EXPECT_FALSE(Cache().Stage("org/m", sha, other_sha, 5)->has_value());
  EXPECT_FALSE(Cache().Stage("org/m", other_sha, other_sha, other.size())->has_value());
  EXPECT_FALSE(Cache().Stage("org/m", std::string(40, 'a'), "", small.size())->has_value());
}

}  // namespace
}  // namespace modeld::store
