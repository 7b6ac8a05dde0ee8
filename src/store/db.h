// The registry's database, whatever the engine: a connection (Db), prepared statements
// (Stmt) and write transactions (Transaction). Two implementations: SQLite
// (store/sqlite.h, the embedded default) and PostgreSQL (store/postgres.h, --registry
// postgresql://...). The store's SQL is written once, for both (docs/store.md, "The
// registry's SQL"): parameters are SQLite's "?1".."?N" (PostgreSQL's statements get
// "$1".."$N"), upserts are INSERT ... ON CONFLICT, new ids come back with RETURNING; the
// few places where the engines differ ask engine().
//
// Nothing below throws: every failure is a Status, mapped to the same codes for both
// engines (SqliteStatus, PgStatus): a unique or other constraint -> AlreadyExists, a busy
// database, a serialization failure, a deadlock or a lost connection -> Unavailable, a
// full disk -> NoSpace, a permission -> PermissionDenied, corruption -> Corrupt, the rest
// -> IoError.
//
// Thread safety: a Db and its Stmts are used by one thread at a time (the store serialises
// access with its own mutex). Several processes may share one database: write transactions
// take turns (SQLite: BEGIN IMMEDIATE on a WAL file; PostgreSQL: an advisory lock).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace modeld::store {

enum class Engine { kSqlite, kPostgres };

// What a Stmt runs on: one engine's prepared statement. Implemented by store/sqlite.cc and
// store/postgres.cc; the store uses Stmt.
class StmtImpl {
 public:
  virtual ~StmtImpl() = default;
  virtual void Bind(int i, int64_t v) = 0;
  virtual void Bind(int i, std::string_view v) = 0;
  virtual void BindNull(int i) = 0;
  virtual void Reset() = 0;
  virtual Result<bool> Step() = 0;
  virtual int64_t Int(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
};

// A prepared statement. Parameters are 1-based ("?1" is Bind(1, ...)); a parameter not
// bound is NULL. Columns are 0-based.
class Stmt {
 public:
  explicit Stmt(std::unique_ptr<StmtImpl> impl) : impl_(std::move(impl)) {}

  Stmt& Bind(int i, int64_t v) {
    impl_->Bind(i, v);
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    impl_->Bind(i, v);
    return *this;
  }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i) {
    impl_->BindNull(i);
    return *this;
  }
  Stmt& Bind(int i, std::optional<int64_t> v) { return v ? Bind(i, *v) : BindNull(i); }

  // Makes the statement ready to run again with new bindings (all NULL).
  void Reset() { impl_->Reset(); }
  // Runs the statement on the first call; true while a row is available, false when done.
  Result<bool> Step() { return impl_->Step(); }
  // Steps to completion, for statements that return no rows.
  Status Run();

  // The current row's columns: NULL reads as 0 and "".
  int64_t Int(int col) const { return impl_->Int(col); }
  std::string Text(int col) const { return impl_->Text(col); }
  bool IsNull(int col) const { return impl_->IsNull(col); }

 private:
  std::unique_ptr<StmtImpl> impl_;
};

class Db {
 public:
  virtual ~Db() = default;

  virtual Engine engine() const = 0;
  // True for an SQLite registry opened read-only (SqliteDb::OpenReadOnly); never for
  // PostgreSQL.
  virtual bool read_only() const { return false; }

  // Runs |sql|: one or more statements without parameters.
  virtual Status Exec(std::string_view sql) = 0;
  virtual Result<Stmt> Prepare(std::string_view sql) = 0;
  // Rows changed by the last INSERT, UPDATE or DELETE run on this connection.
  virtual int64_t Changes() const = 0;

  // A write transaction that other writers (other connections, other processes) wait for
  // instead of conflicting with: SQLite's BEGIN IMMEDIATE; on PostgreSQL BEGIN and a
  // transaction-scoped advisory lock every modeld's writes take. Use Transaction.
  virtual Status BeginWrite() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;

  // Copies an SQLite WAL into the database (store/sqlite.h); OK and nothing else elsewhere.
  // REQUIRES: no transaction open on this connection.
  virtual Status Checkpoint() { return Status::OK(); }

  // The registry's schema version (0 for a new database): SQLite's PRAGMA user_version; on
  // PostgreSQL the row of the modeld_schema_version table (none: 0). Reads only.
  virtual Result<int64_t> SchemaVersion() = 0;
  // Records |version|. REQUIRES: inside a write transaction.
  virtual Status SetSchemaVersion(int64_t version) = 0;

  // Milliseconds since the epoch on the clock that every process sharing this database
  // agrees on (leases expire by it): the local clock for SQLite (one machine); the
  // server's clock_timestamp() for PostgreSQL, whatever each host's clock says.
  virtual Result<int64_t> NowMs() = 0;
};

// BeginWrite() on construction, Rollback() on destruction unless Commit() succeeded.
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

// Which engine a registry location names: kPostgres for "postgresql://" and "postgres://"
// URLs (libpq's connection URIs), kSqlite for "" (<data_dir>/registry.sqlite). Anything
// else is InvalidArgument.
Result<Engine> RegistryEngine(std::string_view registry);

}  // namespace modeld::store
