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
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

struct archive;  // libarchive's
struct archive_entry;

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

// The checks each entry passes before a byte of it is written, in the order the archive
// lists them (Extract applies them; fuzz/archive_fuzz.cc drives them over archives read
// from memory). Pure: it touches no file. The size and entry-count limits are Extract's.
//
// Thread safety: one checker per archive, used by one thread at a time.
class EntryChecker {
 public:
  enum class Type { kDirectory, kFile, kSymlink, kOther };  // kOther: devices, FIFOs, sockets
  struct Entry {
    std::string_view name;  // the path as the archive spells it
    Type type = Type::kFile;
    const char* hardlink = nullptr;  // set when the entry is a hard link to this path
    const char* symlink = nullptr;   // a symbolic link's target (may be null)

    // The entry as libarchive read it; borrows |entry|'s strings.
    static Entry From(struct archive_entry* entry);
  };
  // What to do with an accepted entry. |path| is normalised ('/'-separated, no "." or
  // empty segments) and passes ValidateRelativePath; a link's |target| is the
  // normalised path inside the archive it names.
  struct Action {
    enum class Kind { kSkip, kDirectory, kFile, kLink };  // kSkip: the archive's root "./"
    Kind kind = Kind::kSkip;
    std::string path;
    std::string target;
  };

  // |label| names the archive in errors: "archive 'm.zip'".
  explicit EntryChecker(std::string label) : label_(std::move(label)) {}

  // InvalidArgument naming the entry when it is refused: no name, an absolute path, a
  // '..' component, a bad name, the same path twice, a path under or over a file or link
  // of the archive, a link leading outside, a device, FIFO or socket.
  Result<Action> Check(const Entry& entry);

  // Once every entry is checked: each link (its path) with the file it leads to, links
  // followed up to 40 deep. |files| are the kFile paths written. InvalidArgument when a
  // link does not lead to one of them.
  Result<std::vector<std::pair<std::string, std::string>>> ResolveLinks(
      const std::set<std::string>& files) const;

 private:
  Status Refuse(std::string_view name, const std::string& why) const;

  struct Link {
    std::string path, target, name;
  };
  std::string label_;
  std::set<std::string> seen_;  // every file and link path so far
  std::vector<Link> links_;
};

// A libarchive reader for exactly the formats and filters Extract reads (the fuzz target
// reads archives from memory with it). The caller frees it with archive_read_free.
struct archive* NewArchiveReader();

// Extracts |archive| into |dest| (created; must not exist). Links inside the archive
// come back as further files sharing their target's disk_path and digest.
// InvalidArgument names the refused entry; Corrupt for a damaged archive; NoSpace when
// past |limits|. On failure |dest| is removed.
Result<std::vector<ExtractedFile>> Extract(const std::filesystem::path& archive,
                                           const std::filesystem::path& dest, const Limits& limits);

}  // namespace modeld::archive
