// The registry's connection as the store needs it. SQLite on any disk (docs/store.md,
// "A full disk"): opened read-write, else (an existing registry on a full or read-only
// file system) read-only; every write first reopens it read-write, so it heals once space
// is freed; a write that fails for want of space is rolled back and retried once into the
// WAL's own blocks. PostgreSQL (store/postgres.h): a write that fails as Unavailable (a
// serialization failure, a deadlock, a lost connection) is rolled back and run again, a
// few times.
//
// Thread safety: not thread-safe. Store calls every method with its mutex held (REQUIRES:
// Store::mu_ held), except read_only(), which any thread may call.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

class RegistryDb {
 public:
  // Opens (creating) the registry at |path|. When SQLite cannot open it read-write
  // (NoSpace, PermissionDenied, IoError) and |existing| (the file was there before this
  // open), opens it read-only instead; otherwise returns the error.
  static Result<std::unique_ptr<RegistryDb>> Open(const std::filesystem::path& path, bool existing);
  // Connects to the PostgreSQL registry at |url| (store/postgres.h).
  static Result<std::unique_ptr<RegistryDb>> OpenPostgres(const std::string& url);
  // Wraps |db|, already open on |path| (read-only when |db| is, for |read_only_reason|);
  // |path| is empty for PostgreSQL.
  RegistryDb(std::filesystem::path path, std::unique_ptr<Db> db, Status read_only_reason);

  // The connection. It changes when Writable() reopens it: do not keep the reference, or
  // statements prepared on it, across a call to Writable() or WriteTx().
  Db& db() { return *db_; }

  // True while the registry is open read-only. Safe from any thread.
  bool read_only() const { return read_only_; }

  // OK once db() can be written: reopens it read-write if it was open read-only. Else
  // NoSpace ("the disk is full: ...") or the reason it stays read-only, with db() still
  // readable (or, if the file cannot even be read any more, an empty database in its
  // place: every query then fails, nothing crashes).
  Status Writable();

  // Runs |body| in a write transaction (Db::BeginWrite) and commits; rolls back if |body|
  // or the commit fails. On NoSpace (SQLite) it rolls back, checkpoints the WAL (so the
  // retry reuses its blocks) and runs |body| once more; on Unavailable (PostgreSQL) it
  // rolls back and runs |body| again, up to kPgAttempts times in all, after a short pause
  // that doubles: |body| must be safe to run again. Returns Writable()'s error, |body|'s,
  // or the commit's.
  Status WriteTx(const std::function<Status()>& body);

 private:
  static constexpr int kPgAttempts = 5;

  std::filesystem::path path_;
  std::unique_ptr<Db> db_;
  Status read_only_reason_;  // why db_ is read-only
  std::atomic<bool> read_only_{false};
};

}  // namespace modeld::store
