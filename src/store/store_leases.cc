// Store's leases (store/store.h, store/leases.h): each call one write transaction, so the
// processes sharing the registry take turns.
#include "store/leases.h"
#include "store/registry_db.h"
#include "store/store.h"

namespace modeld::store {

Result<std::optional<Lease>> Store::TryAcquireLease(const std::string& name,
                                                    const std::string& holder,
                                                    std::chrono::milliseconds ttl,
                                                    const std::string& take_from) {
  MutexLock lock(&mu_);
  std::optional<Lease> out;
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto now = db().NowMs();
    if (!now.has_value()) return now.error();
    auto got = TryAcquireLeaseRow(db(), name, holder, ttl, *now, take_from);
    if (!got.has_value()) return got.error();
    out = std::move(got.value());
    return Status::OK();
  });
  if (!s.ok()) return s;
  return out;
}

Status Store::RenewLease(Lease& lease, std::chrono::milliseconds ttl) {
  MutexLock lock(&mu_);
  Lease renewed = lease;
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto now = db().NowMs();
    if (!now.has_value()) return now.error();
    renewed = lease;
    return RenewLeaseRow(db(), renewed, ttl, *now);
  });
  if (s.ok()) lease = renewed;
  return s;
}

Status Store::ReleaseLease(const Lease& lease) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) { return ReleaseLeaseRow(db(), lease); });
}

Result<std::optional<Lease>> Store::GetLease(const std::string& name) {
  MutexLock lock(&mu_);
  return GetLeaseRow(db(), name);
}

Result<bool> Store::IsFenceCurrent(const std::string& name, int64_t fence) {
  MutexLock lock(&mu_);
  return FenceIsCurrent(db(), name, fence);
}

}  // namespace modeld::store
