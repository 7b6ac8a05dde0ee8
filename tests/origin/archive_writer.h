// Writes archives with libarchive for tests: any entry, including those no sane tool
// makes (absolute paths, '..', links out, devices), in zip or tar (plain, gz, zst, xz).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace modeld::testing {

struct ArchiveItem {
  std::string path;
  std::string data;
  mode_t type = 0100000;  // AE_IFREG; AE_IFDIR 0040000, AE_IFLNK 0120000, AE_IFCHR 0020000
  std::string link;       // symlink target, or hard link target with |hardlink|
  bool hardlink = false;
};

// |kind|: "zip", "tar", "tar.gz", "tar.zst", "tar.xz". Returns "" or libarchive's error.
std::string WriteArchive(const std::filesystem::path& out, const std::vector<ArchiveItem>& items,
                         const std::string& kind);
// The same, in memory (for serving from a TestOrigin).
std::string ArchiveBytes(const std::vector<ArchiveItem>& items, const std::string& kind);

}  // namespace modeld::testing
