#include "store/registry_db.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/log.h"
#include "store/postgres.h"
#include "store/sqlite.h"

namespace modeld::store {

namespace fs = std::filesystem;

Result<std::unique_ptr<RegistryDb>> RegistryDb::OpenPostgres(const std::string& url) {
  auto db = store::OpenPostgres(url);
  if (!db.has_value()) return db.error();
  return std::make_unique<RegistryDb>(fs::path(), std::move(db.value()), Status::OK());
}

Result<std::unique_ptr<RegistryDb>> RegistryDb::Open(const fs::path& path, bool existing) {
  auto db = SqliteDb::Open(path);
  Status read_only_reason;
  if (!db.has_value()) {
    // A full disk (SQLite cannot map its -shm index) or a read-only one: an existing
    // registry can still be read, so ls, info, verify, rm and gc work.
    auto code = db.error().code();
    if (!existing || (code != Status::Code::kNoSpace && code != Status::Code::kPermissionDenied &&
                      code != Status::Code::kIoError)) {
      return db.error();
    }
    auto ro = SqliteDb::OpenReadOnly(path);
    if (!ro.has_value()) {
      return db.error();
    }
    log::Info("the registry is open read-only: {}", db.error().message());
    read_only_reason = db.error();
    db = std::move(ro.value());
  }
  return std::make_unique<RegistryDb>(path, std::move(db.value()), read_only_reason);
}

RegistryDb::RegistryDb(fs::path path, std::unique_ptr<Db> db, Status read_only_reason)
    : path_(std::move(path)), db_(std::move(db)), read_only_reason_(std::move(read_only_reason)) {
  read_only_ = db_->read_only();
}

Status RegistryDb::Writable() {
  if (!db_->read_only()) {
    return Status::OK();
  }
  // SQLite shares one -shm mapping among a process's connections to a file: while the
  // read-only one is open, a new connection would be read-only too. So it goes first.
  db_.reset();
  auto db = SqliteDb::Open(path_);
  if (db.has_value()) {
    db_ = std::move(db.value());
    read_only_reason_ = Status::OK();
    read_only_ = false;
    log::Info("the registry can be written again");
    return Status::OK();
  }
  read_only_reason_ = db.error();
  auto ro = SqliteDb::OpenReadOnly(path_);
  if (ro.has_value()) {
    db_ = std::move(ro.value());
  } else {
    // Not even readable any more (the file went?): an empty database in its place, so
    // every call fails ("no such table") instead of crashing.
    log::Warn("cannot reopen the registry: {}", ro.error().ToString());
    auto mem = SqliteDb::Open(":memory:");
    if (!mem.has_value()) {
      std::abort();
    }
    db_ = std::move(mem.value());
  }
  const Status& s = read_only_reason_;
  if (s.code() == Status::Code::kNoSpace) {
    return Status::NoSpace(
        "the disk is full: the registry can be read but not written until "
        "space is freed (" +
        s.message() + ")");
  }
  return s.WithContext("the registry is open read-only");
}

Status RegistryDb::WriteTx(const std::function<Status()>& body) {
  const bool pg = db_->engine() == Engine::kPostgres;
  const int attempts = pg ? kPgAttempts : 2;
  const Status::Code retry_on = pg ? Status::Code::kUnavailable : Status::Code::kNoSpace;
  auto pause = std::chrono::milliseconds(10);
  Status s;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0 && !pg) {
      // The WAL keeps the blocks of transactions already copied into the database: a
      // checkpoint lets the retry write into them instead of growing the file.
      if (Status c = db_->Checkpoint(); !c.ok()) {
        log::Debug("{}", c.ToString());
      }
    }
    if (attempt > 0 && pg) {
      log::Debug("retrying a registry write: {}", s.ToString());
      std::this_thread::sleep_for(pause);
      pause *= 2;
    }
    if (s = Writable(); !s.ok()) {
      return s;
    }
    auto tx = Transaction::Begin(*db_);
    if (!tx.has_value()) {
      s = tx.error();
    } else {
      s = body();
      if (s.ok()) {
        s = (*tx)->Commit();
      }
    }  // a transaction not committed rolls back here
    if (s.code() != retry_on) {
      return s;
    }
  }
  return s;
}

}  // namespace modeld::store
