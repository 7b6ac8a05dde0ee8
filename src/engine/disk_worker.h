// DiskWorker: three threads per transfer that keep slow disk work off the engine loop:
// one hashes and publishes, one writes journal records, one syncs the data, so an fsync
// never delays hashing or a checkpoint.
//
// - Hashes the file as its contiguous written prefix grows, reading back what the loop
//   just wrote (from the page cache), so the digest is ready moments after the last byte.
// - Starts write-back of hashed ranges (sync_file_range), so the final fsync is short.
// - With Options::drop_cache, drops the hashed prefix from the page cache (posix_fadvise
//   DONTNEED) after each durable checkpoint's sync has made it clean, and the whole file
//   once it is installed, so a finished download does not push other programs' memory
//   out. Nothing waits for write-back to drop pages.
// - Writes journal checkpoints in two steps (docs/journal.md). At once: a record naming
//   what the process has written as |cached| in this boot, not synced (it survives
//   kill -9, since the page cache does). Then, at most Options::durable_interval later and
//   on destruction: fdatasync of the .part file, then a synced record naming those bytes
//   |written|, so the journal never claims durable bytes that are not on disk.
// - Finishes: waits for the hash to reach the end, fdatasyncs, compares checksums and
//   publishes with rename + directory fsync (or deletes a corrupt partial).
//
// An exception on any thread (a bug, or memory) fails the transfer: Finish reports it
// as Internal instead of the process terminating.
//
// Thread safety: all public methods are safe from any thread. The callback given to
// Finish runs on the worker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "core/checksum.h"
#include "core/mutex.h"
#include "core/status.h"
#include "engine/journal.h"

namespace modeld::engine {

struct FinishResult {
  Status status;
  std::string sha256;  // hex digest of the whole file
};

struct DiskWorkerOptions {
  // Drop hashed ranges from the page cache once written back, and the installed file.
  bool drop_cache = false;
  // A checkpoint is made durable (data synced, record synced) at most this long after it
  // is recorded; 0: at once.
  std::chrono::milliseconds durable_interval{1'000};
};

class DiskWorker {
 public:
  using Options = DiskWorkerOptions;
  // |fd| is the open .part file, owned by the caller and kept open while the worker lives.
  // |expected_size| is needed (and required) for a git-sha1 checksum.
  DiskWorker(int fd, std::filesystem::path part_path, std::filesystem::path journal_path,
             std::optional<Checksum> expected, std::optional<uint64_t> expected_size = std::nullopt,
             Options options = {});
  // Makes the last checkpoint durable, then stops the threads.
  ~DiskWorker();

  // The file is written contiguously from 0 up to |prefix|.
  void SetPrefix(uint64_t prefix) EXCLUDES(mu_);
  // Records |state| (its |written|: every range the process has written) in the journal
  // soon, replacing any record not yet written: as cached in this boot at once, durably
  // within Options::durable_interval. Snapshots only grow until Reset.
  void Checkpoint(JournalState state) EXCLUDES(mu_);
  // The file restarts from empty: drops the hash state, pending checkpoints and the journal.
  void Reset() EXCLUDES(mu_);
  // Once the hash reaches |total|: verify, fsync, rename to |dest|, remove the journal,
  // then call |done| on the worker thread. |installing| is called before the rename.
  void Finish(uint64_t total, std::filesystem::path dest, std::function<void()> installing,
              std::function<void(FinishResult)> done) EXCLUDES(mu_);
  // The transfer is being cancelled: drop pending checkpoints and write no more journal
  // records (the caller deletes the files). Returns at once.
  void Abandon() EXCLUDES(mu_);
  // Bytes hashed so far (for tests and progress).
  uint64_t hashed() const EXCLUDES(mu_);

 private:
  void Run(const char* what, void (DiskWorker::*loop)()) EXCLUDES(mu_);
  void HashLoop() EXCLUDES(mu_);
  void SyncLoop() EXCLUDES(mu_);      // journal records
  void DataSyncLoop() EXCLUDES(mu_);  // fdatasync of the data
  FinishResult Publish(uint64_t total, const std::filesystem::path& dest,
                       const std::function<void()>& installing) EXCLUDES(mu_);

  const int fd_;
  const std::filesystem::path part_path_;
  const std::filesystem::path journal_path_;
  const std::optional<Checksum> expected_;
  const Options options_;

  mutable Mutex mu_;
  CondVar cv_;  // any change below
  uint64_t prefix_ GUARDED_BY(mu_) = 0;
  uint64_t hashed_ GUARDED_BY(mu_) = 0;
  uint64_t generation_ GUARDED_BY(mu_) = 0;  // bumped by Reset
  bool reset_journal_ GUARDED_BY(mu_) = false;
  // The latest snapshot given to Checkpoint, and its sequence number (0: none yet).
  std::optional<JournalState> latest_ GUARDED_BY(mu_);
  uint64_t latest_seq_ GUARDED_BY(mu_) = 0;
  uint64_t recorded_seq_ GUARDED_BY(mu_) = 0;       // the latest snapshot recorded (as cached)
  uint64_t durable_seq_ GUARDED_BY(mu_) = 0;        // the latest snapshot whose data is synced
  std::vector<ByteRange> durable_ GUARDED_BY(mu_);  // its written ranges
  bool durable_record_ GUARDED_BY(mu_) = false;     // a synced record naming durable_ is due
  bool data_busy_ GUARDED_BY(mu_) = false;          // DataSyncLoop is in an fdatasync
  bool data_stopped_ GUARDED_BY(mu_) = false;       // DataSyncLoop has returned
  uint64_t dropped_ GUARDED_BY(mu_) = 0;            // the prefix dropped from the page cache
  bool finish_ GUARDED_BY(mu_) = false;             // Publish requested
  bool finishing_ GUARDED_BY(mu_) = false;          // Finish was called
  bool abandoned_ GUARDED_BY(mu_) = false;          // Abandon was called
  uint64_t finish_total_ GUARDED_BY(mu_) = 0;
  std::filesystem::path finish_dest_ GUARDED_BY(mu_);
  std::function<void()> installing_ GUARDED_BY(mu_);
  std::function<void(FinishResult)> done_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  bool checkpoint_busy_ GUARDED_BY(mu_) = false;  // SyncLoop is writing one
  Status read_error_ GUARDED_BY(mu_);             // reading back failed

  // Owned by the worker thread.
  Hasher sha256_{HashAlgorithm::kSha256};
  std::optional<Hasher> extra_;     // the expected checksum's algorithm, if not sha256
  std::optional<Journal> journal_;  // owned by SyncLoop
  uint64_t written_back_ = 0;
  uint64_t seen_generation_ = 0;  // the hash thread's view of generation_

  std::thread hash_thread_;
  std::thread sync_thread_;
  std::thread data_thread_;
};

}  // namespace modeld::engine
