#include "store/db.h"

namespace modeld::store {

Status Stmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.has_value()) return r.error();
    if (!*r) return Status::OK();
  }
}

Result<std::unique_ptr<Transaction>> Transaction::Begin(Db& db) {
  if (Status s = db.BeginWrite(); !s.ok()) return s;
  return std::unique_ptr<Transaction>(new Transaction(db));
}

Transaction::~Transaction() {
  if (!done_) (void)db_.Rollback();
}

Status Transaction::Commit() {
  Status s = db_.Commit();
  if (s.ok()) done_ = true;
  return s;
}

Result<Engine> RegistryEngine(std::string_view registry) {
  if (registry.empty()) return Engine::kSqlite;
  if (registry.starts_with("postgresql://") || registry.starts_with("postgres://")) {
    return Engine::kPostgres;
  }
  return Status::InvalidArgument(
      "the registry must be a postgresql:// or postgres:// URL (or nothing, for the data "
      "dir's registry.sqlite)");
}

}  // namespace modeld::store
