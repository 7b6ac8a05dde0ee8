#include "archive/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <cstdlib>
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

// Regression (fuzz/archive_entry_fuzz.cc): a link or file listed after files under its
// own path ("d/f", then "d") was accepted, so Extract returned both "d/f" and "d", a
// model whose "d" is at once a directory and a file.
TEST_F(ExtractTest, RefusesAnEntryOverEarlierFiles) {
  for (mode_t type : {AE_IFLNK, AE_IFREG}) {
    fs::path archive = root_ / "over.tar";
    WriteArchive(archive, {{"d/f", "one"}, {"d", "", type, type == AE_IFLNK ? "d/f" : ""}}, "tar");
    auto r = Extract(archive, root_ / "out", Limits{});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("over a file"), std::string::npos) << r.error().message();
    ExpectNothingExtracted(archive);
    fs::remove(archive);
  }
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

// Regression (found running fuzz/archive_fuzz.cc): with every libarchive filter on, bytes
// starting with grzip's or lzop's magic made libarchive run "grzip -d" or "lzop -d" from
// PATH on them, whatever the file was called. Only built-in decompressors are used now.
TEST_F(ExtractTest, NeverRunsAnExternalDecompressor) {
  fs::path bin = root_ / "bin";
  fs::create_directories(bin);
  for (const char* tool : {"grzip", "lzop", "lrzip"}) {
    std::ofstream(bin / tool) << "#!/bin/sh\necho ran >> '" << (root_ / "ran").string()
                              << "'\ncat >/dev/null\n";
    fs::permissions(bin / tool, fs::perms::owner_all);
  }
  std::string path = bin.string() + ":" + (std::getenv("PATH") ? std::getenv("PATH") : "");
  ASSERT_EQ(::setenv("PATH", path.c_str(), 1), 0);
  const std::string magics[] = {std::string("GRZipII\0\x02\x04:)", 12),
                                std::string("\x89LZO\0\r\n\x1a\n", 9),
                                std::string("LRZI\0\x06", 6)};
  for (const std::string& magic : magics) {
    fs::path archive = root_ / "m.tar.gz";
    std::ofstream(archive, std::ios::binary) << magic << std::string(4096, 'x');
    auto r = Extract(archive, root_ / "out", Limits{});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Status::Code::kCorrupt) << r.error().ToString();
    EXPECT_FALSE(fs::exists(root_ / "ran"))
        << "an external decompressor ran for " << magic.substr(0, 4);
    fs::remove(archive);
  }
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

// The entry checks on their own, without libarchive or a disk.
TEST(EntryCheckerTest, AcceptsAndNormalises) {
  using Type = EntryChecker::Type;
  using Kind = EntryChecker::Action::Kind;
  EntryChecker c("archive 't.tar'");
  auto root = c.Check({"./", Type::kDirectory});
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->kind, Kind::kSkip);
  auto dir = c.Check({"./m//", Type::kDirectory});
  ASSERT_TRUE(dir.has_value());
  EXPECT_EQ(dir->kind, Kind::kDirectory);
  EXPECT_EQ(dir->path, "m");
  auto file = c.Check({"./m/./w.bin", Type::kFile});
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->kind, Kind::kFile);
  EXPECT_EQ(file->path, "m/w.bin");
  auto sym = c.Check({"m/alias", Type::kSymlink, nullptr, "./w.bin"});
  ASSERT_TRUE(sym.has_value());
  EXPECT_EQ(sym->kind, Kind::kLink);
  EXPECT_EQ(sym->target, "m/w.bin");
  auto hard = c.Check({"hard", Type::kFile, "m/alias"});
  ASSERT_TRUE(hard.has_value());
  EXPECT_EQ(hard->target, "m/alias");
  auto links = c.ResolveLinks({"m/w.bin"});
  ASSERT_TRUE(links.has_value()) << links.error().ToString();
  EXPECT_EQ(*links, (std::vector<std::pair<std::string, std::string>>{{"m/alias", "m/w.bin"},
                                                                      {"hard", "m/w.bin"}}));
  EXPECT_FALSE(c.ResolveLinks({"m/other"}).has_value());
}

TEST(EntryCheckerTest, Refuses) {
  using Type = EntryChecker::Type;
  struct Case {
    EntryChecker::Entry entry;
    const char* why;
  };
  for (const Case& t : std::vector<Case>{
           {{"", Type::kFile}, "no name"},
           {{".", Type::kFile}, "no name"},
           {{"/etc/passwd", Type::kFile}, "absolute"},
           {{"a/../b", Type::kFile}, "'..'"},
           {{"..", Type::kDirectory}, "'..'"},
           {{"a\\b", Type::kFile}, "bad name"},
           {{"a\nb", Type::kDirectory}, "bad name"},
           {{"dev", Type::kOther}, "device"},
           {{"s", Type::kSymlink, nullptr, nullptr}, "outside"},
           {{"s", Type::kSymlink, nullptr, "../x"}, "outside"},
           {{"s", Type::kSymlink, nullptr, "/x"}, "outside"},
           {{"h", Type::kFile, "/etc/passwd"}, "hard link"},
           {{"h", Type::kFile, "a/../../x"}, "hard link"},
       }) {
    EntryChecker c("archive 't.tar'");
    auto r = c.Check(t.entry);
    ASSERT_FALSE(r.has_value()) << t.entry.name;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(t.why), std::string::npos) << r.error().message();
  }
  EntryChecker c("archive 't.tar'");
  ASSERT_TRUE(c.Check({"a", Type::kFile}).has_value());
  EXPECT_FALSE(c.Check({"./a", Type::kFile}).has_value());  // twice
  EXPECT_FALSE(c.Check({"a/b", Type::kFile}).has_value());  // under a file
  EntryChecker over("archive 't.tar'");
  ASSERT_TRUE(over.Check({"d/e/f", Type::kFile}).has_value());
  ASSERT_TRUE(over.Check({"d.txt", Type::kFile}).has_value());
  ASSERT_TRUE(over.Check({"d0", Type::kFile}).has_value());
  auto r = over.Check({"d", Type::kSymlink, nullptr, "d.txt"});  // over a file
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("over a file or link"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(over.Check({"d/e", Type::kFile}).has_value());
  EXPECT_TRUE(over.Check({"d/e2", Type::kFile}).has_value());
}

}  // namespace
}  // namespace modeld::archive
