// The Hub mirror's files (hub_mirror_impl.h): flights, and how a file is opened, joined,
// fetched or followed. The listings are in hub_mirror.cc.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "engine/engine.h"
#include "engine/journal.h"
#include "engine/range_set.h"
#include "net/http.h"
#include "service/hub_mirror.h"
#include "service/hub_mirror_impl.h"
#include "store/store.h"

namespace modeld::service {

namespace fs = std::filesystem;

namespace {

// modeld_mirror_files_total{how}: how the mirror answered each file it sent.
metrics::Counter& MirrorFiles(std::string_view how) {
  static metrics::CounterFamily& family = metrics::DefaultRegistry().AddCounter(
      "modeld_mirror_files_total",
      "Files the Hub mirror began to send, by how: from the store, by a download it started, "
      "or by joining one in progress.",
      {"how"});
  return family.Get({std::string(how)});
}

// A blob, whole: every byte readable.
class BlobSource : public FileSource {
 public:
  BlobSource(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}
  int fd() const override { return fd_.get(); }
  uint64_t size() const override { return size_; }
  uint64_t Readable(uint64_t offset, uint64_t end) override {
    return end > offset ? end - offset : 0;
  }
  void WhenReadable(uint64_t, uint64_t, std::function<void()> fn) override { fn(); }
  bool failed() const override { return false; }

 private:
  UniqueFd fd_;
  uint64_t size_;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// One download that clients read as it lands.

void Flight::Written(uint64_t begin, uint64_t end) {
  std::vector<std::function<void()>> wake;
  {
    MutexLock l(&mu_);
    ranges_.Add(begin, end);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->offset >= begin && it->offset < end && ReadableLocked(it->offset, it->end) > 0) {
        wake.push_back(std::move(it->fn));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& fn : wake) fn();
}

void Flight::Reset() {
  std::vector<std::function<void()>> wake;
  {
    MutexLock l(&mu_);
    ranges_.Clear();
    ++generation_;  // the readers so far may have sent bytes that no longer hold
    for (auto& w : waiters_) wake.push_back(std::move(w.fn));
    waiters_.clear();
  }
  for (auto& fn : wake) fn();
}

void Flight::Finish(bool ok) {
  std::vector<std::function<void()>> wake;
  {
    MutexLock l(&mu_);
    (ok ? verified_ : failed_) = true;
    for (auto& w : waiters_) wake.push_back(std::move(w.fn));
    waiters_.clear();
    cv_.SignalAll();
  }
  for (auto& fn : wake) fn();
}

uint64_t Flight::ReadableLocked(uint64_t offset, uint64_t end) const {
  if (failed_ || end <= offset) return 0;
  if (verified_) return end - offset;
  uint64_t have = std::min(ranges_.ContiguousEnd(offset), end);
  if (have <= offset) return 0;
  uint64_t n = have - offset;
  // The file's last byte waits for the verdict: a stream that reaches the end of a file
  // whose digest does not match is cut short of its Content-Length.
  if (have == size_ && end == size_) --n;
  return n;
}

uint64_t Flight::Readable(uint64_t generation, uint64_t offset, uint64_t end) {
  MutexLock l(&mu_);
  if (generation != generation_) return 0;
  return ReadableLocked(offset, end);
}

bool Flight::Failed(uint64_t generation) const {
  MutexLock l(&mu_);
  return failed_ || generation != generation_;
}

void Flight::WhenReadable(uint64_t generation, uint64_t offset, uint64_t end,
                          std::function<void()> fn) {
  {
    MutexLock l(&mu_);
    if (generation == generation_ && !failed_ && !verified_ && ReadableLocked(offset, end) == 0) {
      waiters_.push_back({offset, end, std::move(fn)});
      return;
    }
  }
  fn();
}

uint64_t Flight::generation() const {
  MutexLock l(&mu_);
  return generation_;
}

bool Flight::WaitDone(std::chrono::milliseconds timeout) {
  MutexLock l(&mu_);
  return cv_.WaitFor(&mu_, timeout, [&]() REQUIRES(mu_) { return verified_ || failed_; });
}

namespace {

// A reader's handle on a flight: the flight's generation when it attached.
class FlightSource : public FileSource {
 public:
  FlightSource(std::shared_ptr<Flight> flight, UniqueFd fd)
      : flight_(std::move(flight)), fd_(std::move(fd)), generation_(flight_->generation()) {}
  int fd() const override { return fd_.get(); }
  uint64_t size() const override { return flight_->size(); }
  uint64_t Readable(uint64_t offset, uint64_t end) override {
    return flight_->Readable(generation_, offset, end);
  }
  void WhenReadable(uint64_t offset, uint64_t end, std::function<void()> fn) override {
    flight_->WhenReadable(generation_, offset, end, std::move(fn));
  }
  bool failed() const override { return flight_->Failed(generation_); }

 private:
  std::shared_ptr<Flight> flight_;
  UniqueFd fd_;
  uint64_t generation_;
};

// Adapts a Flight to the engine's observer (the engine keeps it alive while it runs).
class FlightObserver : public engine::WriteObserver {
 public:
  explicit FlightObserver(std::shared_ptr<Flight> f) : f_(std::move(f)) {}
  void Written(uint64_t begin, uint64_t end) override { f_->Written(begin, end); }
  void Reset() override { f_->Reset(); }

 private:
  std::shared_ptr<Flight> f_;
};

}  // namespace

std::string MirrorImpl::UpstreamUrl(const MirrorRepo& repo, const MirrorEntry& entry) const {
  return options_.upstream + (repo.kind == HubKind::kDataset ? "/datasets/" : "/") + repo.repo_id +
         "/resolve/" + repo.commit + "/" + net::PercentEncode(entry.path, /*keep_slashes=*/true);
}

Result<std::shared_ptr<FileSource>> MirrorImpl::Open(const MirrorRepo& repo,
                                                     const MirrorEntry& entry) {
  if (Status s = CheckFile(entry); !s.ok()) return s;
  // The store has it: a mirrored blob, or (LFS) a model's blob of that digest.
  std::optional<store::FileEntry> blob;
  if (auto found = store_.FindMirrorBlob(entry.etag()); found.has_value() && found->has_value()) {
    blob = **found;
  } else if (entry.lfs() && store_.HasVerifiedBlob(entry.lfs_oid, entry.size)) {
    blob = store::FileEntry{entry.path, entry.size, entry.lfs_oid};
    (void)store_.KeepMirrorBlob(entry.etag(), *blob);
  }
  if (blob) {
    if (auto source = OpenBlob(*blob, entry.size)) {
      MutexLock l(&mu_);
      ++stats_.served_from_store;
      MirrorFiles("store").Inc();
      return source;
    }
  }
  return Join(repo, entry);
}

Status MirrorImpl::CheckFile(const MirrorEntry& entry) const {
  if (entry.directory) return MirrorRefusal(404, "EntryNotFound", entry.path + " is a directory");
  if (options_.max_file_size > 0 && entry.size > options_.max_file_size) {
    return MirrorRefusal(403, "",
                         "modeld mirror: " + entry.path + " (" + std::to_string(entry.size) +
                             " bytes) is larger than this mirror serves");
  }
  return Status::OK();
}

std::shared_ptr<FileSource> MirrorImpl::OpenBlob(const store::FileEntry& blob, uint64_t size) {
  if (blob.size != size) return nullptr;
  UniqueFd fd(::open(store_.BlobPath(blob.sha256).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return nullptr;
  return std::make_shared<BlobSource>(std::move(fd), size);
}

Result<std::shared_ptr<FileSource>> MirrorImpl::Join(const MirrorRepo& repo,
                                                     const MirrorEntry& entry) {
  const std::string etag = entry.etag();
  MutexLock l(&mu_);
  if (stopping_) return Status::Unavailable("modeld mirror: stopping");
  ReapRunners();
  if (auto it = flights_.find(etag); it != flights_.end()) {
    UniqueFd fd(::fcntl(it->second->fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!fd.valid()) return ErrnoStatus("dup", errno);
    ++stats_.joined;
    MirrorFiles("joined").Inc();
    return std::shared_ptr<FileSource>(std::make_shared<FlightSource>(it->second, std::move(fd)));
  }
  // A flight that finished since Open looked is in the store now (a flight records its
  // blob before it leaves flights_): a new one would read a partial file that is gone.
  if (auto found = store_.FindMirrorBlob(etag); found.has_value() && found->has_value()) {
    if (auto source = OpenBlob(**found, entry.size)) {
      ++stats_.served_from_store;
      MirrorFiles("store").Inc();
      return source;
    }
  }
  auto flight = std::make_shared<Flight>(entry.size);
  fs::path dir = store_.PartialDir("mirror-" + etag);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("mkdir " + dir.string() + ": " + ec.message());
  flight->dest = dir / "file";
  flight->part = dir / "file.part";
  // Opened before the engine starts so that a reader holds the inode the engine writes.
  flight->fd.Reset(::open(flight->part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!flight->fd.valid()) return ErrnoStatus("open " + flight->part.string(), errno);
  UniqueFd fd(::fcntl(flight->fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("dup", errno);
  engine::DownloadRequest dl;
  dl.url = UpstreamUrl(repo, entry);
  dl.dest = flight->dest;
  dl.part_path = flight->part;
  dl.expected_size = entry.size;
  dl.checksum = entry.lfs() ? Checksum{HashAlgorithm::kSha256, entry.lfs_oid}
                            : Checksum{HashAlgorithm::kGitSha1, entry.oid};
  if (!options_.upstream_token.empty())
    dl.headers.push_back("Authorization: Bearer " + options_.upstream_token);
  dl.downloaded = &DownloadedBytes("huggingface");  // counted as the Hub's
  dl.observer = std::make_shared<FlightObserver>(flight);
  dl.drop_cache = false;  // the clients read it now
  flights_[etag] = flight;
  ++stats_.fetches_started;
  MirrorFiles("fetched").Inc();
  // The download runs on a thread of its own, which adopts the verified file.
  std::string what = repo.repo_id + "/" + entry.path;
  auto done = std::make_shared<std::atomic<bool>>(false);
  runners_.push_back({std::thread([this, flight, dl = std::move(dl), etag, what, done,
                                   size = entry.size]() mutable {
                        RunFlight(flight, std::move(dl), etag, what, size);
                        done->store(true);
                      }),
                      done});
  return std::shared_ptr<FileSource>(std::make_shared<FlightSource>(flight, std::move(fd)));
}

void MirrorImpl::RunFlight(std::shared_ptr<Flight> flight, engine::DownloadRequest dl,
                           const std::string& etag, const std::string& what, uint64_t size) {
  // One instance fetches a file at a time. On one host, the processes sharing the data
  // dir take the file lock "mirror-<etag>"; across hosts sharing the registry and the
  // blob directory, the one holding the file lock also takes the registry lease
  // "mirror:<etag>" (a fencing token). The others follow the partial file as its journal
  // says bytes land; when the lock or the lease comes free, the file is either in the
  // store (done) or not (the fetcher died or failed): then this one fetches it, resuming
  // the partial.
  const std::string key = "mirror-" + etag;
  const std::string lease_name = "mirror:" + etag;
  fs::path journal = flight->part;
  journal += ".journal";
  Following follow;
  for (;;) {
    {
      MutexLock l(&mu_);
      if (stopping_) break;
    }
    auto lock = store_.TryLock(key);
    if (!lock.has_value()) {
      log::Warn("mirror: {}: {}", what, lock.error().ToString());
      return FinishFlight(flight, etag, false);
    }
    if (lock->has_value()) {
      if (auto done = Adopted(*flight, etag)) return FinishFlight(flight, etag, *done);
      // Holding the file lock, a lease of this host's instances is one whose holder is
      // gone (each fetches under the lock): it is taken over at once.
      auto lease = store_.TryAcquireLease(lease_name, holder_, options_.lease_ttl, host_prefix_);
      if (!lease.has_value()) {
        log::Warn("mirror: {}: {}", what, lease.error().ToString());
        return FinishFlight(flight, etag, false);
      }
      if (lease->has_value()) {
        if (follow.active)
          log::Warn("mirror: {}: the instance fetching it stopped; fetching it here", what);
        SyncPartial(*flight, follow, /*create=*/true);  // the file the engine will write
        if (!Fetch(flight, dl, etag, what, size, std::move(**lease))) return;
        follow = Following{};  // the lease was lost: another instance fetches it now
      }
    }
    // Another instance fetches it: what its journal says is written may be read.
    if (!follow.active) log::Info("mirror: {}: another instance fetches it; following", what);
    follow.active = true;
    SyncPartial(*flight, follow, /*create=*/false);
    if (auto state = engine::Journal::Load(journal); state.has_value() && state->has_value()) {
      uint64_t total = 0;
      for (const auto& r : (*state)->written) total += r.end - r.begin;
      // Fewer bytes than before: the fetcher started the file over.
      if (total < follow.journal_bytes) flight->Reset();
      follow.journal_bytes = total;
      for (const auto& r : (*state)->written) flight->Written(r.begin, r.end);
    }
    if (auto done = Adopted(*flight, etag)) return FinishFlight(flight, etag, *done);
    MutexLock l(&mu_);
    stop_cv_.WaitFor(&mu_, kFollowInterval, [&]() REQUIRES(mu_) { return stopping_; });
  }
  FinishFlight(flight, etag, false);  // stopping
}

std::optional<bool> MirrorImpl::Adopted(const Flight& flight, const std::string& etag) {
  auto blob = store_.FindMirrorBlob(etag);
  if (!blob.has_value() || !blob->has_value()) return std::nullopt;
  // The fetcher renamed the partial into the store: the file this flight's readers read
  // is that blob only if it is the same inode (not a partial it deleted and began again).
  struct stat ours {
  }, stored{};
  return ::fstat(flight.fd.get(), &ours) == 0 &&
         ::stat(store_.BlobPath((*blob)->sha256).c_str(), &stored) == 0 &&
         ours.st_ino == stored.st_ino && ours.st_dev == stored.st_dev;
}

void MirrorImpl::SyncPartial(Flight& flight, Following& follow, bool create) {
  struct stat ours {
  }, now{};
  const bool exists = ::stat(flight.part.c_str(), &now) == 0;
  if (exists && ::fstat(flight.fd.get(), &ours) == 0 && ours.st_ino == now.st_ino &&
      ours.st_dev == now.st_dev) {
    return;
  }
  // Missing while another instance fetches: renamed into the store, or deleted to begin
  // again (both seen on the next look).
  if (!exists && !create) return;
  // Deleted (its digest did not match) or replaced: the bytes read so far are not the
  // file's. Readers from now on read the new one; those before fail.
  UniqueFd fresh(::open(flight.part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fresh.valid()) return;
  {
    MutexLock l(&mu_);  // Join dups flight.fd under mu_
    std::swap(flight.fd, fresh);
  }
  follow.journal_bytes = 0;
  flight.Reset();
}

bool MirrorImpl::Fetch(std::shared_ptr<Flight> flight, engine::DownloadRequest dl,
                       const std::string& etag, const std::string& what, uint64_t size,
                       store::Lease lease) {
  struct Outcome {
    Mutex mu;
    CondVar cv;
    std::optional<engine::TransferEvent> event GUARDED_BY(mu);
  };
  auto outcome = std::make_shared<Outcome>();
  engine::TransferId id = engine_().Submit(dl, [outcome](const engine::TransferEvent& ev) {
    if (!ev.terminal()) return;
    MutexLock l(&outcome->mu);
    outcome->event = ev;
    outcome->cv.SignalAll();
  });
  {
    MutexLock l(&mu_);
    flight->transfer = id;
    if (stopping_) engine_().Stop(id);
  }
  // The lease is renewed while the file downloads; lost (a pause longer than its ttl, the
  // registry unreachable), the download stops and another instance takes the file over.
  const auto renew_every = std::max(options_.lease_ttl / 3, std::chrono::milliseconds(1));
  bool lost = false;
  engine::TransferEvent ev;
  for (;;) {
    {
      MutexLock l(&outcome->mu);
      if (outcome->cv.WaitFor(&outcome->mu, renew_every,
                              [&]() REQUIRES(outcome->mu) { return outcome->event.has_value(); })) {
        ev = *outcome->event;
        break;
      }
    }
    if (lost) continue;
    if (Status s = store_.RenewLease(lease, options_.lease_ttl); !s.ok()) {
      log::Warn("mirror: {}: {}; stopping this download", what, s.ToString());
      lost = true;
      engine_().Stop(id);
    }
  }
  {
    MutexLock l(&mu_);
    flight->transfer = 0;
  }
  if (lost && ev.stage != engine::Stage::kCompleted) return true;
  bool ok = ev.stage == engine::Stage::kCompleted;
  if (ok) {
    // Verified: the bytes are the file's whoever holds the lease now; only recording it
    // is the lease's (its fence checked in the same transaction).
    store::FileEntry blob{what, size, ev.sha256};
    Status s = store_.AdoptBlob(dl.dest, ev.sha256);
    if (s.ok()) s = store_.KeepMirrorBlob(etag, blob, &lease);
    if (!s.ok()) log::Warn("mirror: could not keep {}: {}", what, s.ToString());
    log::Info("mirror: fetched {} ({} bytes)", what, size);
  } else {
    log::Warn("mirror: fetching {} failed: {}", what, ev.status.ToString());
  }
  if (Status s = store_.ReleaseLease(lease); !s.ok())
    log::Warn("mirror: {}: releasing its lease: {}", what, s.ToString());
  FinishFlight(flight, etag, ok);
  return false;
}

void MirrorImpl::FinishFlight(const std::shared_ptr<Flight>& flight, const std::string& etag,
                              bool ok) {
  {
    MutexLock l(&mu_);
    if (auto it = flights_.find(etag); it != flights_.end() && it->second == flight)
      flights_.erase(it);
  }
  flight->Finish(ok);
}

}  // namespace modeld::service
