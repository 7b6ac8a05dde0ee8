#include "core/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

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

}  // namespace
}  // namespace modeld
