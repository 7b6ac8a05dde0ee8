// Journal: the crash-safe record of a partial download, kept beside its .part file.
//
// Format (docs/journal.md): the 8-byte magic "MDJRNL1\n", then records, each
// [u32 payload length, little endian][u32 CRC-32 of payload][payload: JSON]. Every record
// is a full snapshot (validators and written ranges); on load the last record whose
// length and CRC check out wins, so a torn final record (kill -9, power loss) costs only
// the progress since the one before it. The file is rewritten (tmp + rename) when it
// grows past a bound.
//
// Two kinds of progress: |written| is durable (the data was synced before the record was
// written), |cached| is only in the page cache of the boot |boot_id| (written by the
// process, not yet synced). A process killed with -9 leaves the page cache intact, so on
// the same boot both count; after a reboot or power loss only |written| does.
//
// Thread safety: a Journal is used by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "core/status.h"
#include "engine/range_set.h"

namespace modeld::engine {

struct JournalState {
  std::string url;
  std::string etag;           // as the server sent it, quotes included
  std::string last_modified;  // as the server sent it
  std::optional<uint64_t> size;
  std::vector<ByteRange> written;  // durable: synced before this record was written
  // Also written, not yet known durable: in the page cache of boot |boot_id| (never
  // overlapping |written|). Counted only while the machine has not restarted since.
  std::vector<ByteRange> cached;
  std::string boot_id;  // /proc/sys/kernel/random/boot_id when |cached| was recorded

  bool operator==(const JournalState&) const = default;
};

uint32_t Crc32(const void* data, size_t size);

// This boot's id (/proc/sys/kernel/random/boot_id), read once; empty when unknown (then
// no |cached| range is ever trusted).
const std::string& CurrentBootId();

class Journal {
 public:
  // Reads the last valid snapshot at |path|. Returns nullopt when the file does not
  // exist or holds no valid record; Corrupt only if the magic is wrong. A record whose
  // CRC checks out but whose JSON is not a journal record is skipped. Never throws.
  // The snapshot's |cached| ranges are moved into |written| when it was recorded on this
  // boot (CurrentBootId), and dropped otherwise: |written| is what the file holds now.
  static Result<std::optional<JournalState>> Load(const std::filesystem::path& path);

  // The same for the bytes of a journal file, named |what| in errors: nullopt for no
  // bytes or no valid record, Corrupt only if the magic is wrong. Pure; never throws.
  static Result<std::optional<JournalState>> Decode(std::string_view bytes, std::string_view what);

  // The bytes of a journal file holding |state| as its one record (what compaction writes).
  static std::string Encode(const JournalState& state);

  // Opens |path| for appending, creating it (with the magic) if it is missing or empty.
  static Result<Journal> Open(const std::filesystem::path& path);

  Journal(Journal&&) = default;
  Journal& operator=(Journal&&) = default;

  // Appends |state| as a new record; with |sync| the record is fdatasync'ed. Without, it
  // survives the process's death (it is in the page cache) but maybe not power loss.
  // Compacts the file to one record once it passes |kCompactBytes| (always synced).
  Status Append(const JournalState& state, bool sync);

  static constexpr uint64_t kCompactBytes = 1 << 20;

 private:
  explicit Journal(std::filesystem::path path, UniqueFd fd, uint64_t size)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}
  Status Compact(const std::string& record, bool sync);

  std::filesystem::path path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

}  // namespace modeld::engine
