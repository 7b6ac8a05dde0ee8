// A thin RAII layer over SQLite: a connection, prepared statements, and transactions.
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

namespace modeld::store {

// Maps an SQLite result code to a Status: BUSY/LOCKED -> Unavailable, CONSTRAINT ->
// AlreadyExists, CORRUPT/NOTADB -> Corrupt, FULL (or an I/O error from ENOSPC/EDQUOT, or
// a -shm file that could not grow) -> NoSpace, PERM/READONLY/AUTH -> PermissionDenied,
// others -> IoError.
Status SqliteStatus(sqlite3* db, int rc, std::string_view context);

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  // Parameters are 1-based, as in SQLite.
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v);
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i);
  Stmt& Bind(int i, std::optional<int64_t> v) { return v ? Bind(i, *v) : BindNull(i); }

  // Makes the statement ready to run again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  // Returns true while a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, for statements that return no rows.
  Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens (creating) the database at |path| in WAL mode with foreign keys on and a
  // busy timeout of |busy_ms|, keeping its -wal and -shm files after the last close.
  // ":memory:" works for tests.
  static Result<std::unique_ptr<Db>> Open(const std::filesystem::path& path, int busy_ms = 10000);
  // Opens an existing database read-only without writing to the disk at all: the WAL index
  // is read into memory instead of the -shm file (SQLite's readonly_shm). For a full or
  // read-only file system, where Open fails. Writes fail with PermissionDenied.
  static Result<std::unique_ptr<Db>> OpenReadOnly(const std::filesystem::path& path,
                                                  int busy_ms = 10000);
  ~Db();

  bool read_only() const { return read_only_; }
  // Copies the WAL's committed pages into the database (a passive checkpoint), so that the
  // next write starts the WAL again from its beginning, in blocks it already has, instead
  // of growing it. REQUIRES: no transaction open on this connection.
  Status Checkpoint();

  Status Exec(std::string_view sql);
  Result<Stmt> Prepare(std::string_view sql);
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  sqlite3* raw() const { return db_; }

 private:
  Db(sqlite3* db, bool read_only) : db_(db), read_only_(read_only) {}
  sqlite3* db_;
  bool read_only_;
};

// BEGIN IMMEDIATE on construction (so writers queue on the busy timeout instead of
// failing at commit), ROLLBACK on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<std::unique_ptr<Transaction>> Begin(Db& db);
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Db& db) : db_(db) {}
  Db& db_;
  bool done_ = false;
};

}  // namespace modeld::store
