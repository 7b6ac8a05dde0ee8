// Small POSIX file-system helpers that return Status (leveldb's PosixError style).
//
// Thread safety: all functions are stateless and safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace modeld {

// Maps an errno value to a Status: ENOENT -> NotFound, ENOSPC/EDQUOT -> NoSpace,
// EACCES/EPERM -> PermissionDenied, anything else -> IoError. The message is
// "<context>: <strerror>".
Status ErrnoStatus(std::string_view context, int err);

// fsyncs the directory |dir| so that a rename or create inside it is durable.
Status FsyncDir(const std::filesystem::path& dir);

// Bytes available to an unprivileged user on the file system holding |path| (or its
// nearest existing parent).
Result<uint64_t> AvailableBytes(const std::filesystem::path& path);

// "1.5 GiB", "512 B".
std::string HumanBytes(uint64_t bytes);

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Writes all of |data| at |offset|, retrying short writes and EINTR.
Status PwriteAll(int fd, const void* data, size_t size, uint64_t offset);

// The process holding a flock() on |path| (Linux: from /proc/locks, matched by device
// and inode), for "waiting for another modeld (pid N)". nullopt when none is listed or
// /proc/locks cannot be read. Blocked waiters are not holders.
std::optional<int> FlockHolder(const std::filesystem::path& path);
// The parser behind it: the pid of the first FLOCK line of |proc_locks| (the text of
// /proc/locks) on device |major|:|minor|, inode |inode|.
std::optional<int> FindFlockHolder(std::string_view proc_locks, unsigned major, unsigned minor,
                                   uint64_t inode);

}  // namespace modeld
