#include "engine/disk_worker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <vector>

#include "core/fs.h"
#include "core/log.h"

namespace modeld::engine {

namespace {
constexpr uint64_t kHashBlock = 1 << 20;
constexpr uint64_t kWritebackBlock = 8 << 20;
// Durable checkpoints: also every 1/kDurableStep of the file (at least 1 MiB), at most
// once per kDurableGap.
constexpr uint64_t kDurableStep = 100;
constexpr auto kDurableGap = std::chrono::milliseconds(100);
}  // namespace

DiskWorker::DiskWorker(int fd, std::filesystem::path part_path, std::filesystem::path journal_path,
                       std::optional<Checksum> expected, std::optional<uint64_t> expected_size,
                       Options options)
    : fd_(fd),
      part_path_(std::move(part_path)),
      journal_path_(std::move(journal_path)),
      expected_(std::move(expected)),
      options_(options) {
  if (expected_ && expected_->algorithm != HashAlgorithm::kSha256) {
    extra_.emplace(expected_->algorithm, expected_size);
  }
  hash_thread_ = std::thread([this] { Run("hashing", &DiskWorker::HashLoop); });
  sync_thread_ = std::thread([this] { Run("checkpointing", &DiskWorker::SyncLoop); });
  data_thread_ = std::thread([this] { Run("syncing", &DiskWorker::DataSyncLoop); });
}

DiskWorker::~DiskWorker() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  hash_thread_.join();
  data_thread_.join();
  sync_thread_.join();
}

void DiskWorker::SetPrefix(uint64_t prefix) {
  {
    MutexLock lock(&mu_);
    if (prefix <= prefix_) return;
    prefix_ = prefix;
  }
  cv_.SignalAll();
}

void DiskWorker::Checkpoint(JournalState state) {
  {
    MutexLock lock(&mu_);
    if (finishing_ || abandoned_) return;  // the journal is about to be removed
    latest_ = std::move(state);
    ++latest_seq_;
  }
  cv_.SignalAll();
}

void DiskWorker::Abandon() {
  {
    MutexLock lock(&mu_);
    abandoned_ = true;
    latest_.reset();
    durable_record_ = false;
    stop_ = true;
  }
  cv_.SignalAll();
}

void DiskWorker::Reset() {
  {
    MutexLock lock(&mu_);
    ++generation_;
    prefix_ = 0;
    hashed_ = 0;
    dropped_ = 0;
    latest_.reset();
    recorded_seq_ = durable_seq_ = latest_seq_;
    durable_.clear();
    durable_record_ = false;
    reset_journal_ = true;
  }
  cv_.SignalAll();
}

void DiskWorker::Finish(uint64_t total, std::filesystem::path dest,
                        std::function<void()> installing, std::function<void(FinishResult)> done) {
  {
    MutexLock lock(&mu_);
    finish_ = true;
    finishing_ = true;
    finish_total_ = total;
    prefix_ = std::max(prefix_, total);
    finish_dest_ = std::move(dest);
    installing_ = std::move(installing);
    done_ = std::move(done);
    latest_.reset();  // the file is complete; the journal is about to go away
    durable_record_ = false;
  }
  cv_.SignalAll();
}

uint64_t DiskWorker::hashed() const {
  MutexLock lock(&mu_);
  return hashed_;
}

// A thread's top level: an exception fails this transfer (its Finish reports it), never
// the process. The loop then starts again, so Finish and the destructor are still served.
void DiskWorker::Run(const char* what, void (DiskWorker::*loop)()) {
  for (;;) {
    std::string why;
    try {
      (this->*loop)();
      return;
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
      why = "unknown exception";
    }
    log::Error("disk worker for {}: exception while {}: {}", part_path_.string(), what, why);
    MutexLock lock(&mu_);
    if (read_error_.ok()) {
      read_error_ = Status::Internal("internal error while " + std::string(what) + " " +
                                     part_path_.string() + ": " + why);
    }
    checkpoint_busy_ = false;  // the journal write it was in is abandoned
    data_busy_ = false;
    cv_.SignalAll();
  }
}

// Journal records: each names the latest snapshot, its synced part as |written| and the
// rest as |cached| in this boot. A record is synced only when the data thread has just
// made its |written| durable (a record without sync is enough for kill -9).
void DiskWorker::SyncLoop() {
  MutexLock lock(&mu_);
  auto record_due = [&]() REQUIRES(mu_) {
    return latest_ && !finishing_ && !abandoned_ &&
           (recorded_seq_ < latest_seq_ || durable_record_);
  };
  for (;;) {
    cv_.Wait(&mu_, [&]() REQUIRES(mu_) {
      return (stop_ && data_stopped_) || reset_journal_ || record_due();
    });
    if (reset_journal_) {
      reset_journal_ = false;
      checkpoint_busy_ = true;
      lock.Unlock();
      journal_.reset();
      ::unlink(journal_path_.c_str());
      lock.Lock();
      checkpoint_busy_ = false;
      cv_.SignalAll();
      continue;
    }
    if (record_due()) {
      JournalState state = *latest_;
      recorded_seq_ = latest_seq_;
      bool sync = durable_record_;
      durable_record_ = false;
      RangeSet cached;
      for (const auto& r : state.written) cached.Add(r.begin, r.end);
      for (const auto& r : durable_) cached.Remove(r.begin, r.end);
      state.written = durable_;
      state.cached = cached.Ranges();
      if (!state.cached.empty()) state.boot_id = CurrentBootId();
      checkpoint_busy_ = true;
      lock.Unlock();
      Status s;
      {
        MutexLock relock(&mu_);
        if (abandoned_) s = Status::Cancelled("cancelled");  // its files are gone: write nothing
      }
      if (s.ok() && !journal_) {
        auto j = Journal::Open(journal_path_);
        if (j.has_value()) {
          journal_.emplace(std::move(j.value()));
        } else {
          s = j.error();
        }
      }
      if (s.ok()) s = journal_->Append(state, sync);
      if (!s.ok() && s.code() != Status::Code::kCancelled) {
        log::Warn("checkpoint {}: {}", journal_path_.string(), s.ToString());
      }
      lock.Lock();
      checkpoint_busy_ = false;
      cv_.SignalAll();
      continue;
    }
    if (stop_ && data_stopped_) return;
  }
}

// Makes the latest snapshot durable: at most durable_interval after it was given, and at
// once when stopping. Data before metadata: the fdatasync comes first, and only then may
// a record name those bytes |written|.
void DiskWorker::DataSyncLoop() {
  using Clock = std::chrono::steady_clock;
  MutexLock lock(&mu_);
  auto last = Clock::now();
  uint64_t tried_seq = 0;  // a failed fdatasync is not retried for the same snapshot
  auto due = [&]() REQUIRES(mu_) {
    return latest_ && !finishing_ && !abandoned_ && std::max(durable_seq_, tried_seq) < latest_seq_;
  };
  // When the next sync may start: durable_interval after the last, or kDurableGap after it
  // once kDurableStep of the file more is written (as often as checkpoints were synced
  // before unsynced records existed).
  auto next = [&]() REQUIRES(mu_) {
    uint64_t latest_bytes = 0, durable_bytes = 0;
    for (const auto& r : latest_->written) latest_bytes += r.size();
    for (const auto& r : durable_) durable_bytes += r.size();
    uint64_t step = std::max<uint64_t>(latest_->size.value_or(0) / kDurableStep, 1 << 20);
    auto gap = latest_bytes >= durable_bytes + step ? kDurableGap : options_.durable_interval;
    return last + std::min<Clock::duration>(gap, options_.durable_interval);
  };
  for (;;) {
    if (due() && (stop_ || Clock::now() >= next())) {
      JournalState snapshot = *latest_;
      uint64_t seq = latest_seq_;
      uint64_t gen = generation_;
      uint64_t hashed = hashed_;  // clean after the sync, and read back already
      tried_seq = seq;
      data_busy_ = true;
      lock.Unlock();
      last = Clock::now();
      Status s;
      if (::fdatasync(fd_) != 0) s = ErrnoStatus("fdatasync " + part_path_.string(), errno);
      if (!s.ok()) log::Warn("checkpoint {}: {}", journal_path_.string(), s.ToString());
      lock.Lock();
      data_busy_ = false;
      if (s.ok() && gen == generation_ && !abandoned_ && !finishing_) {
        durable_ = std::move(snapshot.written);
        durable_seq_ = seq;
        durable_record_ = true;
        // The synced, hashed prefix is clean: it can leave the page cache (DONTNEED skips
        // dirty pages, so this waits for a sync rather than the hash thread waiting).
        if (options_.drop_cache && hashed > dropped_) {
          uint64_t from = dropped_;
          dropped_ = hashed;
          cv_.SignalAll();  // the record need not wait for the drop
          lock.Unlock();
          ::posix_fadvise(fd_, static_cast<off_t>(from), static_cast<off_t>(hashed - from),
                          POSIX_FADV_DONTNEED);
          lock.Lock();
        }
      }
      cv_.SignalAll();
      continue;
    }
    if (stop_) break;
    if (due()) {
      cv_.WaitUntil(&mu_, next(), [&]() REQUIRES(mu_) {
        return stop_ || !due() || Clock::now() >= next();  // a new snapshot may bring next
      });
    } else {
      cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return stop_ || due(); });
    }
  }
  data_stopped_ = true;
  cv_.SignalAll();
}

void DiskWorker::HashLoop() {
  std::vector<char> buf(kHashBlock);
  uint64_t& seen_generation = seen_generation_;
  MutexLock lock(&mu_);
  for (;;) {
    cv_.Wait(&mu_, [&]() REQUIRES(mu_) {
      return stop_ || (read_error_.ok() && hashed_ < prefix_) ||
             (finish_ && (hashed_ >= finish_total_ || !read_error_.ok())) ||
             generation_ != seen_generation;
    });
    if (generation_ != seen_generation) {
      seen_generation = generation_;
      sha256_.Reset();
      if (extra_) extra_->Reset();
      read_error_ = Status::OK();
      written_back_ = 0;
    }
    if (stop_) return;
    if (read_error_.ok() && hashed_ < prefix_) {
      uint64_t from = hashed_;
      uint64_t len = std::min<uint64_t>(prefix_ - hashed_, kHashBlock);
      uint64_t gen = generation_;
      lock.Unlock();
      ssize_t n = ::pread(fd_, buf.data(), len, static_cast<off_t>(from));
      bool ok = n == static_cast<ssize_t>(len);
      lock.Lock();
      if (gen != generation_) continue;  // the file restarted while we read
      if (!ok) {
        read_error_ = n < 0 ? ErrnoStatus("read back " + part_path_.string(), errno)
                            : Status::IoError("short read back of " + part_path_.string());
        log::Error("{}", read_error_.ToString());
        continue;
      }
      sha256_.Update(buf.data(), len);
      if (extra_) extra_->Update(buf.data(), len);
      hashed_ = from + len;
      if (hashed_ - written_back_ >= kWritebackBlock) {
        uint64_t wb_from = written_back_, wb_len = hashed_ - written_back_;
        written_back_ = hashed_;
        lock.Unlock();
        ::sync_file_range(fd_, static_cast<off_t>(wb_from), static_cast<off_t>(wb_len),
                          SYNC_FILE_RANGE_WRITE);
        lock.Lock();
      }
      continue;
    }
    if (finish_ && !read_error_.ok()) {
      finish_ = false;
      auto done = std::move(done_);
      Status err = read_error_;
      lock.Unlock();
      done({err, ""});
      lock.Lock();
      continue;
    }
    if (finish_ && hashed_ >= finish_total_) {
      // No checkpoint may land after the journal is removed.
      latest_.reset();
      cv_.Wait(&mu_,
               [&]() REQUIRES(mu_) { return !checkpoint_busy_ && !reset_journal_ && !data_busy_; });
      finish_ = false;
      uint64_t total = finish_total_;
      auto dest = finish_dest_;
      auto installing = std::move(installing_);
      auto done = std::move(done_);
      lock.Unlock();
      FinishResult result;
      try {
        result = Publish(total, dest, installing);
      } catch (const std::exception& e) {
        result.status =
            Status::Internal("internal error while publishing " + dest.string() + ": " + e.what());
      }
      done(std::move(result));
      lock.Lock();
      continue;
    }
  }
}

FinishResult DiskWorker::Publish(uint64_t total, const std::filesystem::path& dest,
                                 const std::function<void()>& installing) {
  FinishResult r;
  r.sha256 = sha256_.FinishHex();
  std::string actual = extra_ ? extra_->FinishHex() : r.sha256;
  if (expected_ && actual != expected_->hex) {
    r.status = Status::Corrupt("checksum mismatch for " + dest.string() + ": expected " +
                               expected_->ToString() + ", got " +
                               std::string(HashAlgorithmName(expected_->algorithm)) + ":" + actual);
    ::unlink(part_path_.c_str());
    ::unlink(journal_path_.c_str());
    return r;
  }
  if (installing) installing();
  Status s;
  if (::ftruncate(fd_, static_cast<off_t>(total)) != 0) s = ErrnoStatus("truncate", errno);
  if (s.ok() && ::fdatasync(fd_) != 0) s = ErrnoStatus("fdatasync " + part_path_.string(), errno);
  if (s.ok() && ::rename(part_path_.c_str(), dest.c_str()) != 0) {
    s = ErrnoStatus("rename " + part_path_.string() + " to " + dest.string(), errno);
  }
  if (s.ok()) s = FsyncDir(dest.parent_path().empty() ? "." : dest.parent_path());
  if (!s.ok()) {
    r.status = s;
    return r;
  }
  // Synced: every page is clean; those not dropped after a checkpoint's sync can go.
  if (options_.drop_cache) {
    uint64_t from = 0;
    {
      MutexLock lock(&mu_);
      from = std::min(dropped_, total);
    }
    ::posix_fadvise(fd_, static_cast<off_t>(from), 0, POSIX_FADV_DONTNEED);
  }
  ::unlink(journal_path_.c_str());
  return r;
}

}  // namespace modeld::engine
