#include "store/postgres.h"

#include <cstdlib>
#include <vector>

#include "core/redact.h"

#ifdef MODELD_HAVE_PQXX
#include <pqxx/pqxx>
#endif

namespace modeld::store {

std::string PgPlaceholders(std::string_view sql, int* params) {
  std::string out;
  out.reserve(sql.size() + 8);
  int highest = 0;
  char quote = 0;  // inside '...' or "..."
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote) {
      out.push_back(c);
      if (c == quote) quote = 0;  // a doubled quote closes and opens again: same result
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out.push_back(c);
      continue;
    }
    if (c != '?') {
      out.push_back(c);
      continue;
    }
    size_t j = i + 1;
    int n = 0;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9' && n < 100000) {
      n = n * 10 + (sql[j] - '0');
      ++j;
    }
    if (j == i + 1) n = highest + 1;  // a bare "?": the next number, as SQLite counts
    if (n > highest) highest = n;
    out += '$';
    out += std::to_string(n);
    i = j - 1;
  }
  if (params) *params = highest;
  return out;
}

namespace {

// |text| with every postgresql:// or postgres:// URL in it redacted (RedactUrl: its
// password), besides the http(s) ones RedactText finds.
std::string RedactPgUrls(std::string text) {
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    for (size_t at = text.find(scheme); at != std::string::npos; at = text.find(scheme, at + 1)) {
      size_t end = text.find_first_of(" \t\n\"'<>()", at);
      if (end == std::string::npos) end = text.size();
      std::string redacted = RedactUrl(text.substr(at, end - at));
      text.replace(at, end - at, redacted);
    }
  }
  return RedactText(text);
}

}  // namespace

std::string WithConnectionDefaults(const std::string& url) {
  std::string out = url;
  for (std::string_view param : {"connect_timeout=10", "application_name=modeld"}) {
    std::string_view name = param.substr(0, param.find('=') + 1);
    const size_t query = out.find('?');
    // A parameter the URL sets itself wins.
    if (query != std::string::npos &&
        (out.find("?" + std::string(name), query) != std::string::npos ||
         out.find("&" + std::string(name), query) != std::string::npos)) {
      continue;
    }
    out += query == std::string::npos ? '?' : '&';
    out += param;
  }
  return out;
}

Status PgStatus(std::string_view state, const std::string& message) {
  std::string msg = RedactPgUrls(message);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  auto starts = [&](std::string_view p) { return state.starts_with(p); };
  if (state.empty() || starts("08") || state == "40001" || state == "40P01" || state == "55P03" ||
      starts("57P") || (starts("53") && state != "53100")) {
    return Status::Unavailable(msg);
  }
  if (starts("23")) return Status::AlreadyExists(msg);
  if (state == "53100") return Status::NoSpace(msg);
  if (state == "42501" || starts("28") || state == "25006") return Status::PermissionDenied(msg);
  if (state == "XX001" || state == "XX002") return Status::Corrupt(msg);
  return Status::IoError(msg);
}

#ifndef MODELD_HAVE_PQXX

bool PostgresSupported() { return false; }

Result<std::unique_ptr<Db>> OpenPostgres(const std::string&) {
  return Status::FailedPrecondition(
      "this modeld was built without PostgreSQL support (libpqxx): install libpqxx-dev and "
      "build again, or leave out --registry");
}

#else

namespace {

// |e| (anything libpqxx or the standard library throws) as a Status, with |context|.
Status FromException(const std::exception& e, std::string_view context) {
  std::string msg = std::string(context) + ": " + e.what();
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    return PgStatus(sql->sqlstate(), msg);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return PgStatus("", msg);
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e)) return PgStatus("40001", msg);
  return Status::IoError(RedactPgUrls(msg));
}

std::string Head(std::string_view sql) {
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n')) sql.remove_prefix(1);
  return std::string(sql.substr(0, 60));
}

class PgDb;

class PgStmt final : public StmtImpl {
 public:
  PgStmt(PgDb* db, std::string sql, int params)
      : db_(db), sql_(std::move(sql)), params_(static_cast<size_t>(params)) {}

  void Bind(int i, int64_t v) override { Set(i, std::to_string(v)); }
  void Bind(int i, std::string_view v) override { Set(i, std::string(v)); }
  void BindNull(int i) override {
    if (i >= 1 && static_cast<size_t>(i) <= params_.size()) params_[i - 1].reset();
  }
  void Reset() override {
    for (auto& p : params_) p.reset();
    result_ = pqxx::result();
    ran_ = false;
    row_ = 0;
  }
  Result<bool> Step() override;
  int64_t Int(int col) const override {
    const pqxx::field f = result_[static_cast<pqxx::result::size_type>(row_ - 1)][col];
    if (f.is_null()) return 0;
    const char* s = f.c_str();
    if (s[0] == 't' && s[1] == 0) return 1;  // a boolean
    return std::strtoll(s, nullptr, 10);
  }
  std::string Text(int col) const override {
    const pqxx::field f = result_[static_cast<pqxx::result::size_type>(row_ - 1)][col];
    if (f.is_null()) return {};
    return std::string(f.c_str(), f.size());
  }
  bool IsNull(int col) const override {
    return result_[static_cast<pqxx::result::size_type>(row_ - 1)][col].is_null();
  }

 private:
  void Set(int i, std::string v) {
    if (i >= 1 && static_cast<size_t>(i) <= params_.size()) params_[i - 1] = std::move(v);
  }

  PgDb* db_;
  const std::string sql_;
  std::vector<std::optional<std::string>> params_;
  pqxx::result result_;
  bool ran_ = false;
  size_t row_ = 0;  // 1-based: the row Int/Text read
};

class PgDb final : public Db {
 public:
  explicit PgDb(std::string url) : url_(std::move(url)) {}

  Status Connect() {
    try {
      conn_ = std::make_unique<pqxx::connection>(url_);
      pqxx::nontransaction n(*conn_);
      // CREATE ... IF NOT EXISTS and the like send notices: not for modeld's stderr.
      n.exec("SET client_min_messages = warning");
      return Status::OK();
    } catch (const std::exception& e) {
      conn_.reset();
      return FromException(e, "connecting to the PostgreSQL registry " + RedactUrl(url_));
    }
  }

  Engine engine() const override { return Engine::kPostgres; }

  Status Exec(std::string_view sql) override {
    auto r = Run(std::string(sql), {});
    return r.has_value() ? Status::OK() : r.error();
  }

  Result<Stmt> Prepare(std::string_view sql) override {
    int params = 0;
    std::string pg = PgPlaceholders(sql, &params);
    return Stmt(std::make_unique<PgStmt>(this, std::move(pg), params));
  }

  int64_t Changes() const override { return changes_; }

  Status BeginWrite() override {
    if (tx_) return Status::FailedPrecondition("a registry transaction is already open");
    if (Status s = Reconnect(); !s.ok()) return s;
    try {
      tx_ = std::make_unique<pqxx::work>(*conn_);
      tx_->exec("SELECT pg_advisory_xact_lock(" + std::to_string(kRegistryWriteLock) + ")");
      return Status::OK();
    } catch (const std::exception& e) {
      tx_.reset();
      return FromException(e, "BEGIN");
    }
  }

  Status Commit() override {
    if (!tx_) return Status::FailedPrecondition("no registry transaction is open");
    try {
      tx_->commit();
      tx_.reset();
      return Status::OK();
    } catch (const std::exception& e) {
      tx_.reset();
      return FromException(e, "COMMIT");
    }
  }

  Status Rollback() override {
    try {
      if (tx_) tx_->abort();
    } catch (const std::exception&) {
      // The transaction is gone either way (a lost connection rolls it back).
    }
    tx_.reset();
    return Status::OK();
  }

  Result<int64_t> SchemaVersion() override {
    auto r =
        Run("SELECT CASE WHEN to_regclass('modeld_schema_version') IS NULL THEN 0 ELSE "
            "1 END",
            {});
    if (!r.has_value()) return r.error();
    if (r->empty() || std::strtoll((*r)[0][0].c_str(), nullptr, 10) == 0) return 0;
    auto v = Run("SELECT COALESCE(MAX(version), 0) FROM modeld_schema_version", {});
    if (!v.has_value()) return v.error();
    return static_cast<int64_t>(std::strtoll((*v)[0][0].c_str(), nullptr, 10));
  }

  Status SetSchemaVersion(int64_t version) override {
    return Exec(
        "CREATE TABLE IF NOT EXISTS modeld_schema_version (version BIGINT NOT NULL); "
        "DELETE FROM modeld_schema_version; "
        "INSERT INTO modeld_schema_version VALUES (" +
        std::to_string(version) + ")");
  }

  Result<int64_t> NowMs() override {
    auto r = Run("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", {});
    if (!r.has_value()) return r.error();
    return static_cast<int64_t>(std::strtoll((*r)[0][0].c_str(), nullptr, 10));
  }

  // Runs |sql| with |params| (none: as a script of one or more statements) in the open
  // write transaction, else on its own.
  Result<pqxx::result> Run(const std::string& sql,
                           const std::vector<std::optional<std::string>>& params) {
    if (!tx_) {
      if (Status s = Reconnect(); !s.ok()) return s;
    }
    try {
      std::vector<const char*> values;
      values.reserve(params.size());
      for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
      auto exec = [&](pqxx::transaction_base& t) {
        return params.empty() ? t.exec(sql)
                              : t.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
      };
      pqxx::result r;
      if (tx_) {
        r = exec(*tx_);
      } else {
        pqxx::nontransaction n(*conn_);
        r = exec(n);
      }
      changes_ = static_cast<int64_t>(r.affected_rows());
      return r;
    } catch (const std::exception& e) {
      return FromException(e, Head(sql));
    }
  }

 private:
  // A connection that was lost (the server restarted, a network blip) is made again, but
  // never inside a transaction: that one is lost, and its statements fail.
  Status Reconnect() {
    if (conn_ && conn_->is_open()) return Status::OK();
    return Connect();
  }

  const std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::work> tx_;
  int64_t changes_ = 0;
};

Result<bool> PgStmt::Step() {
  if (!ran_) {
    auto r = db_->Run(sql_, params_);
    if (!r.has_value()) return r.error();
    result_ = std::move(r.value());
    ran_ = true;
    row_ = 0;
  }
  if (row_ < result_.size()) {
    ++row_;
    return true;
  }
  return false;
}

}  // namespace

bool PostgresSupported() { return true; }

Result<std::unique_ptr<Db>> OpenPostgres(const std::string& url) {
  auto db = std::make_unique<PgDb>(WithConnectionDefaults(url));
  if (Status s = db->Connect(); !s.ok()) return s;
  return std::unique_ptr<Db>(std::move(db));
}

#endif  // MODELD_HAVE_PQXX

}  // namespace modeld::store
