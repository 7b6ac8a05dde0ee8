#include "store/file_ops.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "core/checksum.h"
#include "core/fs.h"
#include "core/log.h"
#include "store/paths.h"

namespace modeld::store {

namespace fs = std::filesystem;

std::string RandomHex(size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::vector<unsigned char> bytes((n + 1) / 2);
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    }
  }
  std::string s;
  for (unsigned char b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  s.resize(n);
  return s;
}

Status CreateDirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::IoError("create " + dir.string() + ": " + ec.message());
  }
  return Status::OK();
}

Status LinkOrCopy(const fs::path& target, const fs::path& link, bool symlink_ok) {
  if (::link(target.c_str(), link.c_str()) == 0) {
    return Status::OK();
  }
  int err = errno;
  if (err != EXDEV && err != EPERM && err != EMLINK && err != ENOTSUP) {
    return ErrnoStatus("link " + link.string(), err);
  }
  if (symlink_ok && ::symlink(target.c_str(), link.c_str()) == 0) {
    return Status::OK();
  }
  std::error_code ec;
  fs::copy_file(target, link, ec);
  if (ec) {
    return Status::IoError("copy " + target.string() + " to " + link.string() + ": " +
                           ec.message());
  }
  return Status::OK();
}

std::optional<std::string> ReadRegularFile(const fs::path& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) > max_bytes) {
    return std::nullopt;
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

Status ReplaceSymlink(const fs::path& target, const fs::path& link) {
  fs::path tmp = link.parent_path() / ("." + link.filename().string() + ".tmp" + RandomHex(8));
  if (::symlink(target.c_str(), tmp.c_str()) != 0) {
    return ErrnoStatus("symlink " + tmp.string(), errno);
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("rename " + tmp.string(), err);
  }
  return FsyncDir(link.parent_path());
}

Status WriteFileAtomic(const fs::path& path, const std::string& data) {
  fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp" + RandomHex(8));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return ErrnoStatus("open " + tmp.string(), errno);
  }
  Status s = PwriteAll(fd.get(), data.data(), data.size(), 0);
  if (s.ok() && ::fsync(fd.get()) != 0) {
    s = ErrnoStatus("fsync " + tmp.string(), errno);
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("rename " + tmp.string(), errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
  }
  return s;
}

uint64_t TreeBytes(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      n += it->file_size(ec);
    }
  }
  return n;
}

uint64_t UnsharedBytes(const fs::path& path) {
  auto unshared = [](const fs::path& p) -> uint64_t {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) return 0;
    return static_cast<uint64_t>(st.st_size);
  };
  uint64_t n = unshared(path);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    n += unshared(it->path());
  }
  return n;
}

bool HasBlob(const fs::path& data_dir, const std::string& sha256, uint64_t size) {
  struct stat st {};
  return ::stat(BlobPath(data_dir, sha256).c_str(), &st) == 0 &&
         static_cast<uint64_t>(st.st_size) == size;
}

Status AdoptBlob(const fs::path& data_dir, const fs::path& file, const std::string& sha256,
                 bool replace, bool* moved) {
  if (moved) *moved = false;
  if (sha256.size() != 64) {
    return Status::InvalidArgument("not a sha256: " + sha256);
  }
  fs::path blob = BlobPath(data_dir, sha256);
  struct stat st {};
  if (!replace && ::stat(blob.c_str(), &st) == 0) {
    ::unlink(file.c_str());  // already have it: keep one copy
    return Status::OK();
  }
  ::chmod(file.c_str(), 0444);
  // rename() replaces atomically: a concurrent adopter of the same digest is harmless.
  if (::rename(file.c_str(), blob.c_str()) != 0) {
    return ErrnoStatus("move " + file.string() + " into the blob store", errno);
  }
  if (moved) *moved = true;
  return FsyncDir(blob.parent_path());
}

bool NeedsRelink(const fs::path& foreign, const fs::path& ours) {
  struct stat h {
  }, o{};
  if (::stat(foreign.c_str(), &h) != 0) return true;
  if (::stat(ours.c_str(), &o) != 0) return false;  // nothing to link from: keep what is there
  if (h.st_dev == o.st_dev) return h.st_ino != o.st_ino;
  return h.st_size != o.st_size;
}

Result<std::optional<StagedFile>> StageForeignFile(const fs::path& data_dir, const fs::path& file,
                                                   uint64_t size, const std::string& sha256,
                                                   const std::string& git_sha1,
                                                   const std::string& tag) {
  // One descriptor for the checks, the hash and the link: a symlink, a FIFO, or a file
  // swapped after it was hashed is never what gets adopted.
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != size) {
    return std::optional<StagedFile>();
  }
  Hasher h(HashAlgorithm::kSha256);
  std::optional<Hasher> git;
  if (sha256.empty()) {
    git.emplace(HashAlgorithm::kGitSha1, size);
  }
  std::vector<char> buf(1 << 20);
  ssize_t n;
  while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0) {
    h.Update(buf.data(), static_cast<size_t>(n));
    if (git) {
      git->Update(buf.data(), static_cast<size_t>(n));
    }
  }
  std::string got = h.FinishHex();
  bool ok = n == 0 && (git ? git->FinishHex() == git_sha1 : got == sha256);
  if (!ok) {
    log::Warn("{} does not match its digest; not reusing it", file.string());
    return std::optional<StagedFile>();
  }
  fs::path tmp = BlobTempPath(data_dir, got, tag + RandomHex(8));
  const std::string proc = "/proc/self/fd/" + std::to_string(fd.get());
  if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    // Another file system (or no /proc): a copy of the bytes hashed, from the descriptor.
    UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!out.valid()) return ErrnoStatus("create " + tmp.string(), errno);
    Hasher again(HashAlgorithm::kSha256);
    off_t at = 0;
    while ((n = ::pread(fd.get(), buf.data(), buf.size(), at)) > 0) {
      again.Update(buf.data(), static_cast<size_t>(n));
      if (::write(out.get(), buf.data(), static_cast<size_t>(n)) != n) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return ErrnoStatus("write " + tmp.string(), err);
      }
      at += n;
    }
    if (n < 0 || again.FinishHex() != got) {  // changed while it was copied
      ::unlink(tmp.c_str());
      return std::optional<StagedFile>();
    }
  }
  return std::optional<StagedFile>(StagedFile{tmp, got});
}

}  // namespace modeld::store
