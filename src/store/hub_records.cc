// The Hub mirror's records: refs, listings and mirror blobs (store.h, "Hub mirror").
#include <chrono>

#include "store/registry_db.h"
#include "store/store.h"

namespace modeld::store {

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Result<std::optional<Store::HubRef>> Store::GetHubRef(const std::string& kind,
                                                      const std::string& repo,
                                                      const std::string& revision) {
  MutexLock lock(&mu_);
  auto q = db().Prepare(
      "SELECT commit_id, checked_at FROM hub_refs WHERE kind=?1 AND repo=?2 AND revision=?3");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, kind).Bind(2, repo).Bind(3, revision).Step();
  if (!r.has_value()) return r.error();
  if (!*r) return std::optional<HubRef>();
  return std::optional<HubRef>(HubRef{q->Text(0), q->Int(1)});
}

Status Store::PutHubRef(const std::string& kind, const std::string& repo,
                        const std::string& revision, const HubRef& ref) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto q = db().Prepare(
        "INSERT INTO hub_refs(kind, repo, revision, commit_id, checked_at) VALUES (?1,?2,?3,?4,?5) "
        "ON CONFLICT(kind, repo, revision) DO UPDATE SET commit_id=excluded.commit_id, "
        "checked_at=excluded.checked_at");
    if (!q.has_value()) return q.error();
    return q->Bind(1, kind)
        .Bind(2, repo)
        .Bind(3, revision)
        .Bind(4, ref.commit)
        .Bind(5, ref.checked_at_ms)
        .Run();
  });
}

Result<std::optional<std::string>> Store::GetHubListing(const std::string& kind,
                                                        const std::string& repo,
                                                        const std::string& commit) {
  MutexLock lock(&mu_);
  auto q =
      db().Prepare("SELECT listing FROM hub_listings WHERE kind=?1 AND repo=?2 AND commit_id=?3");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, kind).Bind(2, repo).Bind(3, commit).Step();
  if (!r.has_value()) return r.error();
  if (!*r) return std::optional<std::string>();
  return std::optional<std::string>(q->Text(0));
}

Status Store::PutHubListing(const std::string& kind, const std::string& repo,
                            const std::string& commit, const std::string& listing) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto q = db().Prepare(
        "INSERT INTO hub_listings(kind, repo, commit_id, listing, fetched_at) "
        "VALUES (?1,?2,?3,?4,?5) ON CONFLICT(kind, repo, commit_id) DO UPDATE SET "
        "listing=excluded.listing, fetched_at=excluded.fetched_at");
    if (!q.has_value()) return q.error();
    return q->Bind(1, kind).Bind(2, repo).Bind(3, commit).Bind(4, listing).Bind(5, NowMs()).Run();
  });
}

Result<std::optional<FileEntry>> Store::FindMirrorBlob(const std::string& etag) {
  FileEntry f;
  {
    MutexLock lock(&mu_);
    auto q = db().Prepare("SELECT sha256, size FROM hub_blobs WHERE etag=?1");
    if (!q.has_value()) return q.error();
    auto r = q->Bind(1, etag).Step();
    if (!r.has_value()) return r.error();
    if (!*r) return std::optional<FileEntry>();
    f = FileEntry{etag, static_cast<uint64_t>(q->Int(1)), q->Text(0)};
  }
  if (!HasBlob(f.sha256, f.size)) return std::optional<FileEntry>();
  return std::optional<FileEntry>(f);
}

Status Store::KeepMirrorBlob(const std::string& etag, const FileEntry& blob, const Lease* fence) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    if (fence) {
      auto current = FenceIsCurrent(db(), fence->name, fence->fence);
      if (!current.has_value()) return current.error();
      if (!*current) {
        return Status::FailedPrecondition("the lease '" + fence->name + "' (fence " +
                                          std::to_string(fence->fence) + ") was lost");
      }
    }
    auto q = db().Prepare(
        "INSERT INTO hub_blobs(etag, sha256, size, used_at) VALUES (?1,?2,?3,?4) "
        "ON CONFLICT(etag) DO UPDATE SET sha256=excluded.sha256, size=excluded.size, "
        "used_at=excluded.used_at");
    if (!q.has_value()) return q.error();
    return q->Bind(1, etag)
        .Bind(2, blob.sha256)
        .Bind(3, static_cast<int64_t>(blob.size))
        .Bind(4, NowMs())
        .Run();
  });
}

}  // namespace modeld::store
