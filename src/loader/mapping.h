// MappedModel: the files of one model mapped read-only (PROT_READ, MAP_SHARED) and faulted
// in, the way an inference runtime (llama.cpp) maps them, so that a runtime mapping the same
// files finds every page in the page cache. Internal to the loader (loader.h is the API).
//
// Ownership: a MappedModel owns its mappings; destroying it unmaps them (which also
// unlocks what mlock locked). Map() cleans up after itself: when it fails or is cancelled,
// nothing it mapped stays mapped.
//
// Thread safety: Map() runs on the calling thread (it is the slow part: it reads the files
// from disk when the page cache does not hold them). A built MappedModel is immutable: its
// const methods may be called from any thread at once, and it may be destroyed on any
// thread once no one else uses it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "core/status.h"

namespace modeld::loader {

// How pages are faulted in (bench/load.sh compares them; docs/loader.md has the figures).
enum class Populate {
  // madvise(MADV_WILLNEED) on each file (asynchronous readahead of all of it), then
  // madvise(MADV_POPULATE_READ) chunk by chunk: one system call per chunk maps every page.
  // Falls back to kTouch on kernels older than 5.14 (EINVAL).
  kPopulateRead,
  // mmap(MAP_POPULATE): one system call per file; cancellation is checked between files only.
  kMapPopulate,
  // madvise(MADV_WILLNEED), then a read of one byte of every page (a fault per page).
  kTouch,
};

// "model 'KEY'": how the loader's errors name a model.
std::string Quoted(std::string_view key);

// One file to map, opened and checked against the size the store expects.
struct OpenFile {
  std::string path;
  uint64_t size = 0;
  UniqueFd fd;
  // The file opened, as stat() names it: a path that later names another file (or none)
  // no longer holds what was mapped.
  dev_t dev = 0;
  ino_t ino = 0;
};

// Opens |path| read-only and checks that it is a regular file of |size| bytes. Errors name
// the model |key| and the file: NotFound (reason::kModelFileMissing), Corrupt
// (reason::kModelFileSize), or the errno's Status.
Result<OpenFile> OpenModelFile(std::string_view key, const std::string& path, uint64_t size);

struct MapOptions {
  Populate populate = Populate::kPopulateRead;
  // Pages are faulted in this many bytes at a time; |cancel| is checked between chunks.
  uint64_t chunk_bytes = 64ull << 20;
  // When set and true, Map() stops at the next chunk and returns Cancelled.
  const std::atomic<bool>* cancel = nullptr;
  // Called on the mapping thread after each chunk with the bytes faulted in so far (tests).
  std::function<void(uint64_t)> on_chunk;
};

class MappedModel {
 public:
  // Maps every file of |files| (model |key|), faults every page in and, when |mlock|, locks
  // them. Errors: Cancelled, FailedPrecondition (reason::kMemlockLimit), IoError.
  static Result<std::unique_ptr<MappedModel>> Map(std::string_view key, std::vector<OpenFile> files,
                                                  bool mlock, const MapOptions& options);
  ~MappedModel();
  MappedModel(const MappedModel&) = delete;
  MappedModel& operator=(const MappedModel&) = delete;

  uint64_t bytes() const { return bytes_; }
  // The bytes of the mappings resident in memory now (mincore).
  uint64_t ResidentBytes() const;
  // mlocks every mapping (for a model loaded without mlock and asked again with it).
  // Idempotent. Errors as Map()'s.
  Status Lock(std::string_view key) const;
  // The path of the first file whose path now names another file or none (it was removed
  // or replaced: what is mapped is no longer the model's), or "" when every one is there.
  // One stat() per file.
  std::string ReplacedFile() const;

 private:
  struct Region {
    std::string path;
    void* addr = nullptr;  // nullptr for an empty file (nothing to map)
    size_t len = 0;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  MappedModel() = default;

  std::vector<Region> regions_;
  uint64_t bytes_ = 0;
};

}  // namespace modeld::loader
