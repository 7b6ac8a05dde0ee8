#include "core/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "core/time_format.h"

namespace modeld {
namespace {

TEST(FsTest, ErrnoStatusMapsCodes) {
  EXPECT_EQ(ErrnoStatus("x", ENOENT).code(), Status::Code::kNotFound);
  EXPECT_EQ(ErrnoStatus("x", ENOSPC).code(), Status::Code::kNoSpace);
  EXPECT_EQ(ErrnoStatus("x", EACCES).code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus("x", EIO).code(), Status::Code::kIoError);
  EXPECT_EQ(ErrnoStatus("open f", ENOENT).message(), "open f: No such file or directory");
}

TEST(FsTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(3ull << 30), "3.0 GiB");
}

TEST(FsTest, AvailableBytesWalksUpToAnExistingParent) {
  auto r = AvailableBytes("/tmp/does/not/exist/yet");
  ASSERT_TRUE(r.has_value());
  EXPECT_GT(*r, 0u);
}

TEST(FsTest, PwriteAllWritesAtOffset) {
  char tmpl[] = "/tmp/modeld_fs_XXXXXX";
  UniqueFd fd(::mkstemp(tmpl));
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(PwriteAll(fd.get(), "world", 5, 6).ok());
  ASSERT_TRUE(PwriteAll(fd.get(), "hello ", 6, 0).ok());
  char buf[12] = {};
  ASSERT_EQ(::pread(fd.get(), buf, 11, 0), 11);
  EXPECT_STREQ(buf, "hello world");
  ::unlink(tmpl);
}

TEST(FsTest, FindsTheHolderOfAFlockInProcLocks) {
  const char* text =
      "1: POSIX  ADVISORY  WRITE 111 fe:00:42 0 EOF\n"
      "2: FLOCK  ADVISORY  WRITE 222 fe:01:42 0 EOF\n"
      "2: -> FLOCK  ADVISORY  WRITE 333 fe:00:42 0 EOF\n"
      "3: FLOCK  ADVISORY  WRITE 4242 fe:00:42 0 EOF\n";
  EXPECT_EQ(FindFlockHolder(text, 0xfe, 0, 42), 4242) << "not the POSIX lock, nor a waiter";
  EXPECT_EQ(FindFlockHolder(text, 0xfe, 1, 42), 222);
  EXPECT_EQ(FindFlockHolder(text, 0xfe, 0, 43), std::nullopt);
  EXPECT_EQ(FindFlockHolder("garbage\n\n", 0xfe, 0, 42), std::nullopt);
}

TEST(FsTest, FlockHolderNamesThisProcess) {
  char tmpl[] = "/tmp/modeld_lock_XXXXXX";
  UniqueFd fd(::mkstemp(tmpl));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(FlockHolder(tmpl), std::nullopt);
  ASSERT_EQ(::flock(fd.get(), LOCK_EX), 0);
  EXPECT_EQ(FlockHolder(tmpl), ::getpid());
  ::unlink(tmpl);
  EXPECT_EQ(FlockHolder(tmpl), std::nullopt) << "no such file";
}

TEST(TimeFormatTest, HumanDurations) {
  using std::chrono::milliseconds;
  EXPECT_EQ(HumanDuration(milliseconds(300)), "0.3 s");
  EXPECT_EQ(HumanDuration(milliseconds(2000)), "2 s");
  EXPECT_EQ(HumanDuration(milliseconds(14'250)), "14 s");
  EXPECT_EQ(HumanDuration(milliseconds(90'000)), "1 min 30 s");
  EXPECT_EQ(HumanDuration(milliseconds(120'000)), "2 min");
  EXPECT_EQ(HumanDuration(milliseconds(-5)), "0 s");
}

}  // namespace
}  // namespace modeld
