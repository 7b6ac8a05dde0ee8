// Downloads keep the machine usable (issue 17): a finished file's pages are dropped from
// the page cache (DownloadRequest::drop_cache), so a large download does not push other
// programs' memory out; kept when the request says the file is about to be read.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <vector>

#include "engine/engine.h"
#include "engine_harness.h"
#include "origin.h"

namespace modeld::testing {
namespace {

// Bytes of |p| in the page cache (mincore over a mapping, which faults nothing in).
uint64_t ResidentBytes(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  ::fstat(fd, &st);
  size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return 0;
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((size + page - 1) / page);
  uint64_t resident = 0;
  if (::mincore(map, size, vec.data()) == 0) {
    for (unsigned char v : vec) resident += (v & 1) ? page : 0;
  }
  ::munmap(map, size);
  return resident;
}

TEST(PageCacheTest, FinishedDownloadLeavesLittleInThePageCacheUnlessKept) {
  TestOrigin origin;
  ScratchDir dir;
  struct statfs fs {};
  if (::statfs(dir.path().c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    GTEST_SKIP() << "the scratch dir is on tmpfs, where the page cache is the file";
  }
  std::string data = RandomBytes(64 * kMiB, 31);
  origin.Put("/m", {.content = data});
  for (bool drop : {true, false}) {
    engine::DownloadRequest req;
    req.url = origin.Url("/m");
    req.dest = dir / (drop ? "dropped.bin" : "kept.bin");
    req.checksum = Checksum{HashAlgorithm::kSha256, Sha256Hex(data)};
    req.drop_cache = drop;
    auto ev = Download(req);
    ASSERT_EQ(ev.stage, engine::Stage::kCompleted) << ev.status.ToString();
    uint64_t resident = ResidentBytes(req.dest);  // before anything reads the file
    if (drop) {
      EXPECT_LT(resident, data.size() / 16) << "dropped once written back and installed";
    } else {
      EXPECT_GT(resident, data.size() / 2) << "kept: the file is about to be read";
    }
    EXPECT_EQ(FileSha256(req.dest), Sha256Hex(data));
  }
}

}  // namespace
}  // namespace modeld::testing
