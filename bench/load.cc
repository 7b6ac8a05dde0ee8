// One load of a model file through loader::Loader, for bench/load.sh: how long Load took,
// what was resident after it, what the page cache held before it, and how long Unload took
// to return and until the loader's thread had unmapped the file.
//
//   modeld_bench_load FILE [populate-read|map-populate|touch] [mlock]
//
// Prints one line: load_ms resident_bytes cached_before_bytes unload_ms unmapped_ms
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "loader/loader.h"

namespace {

using modeld::loader::Clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The bytes of |path| in the page cache, through a mapping that faults nothing in.
uint64_t CachedBytes(const char* path, uint64_t size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0 || size == 0) return 0;
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return 0;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((size + page - 1) / page);
  uint64_t n = 0;
  if (mincore(p, size, vec.data()) == 0) {
    for (unsigned char c : vec) n += (c & 1) ? page : 0;
  }
  munmap(p, size);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [populate-read|map-populate|touch] [mlock]\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  std::string method = argc > 2 ? argv[2] : "populate-read";
  bool mlock = argc > 3 && std::strcmp(argv[3], "mlock") == 0;
  struct stat st {};
  if (stat(path, &st) != 0) {
    std::perror(path);
    return 1;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);

  modeld::loader::Options options;
  if (method == "map-populate") {
    options.populate = modeld::loader::Populate::kMapPopulate;
  } else if (method == "touch") {
    options.populate = modeld::loader::Populate::kTouch;
  } else if (method != "populate-read") {
    std::fprintf(stderr, "unknown method %s\n", method.c_str());
    return 2;
  }
  options.max_loaded_bytes = size + 1;
  const uint64_t cached_before = CachedBytes(path, size);
  modeld::loader::Loader loader(options);
  modeld::loader::LoadSpec spec;
  spec.key = "bench:1";
  spec.files.push_back({path, size});
  spec.mlock = mlock;
  modeld::Result<modeld::loader::LoadInfo> info = loader.Load(spec);
  if (!info) {
    std::fprintf(stderr, "load: %s\n", info.error().ToString().c_str());
    return 1;
  }
  Clock::time_point t0 = Clock::now();
  loader.Unload(spec.key);
  Clock::duration unload = Clock::now() - t0;
  loader.WaitForTimerForTest();  // the loader's thread has unmapped it
  Clock::duration unmapped = Clock::now() - t0;
  std::printf("%.3f %llu %llu %.3f %.3f\n", Ms(info->load_time),
              static_cast<unsigned long long>(info->resident_bytes),
              static_cast<unsigned long long>(cached_before), Ms(unload), Ms(unmapped));
  return 0;
}
