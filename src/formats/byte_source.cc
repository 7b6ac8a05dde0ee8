#include "formats/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace modeld::formats {

namespace {
constexpr size_t kBufferBytes = 64 * 1024;
}  // namespace

Status MemorySource::ReadAt(uint64_t offset, char* out, size_t n) const {
  if (offset > bytes_.size() || n > bytes_.size() - offset) {
    return Status::Internal(name_ + ": read past the end");
  }
  if (n > 0) std::memcpy(out, bytes_.data() + offset, n);
  return Status::OK();
}

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat " + path.string(), errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path.string() + " is not a file");
  return std::unique_ptr<FileSource>(
      new FileSource(std::move(fd), static_cast<uint64_t>(st.st_size), path.string()));
}

Status FileSource::ReadAt(uint64_t offset, char* out, size_t n) const {
  if (offset > size_ || n > size_ - offset) return Status::Internal(name_ + ": read past the end");
  while (n > 0) {
    ssize_t got = ::pread(fd_.get(), out, n, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + name_, errno);
    }
    if (got == 0) return Status::IoError(name_ + ": the file shrank while it was read");
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return Status::OK();
}

ByteReader::ByteReader(const ByteSource& source) : source_(source) {}

Status ByteReader::Corrupt(std::string_view message) const {
  return Status::Corrupt(source_.name() + ": " + std::string(message) + " (at offset " +
                         std::to_string(offset_) + ")");
}

Status ByteReader::Read(char* out, size_t n, std::string_view what) {
  if (n > remaining()) {
    return Corrupt("truncated reading " + std::string(what) + " (needs " + std::to_string(n) +
                   " bytes, " + std::to_string(remaining()) + " left)");
  }
  while (n > 0) {
    uint64_t buffer_end = buffer_start_ + buffer_.size();
    if (offset_ >= buffer_start_ && offset_ < buffer_end) {
      size_t take = std::min<uint64_t>(n, buffer_end - offset_);
      std::memcpy(out, buffer_.data() + (offset_ - buffer_start_), take);
      out += take;
      n -= take;
      offset_ += take;
      continue;
    }
    if (n >= kBufferBytes) {  // a large read goes straight to the caller's memory
      if (Status s = source_.ReadAt(offset_, out, n); !s.ok()) return s;
      offset_ += n;
      return Status::OK();
    }
    size_t fill = std::min<uint64_t>(kBufferBytes, remaining());
    buffer_.resize(fill);
    if (Status s = source_.ReadAt(offset_, buffer_.data(), fill); !s.ok()) {
      buffer_.clear();
      return s;
    }
    buffer_start_ = offset_;
  }
  return Status::OK();
}

Status ByteReader::ReadU32(uint32_t* out, std::string_view what) {
  char b[4];
  if (Status s = Read(b, sizeof b, what); !s.ok()) return s;
  *out = LoadLittleEndian<uint32_t>(b);
  return Status::OK();
}

Status ByteReader::ReadU64(uint64_t* out, std::string_view what) {
  char b[8];
  if (Status s = Read(b, sizeof b, what); !s.ok()) return s;
  *out = LoadLittleEndian<uint64_t>(b);
  return Status::OK();
}

Status ByteReader::ReadString(std::string* out, std::string_view what) {
  uint64_t n = 0;
  if (Status s = ReadU64(&n, std::string("the length of ") + std::string(what)); !s.ok()) return s;
  if (n > remaining()) {
    return Corrupt(std::string(what) + " claims " + std::to_string(n) + " bytes, more than the " +
                   std::to_string(remaining()) + " left in the file");
  }
  out->resize(n);
  return Read(out->data(), n, what);
}

}  // namespace modeld::formats
