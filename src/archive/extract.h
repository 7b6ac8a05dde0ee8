// Safe archive extraction with libarchive: .zip, .tar, .tar.gz, .tar.zst, .tar.xz (and
// .tar.bz2), each entry checked before a byte of it is written.
//
// Refused, failing the whole archive (nothing is left behind): absolute paths, '..'
// components, symbolic or hard links whose target leaves the directory or is not a file
// of the archive, device files, FIFOs and sockets, and names ValidateRelativePath
// rejects (the one check for paths from outside: '.git' components too). Bounded: the total size
// written (the caller passes at most the free space), the ratio of that to the archive's size (a
// decompression bomb fails once it passes both the ratio and a floor), and the number of entries.
// Sizes are counted as bytes are written, so headers that lie do not help.
//
// Thread safety: stateless; Extract blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace modeld::archive {

// By name: ".zip", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz",
// ".tar.bz2", ".tbz2" (case-insensitive).
bool IsArchive(const std::string& file_name);

struct Limits {
  uint64_t max_total_bytes = uint64_t{256} << 30;
  double max_ratio = 100;                    // extracted bytes per archive byte...
  uint64_t ratio_floor = uint64_t{1} << 30;  // ...once past this many extracted bytes
  uint64_t max_entries = 200000;
};

struct ExtractedFile {
  std::string path;  // inside the destination, '/'-separated
  uint64_t size = 0;
  std::string sha256;
  std::filesystem::path disk_path;  // where its bytes are (a link's target's file)
};

// Extracts |archive| into |dest| (created; must not exist). Links inside the archive
// come back as further files sharing their target's disk_path and digest.
// InvalidArgument names the refused entry; Corrupt for a damaged archive; NoSpace when
// past |limits|. On failure |dest| is removed.
Result<std::vector<ExtractedFile>> Extract(const std::filesystem::path& archive,
                                           const std::filesystem::path& dest, const Limits& limits);

}  // namespace modeld::archive
