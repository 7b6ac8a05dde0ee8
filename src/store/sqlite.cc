#include "store/sqlite.h"

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace modeld::store {

namespace {

// A "file:" URI for |path| (RFC 3986 unreserved characters and '/' kept, the rest
// percent-encoded) with |query| appended.
std::string FileUri(const std::filesystem::path& path, std::string_view query) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char c : path.native()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      uri.push_back(static_cast<char>(c));
    } else {
      uri += '%';
      uri.push_back(kHex[c >> 4]);
      uri.push_back(kHex[c & 15]);
    }
  }
  uri += '?';
  uri += query;
  return uri;
}

}  // namespace

Status SqliteStatus(sqlite3* db, int rc, std::string_view context) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::OK();
  std::string msg = std::string(context) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (db && (rc & 0xff) == SQLITE_IOERR) {
    // A -shm file that cannot grow, or a write that met ENOSPC: the disk is full.
    int err = sqlite3_system_errno(db);
    if (sqlite3_extended_errcode(db) == SQLITE_IOERR_SHMSIZE || err == ENOSPC || err == EDQUOT) {
      return Status::NoSpace(msg + " (" + std::strerror(err ? err : ENOSPC) + ")");
    }
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg);
    case SQLITE_CONSTRAINT:
      return Status::AlreadyExists(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corrupt(msg);
    case SQLITE_FULL:
      return Status::NoSpace(msg);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return Status::PermissionDenied(msg);
    default:
      return Status::IoError(msg);
  }
}

void SqliteStmt::Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }

void SqliteStmt::Bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void SqliteStmt::BindNull(int i) { sqlite3_bind_null(stmt_, i); }

Result<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(db_, rc, sqlite3_sql(stmt_));
}

std::string SqliteStmt::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::filesystem::path& path, int busy_ms) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(raw, rc, "open " + path.string());
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, false));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_ms);
  // Keep -wal and -shm when the last connection closes: opening again then needs no new
  // blocks, and later writes reuse the WAL's (not supported by ":memory:": ignored).
  int persist = 1;
  (void)sqlite3_file_control(raw, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  // mmap reads: listing 10,000 models should not be 4,000 read() calls.
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA foreign_keys=ON", "PRAGMA mmap_size=268435456"}) {
    if (Status s = db->Exec(pragma); !s.ok()) return s;
  }
  return db;
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::OpenReadOnly(const std::filesystem::path& path,
                                                         int busy_ms) {
  sqlite3* raw = nullptr;
  // readonly_shm: the -shm file is opened read-only, and when no writer has it initialised
  // SQLite rebuilds the WAL index in heap memory from the -wal file.
  std::string uri = FileUri(path, "mode=ro&readonly_shm=1");
  int rc = sqlite3_open_v2(uri.c_str(), &raw,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(raw, rc, "open " + path.string() + " read-only");
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, true));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_ms);
  for (const char* pragma : {"PRAGMA foreign_keys=ON", "PRAGMA mmap_size=268435456"}) {
    if (Status s = db->Exec(pragma); !s.ok()) return s;
  }
  // Opening is lazy: read the schema now, so a registry that cannot be read fails here.
  if (Status s = db->Exec("SELECT count(*) FROM sqlite_master"); !s.ok()) return s;
  return db;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Status SqliteDb::Checkpoint() {
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return SqliteStatus(db_, rc, "checkpoint");
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Status st = SqliteStatus(db_, rc, s.substr(0, 60));
    sqlite3_free(err);
    return st;
  }
  return Status::OK();
}

Result<Stmt> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db_, rc, "prepare " + std::string(sql.substr(0, 60)));
  return Stmt(std::make_unique<SqliteStmt>(db_, stmt));
}

Result<int64_t> SqliteDb::SchemaVersion() {
  auto st = Prepare("PRAGMA user_version");
  if (!st.has_value()) return st.error();
  auto row = st->Step();
  if (!row.has_value()) return row.error();
  return st->Int(0);
}

Status SqliteDb::SetSchemaVersion(int64_t version) {
  return Exec("PRAGMA user_version = " + std::to_string(version));
}

Result<int64_t> SqliteDb::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace modeld::store
