// A full disk (issue 9): on a small tmpfs filled to its last byte, ls, info, verify,
// cache, gc and rm still work through the CLI; `modeld serve` starts, says the disk is
// full, lists and removes models; and a pull whose bytes are already on the disk is not
// refused for space it does not need. Mounting a tmpfs needs root (CI runs as root).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "origin.h"
#include "server_harness.h"
#include "service/model_service.h"
#include "service/pull_support.h"
#include "sources/plan.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr uint64_t kKiB = 1 << 10;

uint64_t FreeBytes(const fs::path& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return 0;
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

// A tmpfs of |size| mounted at |dir| (made) for the object's life.
class Tmpfs {
 public:
  // Sets skip_reason() instead of mounting when not root.
  Tmpfs(const fs::path& dir, uint64_t size) : dir_(dir) {
    if (::geteuid() != 0) {
      skip_reason_ = "mounting a tmpfs needs root (CI runs the tests as root)";
      return;
    }
    fs::create_directories(dir_);
    std::string opts = "size=" + std::to_string(size) + ",mode=0755";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      error_ = std::string("mount tmpfs on ") + dir_.string() + ": " + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  const std::string& skip_reason() const { return skip_reason_; }
  const std::string& error() const { return error_; }
  bool mounted() const { return mounted_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string skip_reason_, error_;
};

#define MOUNT_OR_SKIP(tmpfs)                                                   \
  do {                                                                         \
    if (!(tmpfs).skip_reason().empty()) GTEST_SKIP() << (tmpfs).skip_reason(); \
    ASSERT_TRUE((tmpfs).mounted()) << (tmpfs).error();                         \
  } while (0)

// Fills the file system holding |dir| until |leave| bytes (a multiple of the page size) or
// fewer are free: a filler file written until the last page is taken.
void Fill(const fs::path& dir, uint64_t leave = 0) {
  static int n = 0;
  fs::path filler = dir / ("filler" + std::to_string(n++));
  int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  std::string chunk(kMiB, 'f');
  for (;;) {
    uint64_t avail = FreeBytes(dir);
    if (avail <= leave) break;
    ssize_t w = ::write(fd, chunk.data(), std::min<uint64_t>(chunk.size(), avail - leave));
    if (w <= 0) break;  // ENOSPC: full
  }
  ::close(fd);
  if (leave == 0) {
    ASSERT_EQ(FreeBytes(dir), 0u) << "the disk is not full";
  }
}

// Overwrites one byte of |file| (a read-only hard link to a blob) in place.
void Corrupt(const fs::path& file) {
  ::chmod(file.c_str(), 0644);
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "#", 1, 10), 1);
  ::close(fd);
}

// --- the CLI -------------------------------------------------------------------------

// kWalKept: the registry as modeld leaves it (its -wal and -shm files kept).
// kWalGone: as an older modeld left it (no -wal, no -shm): SQLite cannot even map its
// index on the full disk, so the registry opens read-only until rm or gc frees space.
enum class Wal { kKept, kGone };

class FullDiskCliTest : public ::testing::TestWithParam<Wal> {
 protected:
  json Json(std::vector<std::string> args, int want_rc = 0, std::string* err_out = nullptr) {
    return RunModeldJson(std::move(args), data_, dir_.path(), want_rc, err_out);
  }

  TestOrigin origin_;
  ScratchDir dir_;
  Tmpfs tmpfs_{dir_ / "mnt", 8 * kMiB};
  fs::path data_ = dir_ / "mnt" / "data";
};

TEST_P(FullDiskCliTest, EveryStoreCommandWorksAndRmFreesSpace) {
  MOUNT_OR_SKIP(tmpfs_);
  std::string a = RandomBytes(kMiB, 1), b = RandomBytes(768 * kKiB, 2);
  origin_.Put("/a.bin", {.content = a});
  origin_.Put("/b.bin", {.content = b});
  Json({"pull", "-q", origin_.Url("/a.bin"), "--name", "a:v1"});
  Json({"pull", "-q", origin_.Url("/b.bin"), "--name", "b:v1"});
  Json({"pull", "-q", origin_.Url("/b.bin"), "--name", "bcopy:v1"});  // shares b's blob
  if (GetParam() == Wal::kGone) {
    fs::remove(data_ / "registry.sqlite-wal");
    fs::remove(data_ / "registry.sqlite-shm");
  }
  Corrupt(data_ / "models" / "b" / "v1" / "b.bin");
  Fill(dir_ / "mnt");

  auto ls = Json({"ls"});
  ASSERT_EQ(ls["models"].size(), 3u) << ls.dump();
  EXPECT_EQ(Json({"info", "a:v1"})["files"][0]["sha256"], Sha256Hex(a));
  EXPECT_EQ(Json({"cache"})["free_bytes"], 0);
  // verify finds b broken and says so, whether or not it can record it.
  std::string err;
  auto v = Json({"verify"}, 5, &err);
  ASSERT_EQ(v["models"].size(), 3u);
  EXPECT_EQ(v["models"][0]["ok"], true);   // a
  EXPECT_EQ(v["models"][1]["ok"], false);  // b
  if (GetParam() == Wal::kGone) {
    EXPECT_NE(err.find("could not be recorded"), std::string::npos) << err;
  } else {
    // The WAL kept its blocks: even the statuses are recorded.
    EXPECT_EQ(Json({"ls"})["models"][1]["status"], "broken");
  }
  EXPECT_EQ(Json({"gc"})["blobs_removed"], 0);
  if (GetParam() == Wal::kKept) {
    // A removal that frees no blob (b still uses it) still fits in the WAL's blocks.
    EXPECT_EQ(Json({"rm", "bcopy:v1"})["removed"], json::array({"bcopy:v1"}));
  }
  EXPECT_EQ(FreeBytes(dir_ / "mnt"), 0u);

  EXPECT_EQ(Json({"rm", "a:v1"})["removed"], json::array({"a:v1"}));
  EXPECT_GE(FreeBytes(dir_ / "mnt"), 900 * kKiB)
      << "rm freed a's blob (the registry took a few pages)";
  EXPECT_FALSE(fs::exists(data_ / "models" / "a" / "v1"));
  if (GetParam() == Wal::kGone) Json({"rm", "bcopy:v1"});
  ls = Json({"ls"});
  ASSERT_EQ(ls["models"].size(), 1u) << ls.dump();
  EXPECT_EQ(ls["models"][0]["name"], "b");
  EXPECT_EQ(Json({"verify"}, 5)["ok"], false);
  EXPECT_EQ(Json({"ls"})["models"][0]["status"], "broken") << "recorded now there is room";
  EXPECT_TRUE(fs::is_empty(data_ / "removing"));
  // And the store is whole: the freed space takes a pull again.
  std::string c = RandomBytes(64 * kKiB, 9);
  origin_.Put("/c.bin", {.content = c});
  Json({"pull", "-q", origin_.Url("/c.bin"), "--name", "c:v1"});
  EXPECT_EQ(FileSha256(data_ / "models" / "c" / "v1" / "c.bin"), Sha256Hex(c));
}

INSTANTIATE_TEST_SUITE_P(Wal, FullDiskCliTest, ::testing::Values(Wal::kKept, Wal::kGone),
                         [](const auto& p) { return p.param == Wal::kKept ? "Kept" : "Gone"; });

// --- the server ----------------------------------------------------------------------

class FullDiskServerTest : public ServerHarness, public ::testing::WithParamInterface<Wal> {
 protected:
  void SetUp() override {
    MOUNT_OR_SKIP(tmpfs_);
    Start();
  }
  json Body(const std::string& name, const std::string& path, const std::string& data) {
    return {{"model_name", name},
            {"version", "v1"},
            {"download_url", origin_.Url(path)},
            {"checksum", "sha256:" + Sha256Hex(data)},
            {"wait", true}};
  }
  // Stops the server, fills the disk (leaving |leave| bytes) and starts it again.
  void RestartOnAFullDisk(uint64_t leave = 0) {
    Stop();
    if (GetParam() == Wal::kGone) {
      fs::remove(dir_ / "data" / "registry.sqlite-wal");
      fs::remove(dir_ / "data" / "registry.sqlite-shm");
    }
    Fill(dir_ / "data", leave);
    Start();
  }

  TestOrigin origin_;
  Tmpfs tmpfs_{dir_ / "data", 12 * kMiB};
};

TEST_P(FullDiskServerTest, StartsListsAndDeleteFreesSpace) {
  std::string a = RandomBytes(2 * kMiB, 3), b = RandomBytes(kMiB, 4);
  origin_.Put("/a.bin", {.content = a});
  origin_.Put("/b.bin", {.content = b});
  ASSERT_EQ(Post(Body("a", "/a.bin", a)).first, 200);
  ASSERT_EQ(Post(Body("b", "/b.bin", b)).first, 200);

  RestartOnAFullDisk();
  ASSERT_TRUE(server_);
  Status full = service::CheckDiskFull(models_->StoreForTest());
  EXPECT_EQ(full.code(), Status::Code::kNoSpace);
  EXPECT_NE(full.message().find("downloads will fail until space is freed"), std::string::npos)
      << full.message();
  auto [lc, list] = Get("/models");
  ASSERT_EQ(lc, 200) << list.dump();
  EXPECT_EQ(list["models"].size(), 2u);
  EXPECT_EQ(Get("/models/a").first, 200);
  EXPECT_EQ(Get("/cache").first, 200);

  auto del = HttpCall("DELETE", base_ + "/models/a?version=v1");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_GE(FreeBytes(dir_ / "data"), 1900 * kKiB) << "a's blob, less a few pages of registry";
  EXPECT_TRUE(service::CheckDiskFull(models_->StoreForTest()).ok());
  auto [lc2, list2] = Get("/models");
  ASSERT_EQ(list2["models"].size(), 1u) << list2.dump();
  EXPECT_EQ(list2["models"][0]["name"], "b");
  // Writable again: a download goes through.
  std::string c = RandomBytes(64 * kKiB, 9);
  origin_.Put("/c.bin", {.content = c});
  auto [pc, pulled] = Post(Body("c", "/c.bin", c));
  EXPECT_EQ(pc, 200) << pulled.dump();
}

// A model whose blob is still in blobs/ (another model uses it) is removed, then pulled
// again on a nearly full disk: nothing is downloaded, so nothing is refused.
TEST_P(FullDiskServerTest, APullWhoseBlobIsInTheStoreNeedsNoSpace) {
  std::string w = RandomBytes(3 * kMiB, 5);
  origin_.Put("/w.bin", {.content = w});
  ASSERT_EQ(Post(Body("w", "/w.bin", w)).first, 200);
  ASSERT_EQ(Post(Body("wcopy", "/w.bin", w)).first, 200);
  ASSERT_EQ(HttpCall("DELETE", base_ + "/models/w?version=v1").status, 200);
  // Requests, not bytes: the origin counts a body's bytes after its writes return.
  size_t before = origin_.Requests("/w.bin").size();

  RestartOnAFullDisk(256 * kKiB);
  auto [code, j] = Post(Body("w", "/w.bin", w));
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(j["status"], "completed");
  auto requests = origin_.Requests("/w.bin");
  for (size_t k = before; k < requests.size(); ++k) {
    EXPECT_EQ(requests[k].range, "bytes=0-0") << "only size probes: nothing downloaded";
  }
  EXPECT_EQ(FileSha256(dir_ / "data" / "models" / "w" / "v1" / "w.bin"), Sha256Hex(w));
}

INSTANTIATE_TEST_SUITE_P(Wal, FullDiskServerTest, ::testing::Values(Wal::kKept, Wal::kGone),
                         [](const auto& p) { return p.param == Wal::kKept ? "Kept" : "Gone"; });

// `modeld serve` itself: starts on a full disk, says so, and answers.
class FullDiskServeTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  Tmpfs tmpfs_{dir_ / "mnt", 4 * kMiB};
  fs::path data_ = dir_ / "mnt" / "data";
};

TEST_F(FullDiskServeTest, ServeStartsAndSaysTheDiskIsFull) {
  MOUNT_OR_SKIP(tmpfs_);
  {
    TestOrigin origin;
    std::string m = RandomBytes(kMiB, 6);
    origin.Put("/m.bin", {.content = m});
    ASSERT_EQ(RunModeld({"--data-dir", data_.string(), "pull", "-q", origin.Url("/m.bin"), "--name",
                         "m:v1"},
                        dir_.path()),
              0);
  }
  Fill(dir_ / "mnt");
  // stderr through a pipe, read line by line until the server says where it listens.
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {ModeldBin(), "--data-dir", data_.string(),
                                   "serve",     "--listen",   "127.0.0.1:0"};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  FILE* err = ::fdopen(pipefd[0], "r");
  std::string said, port;
  char line[2048];
  while (std::fgets(line, sizeof line, err)) {
    said += line;
    const char* at = std::strstr(line, "listening on 127.0.0.1:");
    if (at) {
      port = std::to_string(std::atoi(at + std::strlen("listening on 127.0.0.1:")));
      break;
    }
  }
  EXPECT_NE(said.find("is full"), std::string::npos) << said;
  EXPECT_NE(said.find("downloads will fail until space is freed"), std::string::npos) << said;
  ASSERT_FALSE(port.empty()) << "modeld serve did not start: " << said;
  auto list = HttpCall("GET", "http://127.0.0.1:" + port + "/models");
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"m\""), std::string::npos) << list.body;
  auto del = HttpCall("DELETE", "http://127.0.0.1:" + port + "/models/m?version=v1");
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_GE(FreeBytes(dir_ / "mnt"), 900 * kKiB);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::fclose(err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// A pull killed mid-download keeps its partial file, which the engine reserved in full:
// the retry needs no more space than that, and is not refused on a nearly full disk.
class FullDiskResumeTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  Tmpfs tmpfs_{dir_ / "mnt", 16 * kMiB};
};

TEST_F(FullDiskResumeTest, AResumedPullCountsItsPartialDownload) {
  MOUNT_OR_SKIP(tmpfs_);
  fs::path data = dir_ / "mnt" / "data";
  TestOrigin origin;
  std::string w = RandomBytes(8 * kMiB, 7);
  origin.Put("/w.bin", {.content = w, .rate = 2 * kMiB});
  std::vector<std::string> cmd = {
      "--data-dir", data.string(), "pull",   "-q",  origin.Url("/w.bin"),
      "--sha256",   Sha256Hex(w),  "--name", "w:v1"};
  {
    Child c(cmd, dir_.path());
    ASSERT_TRUE(origin.WaitForBodyBytes("/w.bin", 2 * kMiB));
    c.Signal(SIGKILL);
    EXPECT_EQ(c.Wait(), 128 + SIGKILL);
  }
  origin.Update("/w.bin", [](FileSpec& f) { f.rate = 0; });
  Fill(dir_ / "mnt", 256 * kKiB);
  std::string err;
  ASSERT_EQ(RunModeld(cmd, dir_.path(), nullptr, &err), 0) << err;
  EXPECT_EQ(FileSha256(data / "models" / "w" / "v1" / "w.bin"), Sha256Hex(w));
}

// --- BytesToFetch, without a tmpfs ---------------------------------------------------

TEST(BytesToFetchTest, BlobsWeHaveAndPartialDownloadsCostNothing) {
  ScratchDir dir;
  auto store = OpenTestStore(dir.path());
  ASSERT_TRUE(store);
  std::string have = "bytes we have";
  fs::path tmp = dir / "have";
  std::ofstream(tmp, std::ios::binary) << have;
  ASSERT_TRUE(store->AdoptBlob(tmp, Sha256Hex(have)).ok());

  service::PullRequest req;
  req.ref = {"m", "v1"};
  sources::Plan plan;
  sources::PlannedFile f1, f2, f3, f4;
  f1.path = "have.bin";
  f1.size = have.size();
  f1.sha256 = Sha256Hex(have);
  f2.path = "new.bin";
  f2.size = 100 * kKiB;
  f3.path = "partial.bin";
  f3.size = 64 * kKiB;
  f4.path = "unknown.bin";
  plan.files = {f1, f2, f3, f4};
  EXPECT_EQ(service::BytesToFetch(*store, req, plan), 164 * kKiB);
  // A partial download reserved in full (as the engine does) counts as done.
  fs::path part = service::PullPartialPath(*store, req.ref, "partial.bin");
  part += ".part";
  fs::create_directories(part.parent_path());
  int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::posix_fallocate(fd, 0, 64 * kKiB), 0);
  ::close(fd);
  EXPECT_EQ(service::BytesToFetch(*store, req, plan), 100 * kKiB);
}

}  // namespace
}  // namespace modeld::testing
