#include "engine/disk_worker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <vector>

#include "core/fs.h"
#include "core/log.h"

namespace modeld::engine {

namespace {
constexpr uint64_t kHashBlock = 1 << 20;
constexpr uint64_t kWritebackBlock = 8 << 20;
}  // namespace

DiskWorker::DiskWorker(int fd, std::filesystem::path part_path, std::filesystem::path journal_path,
                       std::optional<Checksum> expected, std::optional<uint64_t> expected_size)
    : fd_(fd),
      part_path_(std::move(part_path)),
      journal_path_(std::move(journal_path)),
      expected_(std::move(expected)) {
  if (expected_ && expected_->algorithm != HashAlgorithm::kSha256) {
    extra_.emplace(expected_->algorithm, expected_size);
  }
  hash_thread_ = std::thread([this] { Run("hashing", &DiskWorker::HashLoop); });
  sync_thread_ = std::thread([this] { Run("checkpointing", &DiskWorker::SyncLoop); });
}

DiskWorker::~DiskWorker() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  hash_thread_.join();
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
    pending_ = std::move(state);
  }
  cv_.SignalAll();
}

void DiskWorker::Abandon() {
  {
    MutexLock lock(&mu_);
    abandoned_ = true;
    pending_.reset();
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
    pending_.reset();
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
    pending_.reset();  // the file is complete; the journal is about to go away
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
    cv_.SignalAll();
  }
}

void DiskWorker::SyncLoop() {
  MutexLock lock(&mu_);
  for (;;) {
    cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return stop_ || pending_ || reset_journal_; });
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
    if (pending_) {
      JournalState state = std::move(*pending_);
      pending_.reset();
      checkpoint_busy_ = true;
      lock.Unlock();
      // Data before metadata: the journal must never name bytes that are not durable.
      Status s;
      if (::fdatasync(fd_) != 0) s = ErrnoStatus("fdatasync " + part_path_.string(), errno);
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
      if (s.ok()) s = journal_->Append(state, /*sync=*/true);
      if (!s.ok() && s.code() != Status::Code::kCancelled) {
        log::Warn("checkpoint {}: {}", journal_path_.string(), s.ToString());
      }
      lock.Lock();
      checkpoint_busy_ = false;
      cv_.SignalAll();
      continue;
    }
    if (stop_) return;
  }
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
      pending_.reset();
      cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return !checkpoint_busy_ && !reset_journal_; });
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
  ::unlink(journal_path_.c_str());
  return r;
}

}  // namespace modeld::engine
