// The registry on SQLite (store/db.h's interface): a connection and prepared statements.
// All SQL of modeld lives in store/; nothing outside this module includes sqlite3.h.
//
// Thread safety: a Db and its Stmts are used by one thread at a time (the store
// serialises access with its own mutex). Several processes may open the same file:
// WAL mode and a busy timeout make them take turns.
//
// A full disk: the -wal and -shm files are kept when the last connection closes
// (SQLITE_FCNTL_PERSIST_WAL), so opening the registry again allocates no new blocks and a
// checkpointed WAL's blocks are reused by the next writes (Checkpoint). When even that
// fails (a -shm file that must grow on a full file system), OpenReadOnly reads the
// registry without writing anything.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

// Maps an SQLite result code to a Status: BUSY/LOCKED -> Unavailable, CONSTRAINT ->
// AlreadyExists, CORRUPT/NOTADB -> Corrupt, FULL (or an I/O error from ENOSPC/EDQUOT, or
// a -shm file that could not grow) -> NoSpace, PERM/READONLY/AUTH -> PermissionDenied,
// others -> IoError.
Status SqliteStatus(sqlite3* db, int rc, std::string_view context);

// A statement prepared on an SQLite connection.
class SqliteStmt final : public StmtImpl {
 public:
  SqliteStmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt() override { sqlite3_finalize(stmt_); }

  void Bind(int i, int64_t v) override;
  void Bind(int i, std::string_view v) override;
  void BindNull(int i) override;
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Result<bool> Step() override;
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const override;
  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteDb final : public Db {
 public:
  // Opens (creating) the database at |path| in WAL mode with foreign keys on and a
  // busy timeout of |busy_ms|, keeping its -wal and -shm files after the last close.
  // ":memory:" works for tests.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::filesystem::path& path,
                                                int busy_ms = 10000);
  // Opens an existing database read-only without writing to the disk at all: the WAL index
  // is read into memory instead of the -shm file (SQLite's readonly_shm). For a full or
  // read-only file system, where Open fails. Writes fail with PermissionDenied.
  static Result<std::unique_ptr<SqliteDb>> OpenReadOnly(const std::filesystem::path& path,
                                                        int busy_ms = 10000);
  ~SqliteDb() override;

  Engine engine() const override { return Engine::kSqlite; }
  bool read_only() const override { return read_only_; }
  // Copies the WAL's committed pages into the database (a passive checkpoint), so that the
  // next write starts the WAL again from its beginning, in blocks it already has, instead
  // of growing it. REQUIRES: no transaction open on this connection.
  Status Checkpoint() override;

  Status Exec(std::string_view sql) override;
  Result<Stmt> Prepare(std::string_view sql) override;
  int64_t Changes() const override { return sqlite3_changes(db_); }
  // BEGIN IMMEDIATE (so writers queue on the busy timeout instead of failing at commit).
  Status BeginWrite() override { return Exec("BEGIN IMMEDIATE"); }
  Status Commit() override { return Exec("COMMIT"); }
  Status Rollback() override { return Exec("ROLLBACK"); }
  // PRAGMA user_version.
  Result<int64_t> SchemaVersion() override;
  Status SetSchemaVersion(int64_t version) override;
  // The local clock (system_clock).
  Result<int64_t> NowMs() override;

  sqlite3* raw() const { return db_; }

 private:
  SqliteDb(sqlite3* db, bool read_only) : db_(db), read_only_(read_only) {}
  sqlite3* db_;
  bool read_only_;
};

}  // namespace modeld::store
