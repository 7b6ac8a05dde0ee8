#include "store/leases.h"

namespace modeld::store {

Result<std::optional<Lease>> TryAcquireLeaseRow(Db& db, const std::string& name,
                                                const std::string& holder,
                                                std::chrono::milliseconds ttl, int64_t now_ms,
                                                std::string_view take_from) {
  if (name.empty() || holder.empty()) {
    return Status::InvalidArgument("a lease needs a name and a holder");
  }
  if (ttl.count() < 1) return Status::InvalidArgument("a lease needs a ttl of 1 ms or more");
  auto q = db.Prepare("SELECT holder, fence, expires_at FROM leases WHERE name=?1");
  if (!q.has_value()) return q.error();
  auto row = q->Bind(1, name).Step();
  if (!row.has_value()) return row.error();
  Lease lease{name, holder, 1, now_ms + ttl.count()};
  if (*row) {
    const std::string current = q->Text(0);
    const int64_t fence = q->Int(1);
    const bool taken_over = !take_from.empty() && current != holder &&
                            std::string_view(current).substr(0, take_from.size()) == take_from;
    const bool valid = !current.empty() && q->Int(2) > now_ms && !taken_over;
    if (valid && current != holder) return std::optional<Lease>();
    // Our own valid lease is renewed as it is; any other changes hands.
    lease.fence = valid ? fence : fence + 1;
  }
  auto put = db.Prepare(
      "INSERT INTO leases(name, holder, fence, expires_at) VALUES (?1,?2,?3,?4) "
      "ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, fence=excluded.fence, "
      "expires_at=excluded.expires_at");
  if (!put.has_value()) return put.error();
  if (Status s = put->Bind(1, name)
                     .Bind(2, holder)
                     .Bind(3, lease.fence)
                     .Bind(4, lease.expires_at_ms)
                     .Run();
      !s.ok()) {
    return s;
  }
  return std::optional<Lease>(std::move(lease));
}

Status RenewLeaseRow(Db& db, Lease& lease, std::chrono::milliseconds ttl, int64_t now_ms) {
  if (ttl.count() < 1) return Status::InvalidArgument("a lease needs a ttl of 1 ms or more");
  auto q = db.Prepare(
      "UPDATE leases SET expires_at=?1 WHERE name=?2 AND holder=?3 AND fence=?4 AND "
      "expires_at > ?5");
  if (!q.has_value()) return q.error();
  const int64_t expires = now_ms + ttl.count();
  if (Status s = q->Bind(1, expires)
                     .Bind(2, lease.name)
                     .Bind(3, lease.holder)
                     .Bind(4, lease.fence)
                     .Bind(5, now_ms)
                     .Run();
      !s.ok()) {
    return s;
  }
  if (db.Changes() == 0) {
    return Status::FailedPrecondition("the lease '" + lease.name + "' (fence " +
                                      std::to_string(lease.fence) + ") was lost");
  }
  lease.expires_at_ms = expires;
  return Status::OK();
}

Status ReleaseLeaseRow(Db& db, const Lease& lease) {
  auto q = db.Prepare(
      "UPDATE leases SET holder='', expires_at=0 WHERE name=?1 AND holder=?2 AND fence=?3");
  if (!q.has_value()) return q.error();
  return q->Bind(1, lease.name).Bind(2, lease.holder).Bind(3, lease.fence).Run();
}

Result<std::optional<Lease>> GetLeaseRow(Db& db, const std::string& name) {
  auto q = db.Prepare("SELECT holder, fence, expires_at FROM leases WHERE name=?1");
  if (!q.has_value()) return q.error();
  auto row = q->Bind(1, name).Step();
  if (!row.has_value()) return row.error();
  if (!*row || q->Text(0).empty()) return std::optional<Lease>();
  return std::optional<Lease>(Lease{name, q->Text(0), q->Int(1), q->Int(2)});
}

Result<bool> FenceIsCurrent(Db& db, const std::string& name, int64_t fence) {
  auto lease = GetLeaseRow(db, name);
  if (!lease.has_value()) return lease.error();
  return lease->has_value() && (*lease)->fence == fence;
}

}  // namespace modeld::store
