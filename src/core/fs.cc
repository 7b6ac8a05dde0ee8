#include "core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace modeld {

Status ErrnoStatus(std::string_view context, int err) {
  std::string msg = std::string(context) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(msg);
    case ENOSPC:
    case EDQUOT:
      return Status::NoSpace(msg);
    case EACCES:
    case EPERM:
      return Status::PermissionDenied(msg);
    default:
      return Status::IoError(msg);
  }
}

Status FsyncDir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open " + dir.string(), errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync " + dir.string(), errno);
  return Status::OK();
}

Result<uint64_t> AvailableBytes(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  if (p.empty()) p = ".";
  struct statvfs st {};
  if (::statvfs(p.c_str(), &st) != 0) return ErrnoStatus("statvfs " + p.string(), errno);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 4) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) Reset(o.Release());
  return *this;
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status PwriteAll(int fd, const void* data, size_t size, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

std::optional<int> FindFlockHolder(std::string_view text, unsigned major, unsigned minor,
                                   uint64_t inode) {
  // "3: FLOCK  ADVISORY  WRITE 27371 fe:00:10954315 0 EOF"; a waiter's line has "->"
  // after the number.
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string line(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    char type[16] = {}, mode[16] = {}, access[16] = {};
    int pid = 0;
    unsigned maj = 0, min = 0;
    unsigned long long ino = 0;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const char* rest = line.c_str() + colon + 1;
    if (std::sscanf(rest, " %15s %15s %15s %d %x:%x:%llu", type, mode, access, &pid, &maj, &min,
                    &ino) != 7) {
      continue;  // a waiter ("->") or something else
    }
    if (std::string_view(type) == "FLOCK" && maj == major && min == minor && ino == inode &&
        pid > 0) {
      return pid;
    }
  }
  return std::nullopt;
}

std::optional<int> FlockHolder(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  std::FILE* f = std::fopen("/proc/locks", "re");
  if (!f) return std::nullopt;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return FindFlockHolder(text, major(st.st_dev), minor(st.st_dev), st.st_ino);
}

}  // namespace modeld
