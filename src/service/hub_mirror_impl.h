// The Hub mirror's inside (hub_mirror.h): its flights (downloads clients read as they
// land) and the implementation over the store and the engine. Private to service/.
// hub_mirror.cc holds the listings (refs, the registry's copies, policy), and
// hub_mirror_files.cc the files (flights, and how one is opened, joined, fetched or
// followed).
//
// Thread safety: Flight's and MirrorImpl's methods are safe from any thread; each says
// what its mutex guards. Lock order: MirrorImpl::mu_, then the store's; Flight::mu_ is
// never held while calling out (waiters are woken after it is released).
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "core/fs.h"
#include "core/mutex.h"
#include "engine/engine.h"
#include "engine/range_set.h"
#include "service/hub_mirror.h"
#include "sources/huggingface.h"
#include "store/leases.h"

namespace modeld::store {
class Store;
struct FileEntry;
}  // namespace modeld::store

namespace modeld::service {

// The Hub's refusal as the dialect answers it: |status| 404 is NotFound, 401 and 403
// PermissionDenied, anything else Unavailable; the Hub's error |code| and |message| ride
// in the status's info (reason::kHubUpstream).
Status MirrorRefusal(int status, const std::string& code, const std::string& message);

// One upstream download of one file, read by its clients as it lands. Generations: the
// engine starting the file over (Reset) fails the readers attached before.
class Flight {
 public:
  explicit Flight(uint64_t size) : size_(size) {}
  uint64_t size() const { return size_; }

  // From the engine thread (engine::WriteObserver).
  void Written(uint64_t begin, uint64_t end) EXCLUDES(mu_);
  void Reset() EXCLUDES(mu_);
  // From the flight's thread: verified and adopted (ok), or failed.
  void Finish(bool ok) EXCLUDES(mu_);

  uint64_t generation() const EXCLUDES(mu_);
  uint64_t Readable(uint64_t generation, uint64_t offset, uint64_t end) EXCLUDES(mu_);
  bool Failed(uint64_t generation) const EXCLUDES(mu_);
  void WhenReadable(uint64_t generation, uint64_t offset, uint64_t end, std::function<void()> fn)
      EXCLUDES(mu_);
  // For tests: waits until Finish, at most |timeout|; true when finished.
  bool WaitDone(std::chrono::milliseconds timeout) EXCLUDES(mu_);

  // Set before the flight is shared, read-only after; transfer, and fd once shared, are
  // changed by the flight's thread under MirrorImpl::mu_ (Join reads them under it).
  std::filesystem::path dest, part;
  UniqueFd fd;  // the partial file, opened before the engine starts (readers dup it)
  engine::TransferId transfer = 0;

 private:
  uint64_t ReadableLocked(uint64_t offset, uint64_t end) const REQUIRES(mu_);
  struct Waiter {
    uint64_t offset, end;
    std::function<void()> fn;
  };
  const uint64_t size_;
  mutable Mutex mu_;
  CondVar cv_;
  engine::RangeSet ranges_ GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ GUARDED_BY(mu_);
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  bool verified_ GUARDED_BY(mu_) = false;
  bool failed_ GUARDED_BY(mu_) = false;
};

class MirrorImpl : public HubMirror {
 public:
  // |engine| gives the service's engine (made on first use); both outlive the mirror.
  MirrorImpl(store::Store& store, std::function<engine::Engine&()> engine, MirrorOptions options);
  // Stops the downloads in progress (their partials stay) and joins their threads.
  ~MirrorImpl() override;

  Result<std::shared_ptr<const MirrorRepo>> Repo(HubKind kind, const std::string& repo_id,
                                                 const std::string& revision,
                                                 const std::string& client_token) override;
  Result<std::shared_ptr<FileSource>> Open(const MirrorRepo& repo,
                                           const MirrorEntry& entry) override;
  Status CheckFile(const MirrorEntry& entry) const override;
  MirrorStats Stats() const override EXCLUDES(mu_);

 private:
  static constexpr size_t kMaxListings = 256;
  static constexpr size_t kMaxRefs = 4096;  // refs_ and negative_ each
  // How often a file another process is fetching is looked at (its journal, the store).
  static constexpr auto kFollowInterval = std::chrono::milliseconds(50);
  struct Negative {
    Status status;
    std::chrono::steady_clock::time_point until;
  };
  struct CachedRef {
    std::string commit;
    std::chrono::steady_clock::time_point checked;
  };
  // One upstream listing call that several requests wait for.
  struct ListingCall {
    Mutex mu;
    CondVar cv;
    std::optional<Result<std::shared_ptr<const MirrorRepo>>> result GUARDED_BY(mu);
  };
  struct Runner {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  sources::HubConfig Upstream() const;
  Status CheckPolicy(const std::string& repo_id) const;
  Result<std::shared_ptr<const MirrorRepo>> Resolve(HubKind kind, const std::string& repo_id,
                                                    const std::string& revision) EXCLUDES(mu_);
  Result<std::shared_ptr<const MirrorRepo>> FetchOnce(HubKind kind, const std::string& repo_id,
                                                      const std::string& revision,
                                                      const std::string& key) EXCLUDES(mu_);
  Result<std::shared_ptr<const MirrorRepo>> FetchUpstream(HubKind kind, const std::string& repo_id,
                                                          const std::string& revision,
                                                          const std::string& key) EXCLUDES(mu_);
  // The listing of |commit| held in memory or in the registry; nullptr when neither.
  std::shared_ptr<const MirrorRepo> KnownListing(HubKind kind, const std::string& repo_id,
                                                 const std::string& commit) EXCLUDES(mu_);
  void RecordRef(const std::string& kname, const std::string& repo_id, const std::string& revision,
                 const std::string& commit, const std::string& key);
  std::shared_ptr<const MirrorRepo> Remember(const std::string& key,
                                             std::shared_ptr<const MirrorRepo> repo, bool is_ref)
      EXCLUDES(mu_);
  std::string UpstreamUrl(const MirrorRepo& repo, const MirrorEntry& entry) const;
  Result<std::shared_ptr<FileSource>> Join(const MirrorRepo& repo, const MirrorEntry& entry)
      EXCLUDES(mu_);
  // A blob of the store, whole, when it is |size| bytes and opens.
  std::shared_ptr<FileSource> OpenBlob(const store::FileEntry& blob, uint64_t size);
  // A flight's thread: fetches the file, or follows another instance fetching it.
  void RunFlight(std::shared_ptr<Flight> flight, engine::DownloadRequest dl,
                 const std::string& etag, const std::string& what, uint64_t size) EXCLUDES(mu_);
  // What a flight following another instance has seen of its journal.
  struct Following {
    bool active = false;
    uint64_t journal_bytes = 0;
  };
  // The flight's thread: the file is in the store (nullopt: not yet); true when that blob
  // is the file the flight's readers read (the same inode), false when not.
  std::optional<bool> Adopted(const Flight& flight, const std::string& etag);
  // The flight's thread: a partial file deleted (|create|: or missing) or replaced by the
  // instance fetching it is opened anew and the flight's readers so far fail (Reset).
  void SyncPartial(Flight& flight, Following& follow, bool create) EXCLUDES(mu_);
  // Downloads it here (holding the file's lock and |lease|, renewed meanwhile) and adopts
  // the verified blob; finishes the flight and releases the lease. True, with neither
  // done, when the lease was lost before the file was whole (another instance has it).
  bool Fetch(std::shared_ptr<Flight> flight, engine::DownloadRequest dl, const std::string& etag,
             const std::string& what, uint64_t size, store::Lease lease) EXCLUDES(mu_);
  void FinishFlight(const std::shared_ptr<Flight>& flight, const std::string& etag, bool ok)
      EXCLUDES(mu_);
  void ReapRunners() REQUIRES(mu_);

  store::Store& store_;
  std::function<engine::Engine&()> engine_;
  MirrorOptions options_;
  std::string host_prefix_;  // "<instance>:", for the leases of this host's instances
  std::string holder_;       // "<instance>:<pid>:<random>": this process in a lease

  mutable Mutex mu_;
  bool stopping_ GUARDED_BY(mu_) = false;
  CondVar stop_cv_;                                           // signalled with stopping_
  std::map<std::string, Negative> negative_ GUARDED_BY(mu_);  // "kind/repo@revision"
  std::map<std::string, CachedRef> refs_ GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const MirrorRepo>> listings_ GUARDED_BY(mu_);  // "@commit"
  std::map<std::string, std::shared_ptr<ListingCall>> calls_ GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Flight>> flights_ GUARDED_BY(mu_);  // by etag
  std::list<Runner> runners_ GUARDED_BY(mu_);
  MirrorStats stats_ GUARDED_BY(mu_);
};

}  // namespace modeld::service
