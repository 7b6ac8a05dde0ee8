#include "store/ollama_layout.h"

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

class OllamaLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("modeld_ollama_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(BlobDir(root_ / "data"));
  }
  void TearDown() override { fs::remove_all(root_); }

  OllamaLayout Layout() const { return OllamaLayout(root_ / "ollama", root_ / "data"); }
  static void Write(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  // Puts |content| into our blobs; returns its sha256.
  std::string OurBlob(const std::string& content) {
    std::string sha = HashHex(HashAlgorithm::kSha256, content);
    fs::path tmp = root_ / ("tmp" + sha.substr(0, 8));
    Write(tmp, content);
    EXPECT_TRUE(AdoptBlob(root_ / "data", tmp, sha).ok());
    return sha;
  }
  std::string Manifest(const std::string& config, const std::vector<std::string>& layers) {
    std::string m = R"({"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:)" + config +
                    R"(","size":1},"layers":[)";
    for (size_t i = 0; i < layers.size(); ++i) {
      m += (i ? "," : "") + std::string(R"({"mediaType":"m","digest":"sha256:)") + layers[i] +
           R"(","size":1})";
    }
    return m + "]}";
  }
  static OllamaName Name(const std::string& text) { return *ParseOllamaName(text); }

  fs::path root_;
};

TEST_F(OllamaLayoutTest, WritesBlobsAsHardLinksThenTheManifestAndListsIt) {
  const std::string config = OurBlob("{}"), model = OurBlob("model bytes");
  const std::string manifest = Manifest(config, {model});
  ASSERT_TRUE(Layout().Write(Name("tiny"), manifest, {config, model}).ok());
  const fs::path path = root_ / "ollama/manifests/registry.ollama.ai/library/tiny/latest";
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), manifest);
  for (const auto& sha : {config, model}) {
    struct stat theirs {
    }, ours{};
    ASSERT_EQ(::stat(Layout().BlobPath(sha).c_str(), &theirs), 0);
    ASSERT_EQ(::stat(BlobPath(root_ / "data", sha).c_str(), &ours), 0);
    EXPECT_EQ(theirs.st_ino, ours.st_ino) << "one inode";
  }
  ASSERT_TRUE(Layout().Write(Name("tiny"), manifest, {config, model}).ok()) << "idempotent";
  // A temporary file left by a crash is not a tag.
  Write(path.parent_path() / ".latest.tmp1234", manifest);
  auto listed = Layout().List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, Name("tiny"));
  EXPECT_EQ(listed[0].manifest, manifest);
  EXPECT_EQ(Layout().ReadManifest(Name("tiny:latest")), manifest);
}

TEST_F(OllamaLayoutTest, RemoveKeepsTheBlobsAnotherManifestNames) {
  const std::string config = OurBlob("{}"), a = OurBlob("a"), b = OurBlob("b");
  ASSERT_TRUE(Layout().Write(Name("one"), Manifest(config, {a}), {config, a}).ok());
  ASSERT_TRUE(Layout().Write(Name("two"), Manifest(config, {a, b}), {config, a, b}).ok());
  ASSERT_TRUE(Layout().Remove(Name("two")).ok());
  EXPECT_TRUE(fs::exists(Layout().BlobPath(a)));
  EXPECT_TRUE(fs::exists(Layout().BlobPath(config)));
  EXPECT_FALSE(fs::exists(Layout().BlobPath(b)));
  EXPECT_FALSE(fs::exists(root_ / "ollama/manifests/registry.ollama.ai/library/two"));
  EXPECT_EQ(Layout().Remove(Name("two")).code(), Status::Code::kNotFound);
  EXPECT_TRUE(fs::exists(BlobPath(root_ / "data", b))) << "modeld's own blob stays";
}

TEST_F(OllamaLayoutTest, StagesOnlyARegularFileWithTheRightBytes) {
  const std::string bytes = "ollama's blob";
  const std::string sha = HashHex(HashAlgorithm::kSha256, bytes);
  // A symlink to the right bytes elsewhere is not adopted (its target could change).
  Write(root_ / "elsewhere", bytes);
  fs::create_directories(root_ / "ollama/blobs");
  fs::create_symlink(root_ / "elsewhere", Layout().BlobPath(sha));
  auto staged = Layout().Stage(sha, bytes.size());
  ASSERT_TRUE(staged.has_value());
  EXPECT_FALSE(staged->has_value());
  fs::remove(Layout().BlobPath(sha));
  Write(Layout().BlobPath(sha), "other bytes!!");
  EXPECT_FALSE(Layout().Stage(sha, 13)->has_value()) << "another digest";
  fs::remove(Layout().BlobPath(sha));
  Write(Layout().BlobPath(sha), bytes);
  EXPECT_FALSE(Layout().Stage(sha, bytes.size() + 1)->has_value()) << "another size";
  staged = Layout().Stage(sha, bytes.size());
  ASSERT_TRUE(staged.has_value() && staged->has_value());
  EXPECT_EQ((*staged)->sha256, sha);
  struct stat theirs {
  }, tmp{};
  ASSERT_EQ(::stat(Layout().BlobPath(sha).c_str(), &theirs), 0);
  ASSERT_EQ(::stat((*staged)->path.c_str(), &tmp), 0);
  EXPECT_EQ(theirs.st_ino, tmp.st_ino) << "the inode hashed is the one linked";
}

TEST_F(OllamaLayoutTest, NamesThatWouldLeaveTheDirectoryAreRefused) {
  OllamaName bad = Name("tiny");
  for (std::string part : {"..", ".hidden", "", "a/b"}) {
    OllamaName n = bad;
    n.tag = part;
    EXPECT_FALSE(Layout().ManifestPath(n).has_value()) << part;
    n = bad;
    n.host = part;
    EXPECT_FALSE(Layout().ManifestPath(n).has_value()) << part;
  }
  EXPECT_FALSE(OllamaLayout("", root_ / "data").enabled());
  EXPECT_TRUE(OllamaLayout("", root_ / "data").List().empty());
}

}  // namespace
}  // namespace modeld::store
