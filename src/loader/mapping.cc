#include "loader/mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "core/error_reasons.h"

namespace modeld::loader {
namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// The typed error for an mlock refused by RLIMIT_MEMLOCK, or the errno's Status for any
// other mlock failure.
Status MlockStatus(std::string_view key, uint64_t required, int err) {
  rlimit lim{};
  if ((err == ENOMEM || err == EPERM) && getrlimit(RLIMIT_MEMLOCK, &lim) == 0 &&
      lim.rlim_cur != RLIM_INFINITY) {
    std::string limit = std::to_string(lim.rlim_cur);
    return Status::FailedPrecondition(
               "cannot lock " + Quoted(key) + " in memory: it needs " + HumanBytes(required) +
               " (" + std::to_string(required) + " bytes) but RLIMIT_MEMLOCK allows " +
               HumanBytes(lim.rlim_cur) + " (" + limit +
               " bytes); raise it with `ulimit -l unlimited` in the shell that starts modeld, "
               "or LimitMEMLOCK=infinity in its systemd unit, or load without mlock")
        .WithInfo({reason::kMemlockLimit,
                   {{"model", std::string(key)},
                    {"required", std::to_string(required)},
                    {"limit", limit}}});
  }
  return ErrnoStatus("mlock of " + Quoted(key), err);
}

// Faults in [addr, addr + len) chunk by chunk, adding each chunk to |done|. Cancelled when
// |options.cancel| stopped it.
Status Fault(std::string_view key, const std::string& path, char* addr, size_t len,
             const MapOptions& options, uint64_t* done) {
  Populate how = options.populate;
  if (how != Populate::kMapPopulate) {
    // Readahead of the whole file at once: the disk streams while the chunks below map it.
    (void)madvise(addr, len, MADV_WILLNEED);
  }
  const size_t chunk = std::max<size_t>(PageSize(), options.chunk_bytes / PageSize() * PageSize());
  for (size_t off = 0; off < len; off += chunk) {
    if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) {
      return Status::Cancelled("loading " + Quoted(key) + " was cancelled (unloaded)");
    }
    size_t n = std::min(chunk, len - off);
    if (how == Populate::kPopulateRead) {
      if (madvise(addr + off, n, MADV_POPULATE_READ) != 0) {
        if (errno != EINVAL) return ErrnoStatus("reading " + path + " into memory", errno);
        how = Populate::kTouch;  // a kernel before 5.14
      }
    }
    if (how == Populate::kTouch) {
      const volatile char* p = addr + off;
      char sink = 0;
      for (size_t i = 0; i < n; i += PageSize()) sink ^= p[i];
      (void)sink;
    }
    *done += n;
    if (options.on_chunk) options.on_chunk(*done);
  }
  return Status::OK();
}

}  // namespace

std::string Quoted(std::string_view key) { return "model '" + std::string(key) + "'"; }

Result<OpenFile> OpenModelFile(std::string_view key, const std::string& path, uint64_t size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return Status::NotFound("file " + path + " of " + Quoted(key) + " is missing")
          .WithInfo({reason::kModelFileMissing, {{"model", std::string(key)}, {"path", path}}});
    }
    return ErrnoStatus("opening " + path + " of " + Quoted(key), err);
  }
  OpenFile file{path, size, UniqueFd(fd)};
  struct stat st {};
  if (fstat(fd, &st) != 0) return ErrnoStatus("stat of " + path, errno);
  file.dev = st.st_dev;
  file.ino = st.st_ino;
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("file " + path + " of " + Quoted(key) +
                                   " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) != size) {
    std::string actual = std::to_string(st.st_size);
    return Status::Corrupt("file " + path + " of " + Quoted(key) + " has " + actual +
                           " bytes, not the " + std::to_string(size) + " it was installed with")
        .WithInfo({reason::kModelFileSize,
                   {{"model", std::string(key)},
                    {"path", path},
                    {"expected", std::to_string(size)},
                    {"actual", actual}}});
  }
  return file;
}

Result<std::unique_ptr<MappedModel>> MappedModel::Map(std::string_view key,
                                                      std::vector<OpenFile> files, bool mlock,
                                                      const MapOptions& options) {
  // Not make_unique: the constructor is private. On any failure below, |model| going out of
  // scope unmaps what was mapped so far.
  std::unique_ptr<MappedModel> model(new MappedModel());
  for (const OpenFile& f : files) model->bytes_ += f.size;
  uint64_t done = 0;
  for (OpenFile& f : files) {
    Region region{f.path, nullptr, static_cast<size_t>(f.size), f.dev, f.ino};
    if (region.len > 0) {
      int flags = MAP_SHARED | (options.populate == Populate::kMapPopulate ? MAP_POPULATE : 0);
      void* addr = mmap(nullptr, region.len, PROT_READ, flags, f.fd.get(), 0);
      if (addr == MAP_FAILED) return ErrnoStatus("mapping " + f.path, errno);
      region.addr = addr;
    }
    model->regions_.push_back(region);
    f.fd.Reset();  // the mapping keeps the file; the descriptor is not needed any more
    if (region.addr == nullptr) continue;
    Status s = Fault(key, f.path, static_cast<char*>(region.addr), region.len, options, &done);
    if (!s.ok()) return s;
  }
  if (mlock) {
    Status s = model->Lock(key);
    if (!s.ok()) return s;
  }
  return model;
}

MappedModel::~MappedModel() {
  for (const Region& r : regions_) {
    if (r.addr != nullptr) (void)munmap(r.addr, r.len);
  }
}

uint64_t MappedModel::ResidentBytes() const {
  const size_t page = PageSize();
  uint64_t resident = 0;
  std::vector<unsigned char> vec;
  for (const Region& r : regions_) {
    if (r.addr == nullptr) continue;
    size_t pages = (r.len + page - 1) / page;
    vec.assign(pages, 0);
    if (mincore(r.addr, r.len, vec.data()) != 0) continue;
    for (size_t i = 0; i < pages; ++i) {
      if (vec[i] & 1) resident += std::min(page, r.len - i * page);
    }
  }
  return resident;
}

std::string MappedModel::ReplacedFile() const {
  for (const Region& r : regions_) {
    struct stat st {};
    if (stat(r.path.c_str(), &st) != 0 || st.st_dev != r.dev || st.st_ino != r.ino) return r.path;
  }
  return "";
}

Status MappedModel::Lock(std::string_view key) const {
  for (const Region& r : regions_) {
    if (r.addr != nullptr && mlock(r.addr, r.len) != 0) {
      int err = errno;
      // Nothing half-locked stays behind: munlock is harmless on pages never locked.
      for (const Region& u : regions_) {
        if (u.addr != nullptr) (void)munlock(u.addr, u.len);
      }
      return MlockStatus(key, bytes_, err);
    }
  }
  return Status::OK();
}

}  // namespace modeld::loader
