// Leases with fencing tokens: work that one process of several sharing a registry does at
// a time (say, fetching one missing blob for a mirror), and a way to tell a stale holder's
// writes from the current one's (docs/store.md, "Leases").
//
// A lease is a row of the leases table: its name, its holder (whatever the caller names
// itself, unique per process: "host:pid:..."), a fence and when it expires. Nobody holds a
// lease whose expiry has passed, whoever is written in it: the next TryAcquire takes it.
// Each time a lease changes hands (taken when free, expired or released) its fence grows by
// one, per name, for ever: a released lease keeps its row and fence. A holder that lost
// its lease (it expired: a pause, a partition) can find out with FenceIsCurrent, in the
// same write transaction as the write it guards.
//
// Expiry is on one clock for every process: Db::NowMs (PostgreSQL's clock_timestamp(), so
// hosts whose clocks disagree still agree; SQLite's is the local clock of the one machine).
//
// The Store's methods (Store::TryAcquireLease, RenewLease, ReleaseLease, GetLease,
// IsFenceCurrent) run these in its write transactions, which serialise every writer of the
// registry (store/db.h): two processes racing for a lease cannot both win.
//
// Thread safety: the functions run on the Db they are given (one thread at a time).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

struct Lease {
  std::string name;
  std::string holder;
  int64_t fence = 0;
  int64_t expires_at_ms = 0;  // Db::NowMs's clock
  bool operator==(const Lease&) const = default;
};

// Takes |name| for |holder| until |now_ms| + |ttl| if nobody holds it, its lease expired
// or was released: fence = the previous fence + 1 (1 for a name never leased). Renews
// |holder|'s own valid lease (same fence). nullopt while another holder's lease is valid.
// InvalidArgument for an empty name or holder or a ttl below 1 ms. A valid lease whose
// holder begins with a non-empty |take_from| (and is not |holder|) is taken as if expired.
// REQUIRES: a write transaction open on |db|.
Result<std::optional<Lease>> TryAcquireLeaseRow(Db& db, const std::string& name,
                                                const std::string& holder,
                                                std::chrono::milliseconds ttl, int64_t now_ms,
                                                std::string_view take_from = {});

// Extends |lease| (held by its holder with its fence and not expired at |now_ms|) to
// |now_ms| + |ttl|, updating lease.expires_at_ms. FailedPrecondition when it was lost
// (expired, released, or taken by another). REQUIRES: a write transaction open on |db|.
Status RenewLeaseRow(Db& db, Lease& lease, std::chrono::milliseconds ttl, int64_t now_ms);

// Ends |lease| if still held with its fence (its row stays: holder "", expiry 0); OK and
// nothing changed otherwise. REQUIRES: a write transaction open on |db|.
Status ReleaseLeaseRow(Db& db, const Lease& lease);

// The lease of |name| as recorded, expired ones too; nullopt when never taken or released.
Result<std::optional<Lease>> GetLeaseRow(Db& db, const std::string& name);

// True if |fence| is |name|'s current fence and the lease was not released since (it may
// have expired without anyone taking it: no other holder can have written meanwhile).
// Inside the write transaction of the write it guards, the answer holds until the commit.
Result<bool> FenceIsCurrent(Db& db, const std::string& name, int64_t fence);

}  // namespace modeld::store
