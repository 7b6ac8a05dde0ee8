#include "archive/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <random>

#include "archive_writer.h"
#include "core/checksum.h"

namespace modeld::archive {
namespace {

namespace fs = std::filesystem;

using Item = testing::ArchiveItem;

void WriteArchive(const fs::path& out, const std::vector<Item>& items, const std::string& kind) {
  ASSERT_EQ(testing::WriteArchive(out, items, kind), "");
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string Random(size_t n, int seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class ExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("modeld-extract-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  // Nothing may appear anywhere under root_ but the archive itself.
  void ExpectNothingExtracted(const fs::path& archive) {
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      EXPECT_EQ(e.path(), archive) << "left behind: " << e.path();
    }
  }
  fs::path root_;
};

TEST_F(ExtractTest, RecognisesArchiveNames) {
  for (const char* n :
       {"m.zip", "m.tar", "M.TAR.GZ", "m.tgz", "m.tar.zst", "m.tar.xz", "m.tar.bz2"}) {
    EXPECT_TRUE(IsArchive(n)) << n;
  }
  for (const char* n : {"m.gguf", "m.safetensors", "m.gz", "zip", "m.tar.gz.part"})
    EXPECT_FALSE(IsArchive(n)) << n;
}

TEST_F(ExtractTest, ExtractsEveryFormatWithDigests) {
  std::string weights = Random(3 << 20, 1);
  for (const std::string kind : {"tar", "tar.gz", "tar.zst", "tar.xz", "zip"}) {
    SCOPED_TRACE(kind);
    fs::path archive = root_ / ("m." + kind);
    WriteArchive(archive,
                 {{"model/", "", AE_IFDIR},
                  {"model/weights.bin", weights},
                  {"./model/config.json", "{\"a\":1}"},
                  {"model/empty.txt", ""},
                  {"model/alias.bin", "", AE_IFLNK, "weights.bin"},
                  {kind == "zip" ? "model/hard.bin" : "model/hard.bin", "", AE_IFREG,
                   "model/weights.bin", kind != "zip"}},
                 kind);  // zip has no hard links: there it is a plain empty file
    fs::path dest = root_ / ("out-" + kind);
    auto r = Extract(archive, dest, Limits{});
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    std::map<std::string, ExtractedFile> by;
    for (const auto& f : *r) by[f.path] = f;
    ASSERT_EQ(by.size(), 5u);
    EXPECT_EQ(Read(dest / "model/weights.bin"), weights);
    EXPECT_EQ(by["model/weights.bin"].sha256, HashHex(HashAlgorithm::kSha256, weights));
    EXPECT_EQ(by["model/weights.bin"].size, weights.size());
    EXPECT_EQ(by["model/config.json"].sha256, HashHex(HashAlgorithm::kSha256, "{\"a\":1}"));
    EXPECT_EQ(by["model/empty.txt"].size, 0u);
    // Links are files sharing their target's bytes, never links on disk.
    EXPECT_EQ(by["model/alias.bin"].disk_path, dest / "model/weights.bin");
    if (kind != "zip") {
      EXPECT_EQ(by["model/hard.bin"].sha256, by["model/weights.bin"].sha256);
    }
    EXPECT_FALSE(fs::exists(dest / "model/alias.bin"));
  }
}

TEST_F(ExtractTest, RefusesZipSlip) {
  for (const std::string kind : {"zip", "tar.gz"}) {
    fs::path archive = root_ / ("slip." + kind);
    WriteArchive(archive, {{"ok.txt", "fine"}, {"../../evil.sh", "boom"}}, kind);
    auto r = Extract(archive, root_ / "out", Limits{});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("'..'"), std::string::npos) << r.error().message();
    EXPECT_FALSE(fs::exists(root_.parent_path() / "evil.sh"));
    ExpectNothingExtracted(archive);
    fs::remove(archive);
  }
}

// The same path check as Hub listings and catalogs: an archive must not plant a .git
// directory (its hooks run code) in any case.
TEST_F(ExtractTest, RefusesGitDirectories) {
  for (const std::string name : {".git/config", "./model/.GIT/hooks/post-checkout"}) {
    fs::path archive = root_ / "git.tar";
    WriteArchive(archive, {{"ok.txt", "fine"}, {name, "[core]"}}, "tar");
    auto r = Extract(archive, root_ / "out", Limits{});
    ASSERT_FALSE(r.has_value()) << name;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(".git"), std::string::npos) << r.error().message();
    ExpectNothingExtracted(archive);
    fs::remove(archive);
  }
}

TEST_F(ExtractTest, RefusesAbsolutePaths) {
  fs::path archive = root_ / "abs.tar";
  WriteArchive(archive, {{(root_ / "abs-evil").string(), "boom"}}, "tar");
  auto r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("absolute"), std::string::npos) << r.error().message();
  ExpectNothingExtracted(archive);
}

TEST_F(ExtractTest, RefusesSymlinkEscapes) {
  for (const std::string target : {"../../../etc/passwd", "/etc/passwd", "../sub/../../x"}) {
    SCOPED_TRACE(target);
    fs::path archive = root_ / "link.tar";
    // The classic two-step: a link out, then a file written "through" it.
    WriteArchive(
        archive,
        {{"sub/", "", AE_IFDIR}, {"sub/escape", "", AE_IFLNK, target}, {"sub/escape/x", "boom"}},
        "tar");
    auto r = Extract(archive, root_ / "out", Limits{});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("outside"), std::string::npos) << r.error().message();
    ExpectNothingExtracted(archive);
    fs::remove(archive);
  }
}

TEST_F(ExtractTest, RefusesLinksToNothingAndHardLinksOut) {
  fs::path archive = root_ / "dangling.tar";
  WriteArchive(archive, {{"a", "", AE_IFLNK, "missing"}}, "tar");
  auto r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("not a file in the archive"), std::string::npos)
      << r.error().message();
  fs::remove(archive);
  WriteArchive(archive, {{"h", "", AE_IFREG, "../../etc/passwd", true}}, "tar");
  r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("hard link"), std::string::npos) << r.error().message();
  ExpectNothingExtracted(archive);
}

TEST_F(ExtractTest, RefusesDevicesAndFifos) {
  for (mode_t type : {AE_IFCHR, AE_IFBLK, AE_IFIFO}) {
    fs::path archive = root_ / "dev.tar";
    WriteArchive(archive, {{"ok.txt", "x"}, {"null", "", type}}, "tar");
    auto r = Extract(archive, root_ / "out", Limits{});
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("device"), std::string::npos) << r.error().message();
    ExpectNothingExtracted(archive);
    fs::remove(archive);
  }
}

TEST_F(ExtractTest, RefusesDuplicateEntries) {
  fs::path archive = root_ / "dup.tar";
  WriteArchive(archive, {{"a.txt", "one"}, {"a.txt", "two"}}, "tar");
  auto r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("twice"), std::string::npos);
  // A file "under" a link inside the archive: the link is a file here, not a directory.
  fs::remove(archive);
  WriteArchive(archive, {{"a.txt", "one"}, {"dir", "", AE_IFLNK, "a.txt"}, {"dir/b.txt", "two"}},
               "tar");
  r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("under a file"), std::string::npos) << r.error().message();
  ExpectNothingExtracted(archive);
}

TEST_F(ExtractTest, StopsADecompressionBomb) {
  // 64 MiB of zeros gzip to about 64 KiB: a ratio near 1000.
  fs::path archive = root_ / "bomb.tar.gz";
  WriteArchive(archive, {{"zeros.bin", std::string(64 << 20, '\0')}}, "tar.gz");
  ASSERT_LT(fs::file_size(archive), 1u << 20);
  Limits limits;
  limits.ratio_floor = 4 << 20;
  limits.max_ratio = 100;
  auto r = Extract(archive, root_ / "out", limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("decompression bomb"), std::string::npos)
      << r.error().message();
  ExpectNothingExtracted(archive);
  // The total bound too (the free space, in real use), with a reply that says so.
  limits = Limits{};
  limits.max_total_bytes = 8 << 20;
  r = Extract(archive, root_ / "out", limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kNoSpace);
  ExpectNothingExtracted(archive);
}

TEST_F(ExtractTest, ReportsADamagedArchive) {
  fs::path archive = root_ / "bad.tar.gz";
  WriteArchive(archive, {{"w.bin", Random(1 << 20, 2)}}, "tar.gz");
  fs::resize_file(archive, fs::file_size(archive) / 2);
  auto r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kCorrupt) << r.error().ToString();
  ExpectNothingExtracted(archive);
  std::ofstream(root_ / "plain.zip") << "not an archive at all";
  fs::remove(archive);
  r = Extract(root_ / "plain.zip", root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kCorrupt);
}

TEST_F(ExtractTest, NeverTouchesAnExistingDestination) {
  fs::path archive = root_ / "a.tar";
  WriteArchive(archive, {{"../x", "boom"}}, "tar");
  fs::create_directories(root_ / "out");
  std::ofstream(root_ / "out" / "keep") << "mine";
  auto r = Extract(archive, root_ / "out", Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(Read(root_ / "out" / "keep"), "mine");
}

}  // namespace
}  // namespace modeld::archive
