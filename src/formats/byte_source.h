// Bounded reading of model files from the internet: one parser, two sources (a file read
// with pread, or bytes in memory for tests and fuzzing), and a cursor that never reads or
// allocates past the end of its source.
//
// Every length a file claims is checked against the bytes it has left before anything is
// allocated for it, so a header claiming 2^60 entries or a string longer than the file is
// a Corrupt status naming the file and the offset, never a huge allocation.
//
// Thread safety: a ByteSource is immutable after construction and its ReadAt may be called
// from several threads at once; a ByteReader is one thread's cursor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/fs.h"
#include "core/status.h"

namespace modeld::formats {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // The name errors use: the file's path, or what the bytes are.
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Copies exactly |n| bytes at |offset| into |out|. REQUIRES: offset + n <= size().
  // IoError when the file cannot be read (or shrank under us).
  virtual Status ReadAt(uint64_t offset, char* out, size_t n) const = 0;
};

// Bytes in memory, not owned: |bytes| must outlive the source.
class MemorySource : public ByteSource {
 public:
  MemorySource(std::string_view bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return bytes_.size(); }
  Status ReadAt(uint64_t offset, char* out, size_t n) const override;

 private:
  std::string_view bytes_;
  std::string name_;
};

// A regular file, read with pread; its size is taken once, at Open.
class FileSource : public ByteSource {
 public:
  // NotFound, PermissionDenied or IoError (ErrnoStatus) naming |path|; InvalidArgument when
  // |path| is not a regular file.
  static Result<std::unique_ptr<FileSource>> Open(const std::filesystem::path& path);
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, char* out, size_t n) const override;

 private:
  FileSource(UniqueFd fd, uint64_t size, std::string name)
      : fd_(std::move(fd)), size_(size), name_(std::move(name)) {}
  UniqueFd fd_;
  uint64_t size_;
  std::string name_;
};

// A forward cursor over a source, buffered (at most 64 KiB, never more than the source's
// size) so that a vocabulary of 150,000 strings is not 300,000 system calls. Every Read
// names |what| it was reading in its error: "<name>: truncated at offset 120 reading the
// key of key/value 3 (needs 8 bytes, 4 left)".
class ByteReader {
 public:
  explicit ByteReader(const ByteSource& source);

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return source_.size() - offset_; }
  const ByteSource& source() const { return source_; }

  // Corrupt when fewer than |n| bytes are left; IoError from the source.
  Status Read(char* out, size_t n, std::string_view what);
  Status ReadU32(uint32_t* out, std::string_view what);
  Status ReadU64(uint64_t* out, std::string_view what);
  // A little-endian u64 length, then that many bytes (checked against what is left before
  // anything is allocated).
  Status ReadString(std::string* out, std::string_view what);

  // "<name>: <message> (at offset <offset>)": the Corrupt status every parser returns.
  Status Corrupt(std::string_view message) const;

 private:
  const ByteSource& source_;
  uint64_t offset_ = 0;
  std::string buffer_;         // bytes [buffer_start_, buffer_start_ + buffer_.size())
  uint64_t buffer_start_ = 0;  // of the source
};

// Little-endian decoding of a fixed-size integer from |p|.
template <typename T>
T LoadLittleEndian(const char* p) {
  std::make_unsigned_t<T> v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<std::make_unsigned_t<T>>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return static_cast<T>(v);
}

}  // namespace modeld::formats
