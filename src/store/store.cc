#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sys/random.h>
#include <set>
#include <unordered_map>

#include "core/json.h"
#include "core/checksum.h"
#include "core/log.h"
#include "store/sqlite.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

// Numbered migrations: index i upgrades user_version i to i + 1. Append only.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE models (
      id           INTEGER PRIMARY KEY,
      name         TEXT NOT NULL,
      version      TEXT NOT NULL,
      source       TEXT NOT NULL DEFAULT '',
      description  TEXT NOT NULL DEFAULT '',
      tags         TEXT NOT NULL DEFAULT '[]',
      metadata     TEXT NOT NULL DEFAULT '{}',
      status       TEXT NOT NULL,
      content_dir  TEXT NOT NULL,
      created_at   INTEGER NOT NULL,
      installed_at INTEGER NOT NULL,
      UNIQUE (name, version)
    );
    CREATE TABLE files (
      model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
      path     TEXT NOT NULL,
      size     INTEGER NOT NULL,
      sha256   TEXT NOT NULL,
      PRIMARY KEY (model_id, path)
    );
    CREATE INDEX files_by_sha256 ON files(sha256);
    CREATE TABLE jobs (
      id          TEXT PRIMARY KEY,
      model       TEXT NOT NULL,
      request     TEXT NOT NULL,
      state       TEXT NOT NULL,
      bytes_done  INTEGER NOT NULL DEFAULT 0,
      bytes_total INTEGER,
      error       TEXT,
      created_at  INTEGER NOT NULL,
      updated_at  INTEGER NOT NULL
    );
    CREATE TABLE url_blobs (
      url    TEXT PRIMARY KEY,
      path   TEXT NOT NULL,
      size   INTEGER NOT NULL,
      sha256 TEXT NOT NULL
    );
    )sql",
    // 2: installs whose model symlink may not point at their content yet. Written in the
    // install's transaction, deleted after the swap; Open() finishes what is left.
    R"sql(
    CREATE TABLE pending_links (
      name        TEXT NOT NULL,
      version     TEXT NOT NULL,
      content_dir TEXT NOT NULL,
      PRIMARY KEY (name, version)
    );
    -- Each model's total size, so listing does not sum its files.
    ALTER TABLE models ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    UPDATE models SET size = (SELECT COALESCE(SUM(size), 0) FROM files WHERE model_id = models.id);
    )sql",
    // 3: runs of a job that the process did not live to finish, so a job that crashes
    // the server is not retried at every start for ever (JobManager::Recover).
    R"sql(
    ALTER TABLE jobs ADD COLUMN interrupted_runs INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN run_start_bytes INTEGER NOT NULL DEFAULT 0;
    )sql",
};

std::string& CrashPoint() {
  static std::string point;
  return point;
}
void MaybeCrash(const char* point) {
  if (CrashPoint() == point) ::_exit(86);
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Unique names come from the kernel's entropy, not a seeded PRNG, so forked or
// concurrent processes never pick the same one.
std::string RandomHex(size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::vector<unsigned char> bytes((n + 1) / 2);
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  std::string s;
  for (unsigned char b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  s.resize(n);
  return s;
}

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  return home && *home ? home : "/root";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Links |target| at |link|: a hard link, else a symlink, else a copy. |link| must not
// exist. Hard links share the inode, so blobs are kept read-only.
Status LinkOrCopy(const fs::path& target, const fs::path& link) {
  if (::link(target.c_str(), link.c_str()) == 0) return Status::OK();
  int err = errno;
  if (err != EXDEV && err != EPERM && err != EMLINK && err != ENOTSUP) {
    return ErrnoStatus("link " + link.string(), err);
  }
  if (::symlink(target.c_str(), link.c_str()) == 0) return Status::OK();
  std::error_code ec;
  fs::copy_file(target, link, ec);
  if (ec) return Status::IoError("copy " + target.string() + " to " + link.string() + ": " + ec.message());
  return Status::OK();
}

// Atomically points |link| at |target| (a relative path): tmp symlink + rename.
Status ReplaceSymlink(const fs::path& target, const fs::path& link) {
  fs::path tmp = link.parent_path() / ("." + link.filename().string() + ".tmp" + RandomHex(8));
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return ErrnoStatus("symlink " + tmp.string(), errno);
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("rename " + tmp.string(), err);
  }
  return FsyncDir(link.parent_path());
}

// Writes |data| to |path| atomically (tmp + fsync + rename).
Status WriteFileAtomic(const fs::path& path, const std::string& data) {
  fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp" + RandomHex(8));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open " + tmp.string(), errno);
  Status s = PwriteAll(fd.get(), data.data(), data.size(), 0);
  if (s.ok() && ::fsync(fd.get()) != 0) s = ErrnoStatus("fsync " + tmp.string(), errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("rename " + tmp.string(), errno);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

uint64_t TreeBytes(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  }
  return n;
}

Status CreateDirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("create " + dir.string() + ": " + ec.message());
  return Status::OK();
}

// The symlink target for models/<name>/<version>: "../" once per directory between the
// link and the data dir, then content/<id>. Pure string work: no syscalls.
fs::path ContentLinkTarget(const ModelRef& ref, const std::string& content_id) {
  std::string up = "../";  // out of models/
  for (char c : ref.name) {
    if (c == '/') up += "../";
  }
  up += "../";  // out of the last name segment
  return fs::path(up) / "content" / content_id;
}

}  // namespace

nlohmann::json ModelInfo::ToJson() const {
  nlohmann::json j;
  j["name"] = ref.name;
  j["version"] = ref.version;
  j["ref"] = ref.ToString();
  j["status"] = status;
  j["source"] = source;
  j["description"] = description;
  j["tags"] = tags;
  j["metadata"] = metadata.is_null() ? nlohmann::json::object() : metadata;
  j["size"] = size;
  j["path"] = path.string();
  j["created_at"] = created_at;
  j["installed_at"] = installed_at;
  if (!files.empty()) {
    auto arr = nlohmann::json::array();
    for (const auto& f : files) arr.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    j["files"] = arr;
  }
  return j;
}

nlohmann::json CacheReport::ToJson(const StoreOptions& options) const {
  auto per = nlohmann::json::array();
  for (const auto& [ref, size] : per_model) per.push_back({{"ref", ref}, {"size", size}});
  return {{"data_dir", options.data_dir.string()},
          {"hf_cache", options.hf_cache.string()},
          {"models", model_count},
          {"blobs", blob_count},
          {"blob_bytes", blob_bytes},
          {"logical_bytes", logical_bytes},
          {"partials", partial_count},
          {"partial_bytes", partial_bytes},
          {"free_bytes", free_bytes},
          {"per_model", per}};
}

StoreOptions DefaultStoreOptions(const std::string& data_dir_flag) {
  StoreOptions o;
  if (!data_dir_flag.empty()) {
    o.data_dir = data_dir_flag;
  } else if (!Env("MODELD_HOME").empty()) {
    o.data_dir = Env("MODELD_HOME");
  } else if (!Env("XDG_DATA_HOME").empty()) {
    o.data_dir = fs::path(Env("XDG_DATA_HOME")) / "modeld";
  } else {
    o.data_dir = fs::path(HomeDir()) / ".local" / "share" / "modeld";
  }
  if (!Env("HF_HUB_CACHE").empty()) {
    o.hf_cache = Env("HF_HUB_CACHE");
  } else if (!Env("HF_HOME").empty()) {
    o.hf_cache = fs::path(Env("HF_HOME")) / "hub";
  } else {
    o.hf_cache = fs::path(HomeDir()) / ".cache" / "huggingface" / "hub";
  }
  return o;
}

void Store::SetCrashPointForTest(const std::string& point) { CrashPoint() = point; }

Store::Store(StoreOptions options, std::unique_ptr<Db> db, Status read_only_reason)
    : options_(std::move(options)),
      db_(std::move(db)),
      read_only_reason_(std::move(read_only_reason)) {
  read_only_ = db_->read_only();
}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  StoreOptions o = options;
  std::error_code ec;
  o.data_dir = fs::absolute(o.data_dir, ec);
  const fs::path registry = o.data_dir / "registry.sqlite";
  const bool existing = fs::exists(registry, ec);
  for (const char* sub : {"blobs/sha256", "content", "models", "partial", "locks", "removing"}) {
    // Directories that exist cost nothing. One a full disk cannot hold (removing/ in a data
    // dir older than it) is made again when needed.
    if (Status s = CreateDirs(o.data_dir / sub); !s.ok()) {
      if (!existing) return s;
      log::Debug("{}", s.ToString());
    }
  }
  auto db = Db::Open(registry);
  Status read_only_reason;
  if (!db.has_value()) {
    // A full disk (SQLite cannot map its -shm index) or a read-only one: an existing
    // registry can still be read, so ls, info, verify, rm and gc work.
    auto code = db.error().code();
    if (!existing || (code != Status::Code::kNoSpace && code != Status::Code::kPermissionDenied &&
                      code != Status::Code::kIoError)) {
      return db.error();
    }
    auto ro = Db::OpenReadOnly(registry);
    if (!ro.has_value()) return db.error();
    log::Info("the registry is open read-only: {}", db.error().message());
    read_only_reason = db.error();
    db = std::move(ro.value());
  }
  std::unique_ptr<Store> store(new Store(o, std::move(db.value()), read_only_reason));
  if (Status s = store->Migrate(); !s.ok()) return s;
  if (Status s = store->RepairLinks(); !s.ok()) return s;
  if (Status s = store->FinishRemovals(); !s.ok()) {
    log::Warn("could not finish an interrupted removal (the next rm or gc retries): {}",
              s.message());
  }
  return store;
}

Status Store::Writable() {
  if (!db_->read_only()) return Status::OK();
  const fs::path registry = options_.data_dir / "registry.sqlite";
  // SQLite shares one -shm mapping among a process's connections to a file: while the
  // read-only one is open, a new connection would be read-only too. So it goes first.
  db_.reset();
  auto db = Db::Open(registry);
  if (db.has_value()) {
    db_ = std::move(db.value());
    read_only_reason_ = Status::OK();
    read_only_ = false;
    log::Info("the registry can be written again");
    return Status::OK();
  }
  read_only_reason_ = db.error();
  auto ro = Db::OpenReadOnly(registry);
  if (ro.has_value()) {
    db_ = std::move(ro.value());
  } else {
    // Not even readable any more (the file went?): an empty database in its place, so
    // every call fails ("no such table") instead of crashing.
    log::Warn("cannot reopen the registry: {}", ro.error().ToString());
    auto mem = Db::Open(":memory:");
    if (!mem.has_value()) std::abort();
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

Status Store::WriteTx(const std::function<Status()>& body) {
  Status s;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt > 0) {
      // The WAL keeps the blocks of transactions already copied into the database: a
      // checkpoint lets the retry write into them instead of growing the file.
      if (Status c = db_->Checkpoint(); !c.ok()) log::Debug("{}", c.ToString());
    }
    if (s = Writable(); !s.ok()) return s;
    auto tx = Transaction::Begin(*db_);
    if (!tx.has_value()) {
      s = tx.error();
    } else {
      s = body();
      if (s.ok()) s = (*tx)->Commit();
    }  // a transaction not committed rolls back here
    if (s.code() != Status::Code::kNoSpace) return s;
  }
  return s;
}

Status Store::Migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  {
    // The common case, an up-to-date schema, takes no write lock.
    auto st = db_->Prepare("PRAGMA user_version");
    if (!st.has_value()) return st.error();
    auto row = st->Step();
    if (!row.has_value()) return row.error();
    if (st->Int(0) == static_cast<int64_t>(std::size(kMigrations))) return Status::OK();
  }
  if (Status s = Writable(); !s.ok()) return s.WithContext("upgrading the registry");
  auto tx = Transaction::Begin(*db_);
  if (!tx.has_value()) return tx.error();
  auto st = db_->Prepare("PRAGMA user_version");
  if (!st.has_value()) return st.error();
  auto row = st->Step();
  if (!row.has_value()) return row.error();
  int64_t version = st->Int(0);
  const int64_t latest = static_cast<int64_t>(std::size(kMigrations));
  if (version > latest) {
    return Status::FailedPrecondition("registry schema version " + std::to_string(version) +
                                      " is newer than this modeld knows (" +
                                      std::to_string(latest) + "): upgrade modeld");
  }
  for (int64_t v = version; v < latest; ++v) {
    if (Status s = db_->Exec(kMigrations[v]); !s.ok()) return s.WithContext("migration " + std::to_string(v + 1));
  }
  if (version != latest) {
    if (Status s = db_->Exec("PRAGMA user_version = " + std::to_string(latest)); !s.ok()) return s;
  }
  return (*tx)->Commit();
}

fs::path Store::BlobPath(const std::string& sha256) const {
  return options_.data_dir / "blobs" / "sha256" / sha256;
}

fs::path Store::ModelPath(const ModelRef& ref) const {
  std::string p = options_.data_dir.native();
  p.reserve(p.size() + ref.name.size() + ref.version.size() + 10);
  p += "/models/";
  p += ref.name;
  p += '/';
  p += ref.version;
  return fs::path(std::move(p));
}

fs::path Store::PartialDir(const std::string& key) const {
  return options_.data_dir / "partial" / HashHex(HashAlgorithm::kSha256, key).substr(0, 32);
}

bool Store::HasBlob(const std::string& sha256, uint64_t size) const {
  struct stat st {};
  return ::stat(BlobPath(sha256).c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == size;
}

Status Store::AdoptBlob(const fs::path& file, const std::string& sha256) {
  if (sha256.size() != 64) return Status::InvalidArgument("not a sha256: " + sha256);
  fs::path blob = BlobPath(sha256);
  struct stat st {};
  if (::stat(blob.c_str(), &st) == 0) {
    ::unlink(file.c_str());  // already have it: keep one copy
    return Status::OK();
  }
  ::chmod(file.c_str(), 0444);
  // rename() replaces atomically: a concurrent adopter of the same digest is harmless.
  if (::rename(file.c_str(), blob.c_str()) != 0) {
    return ErrnoStatus("move " + file.string() + " into the blob store", errno);
  }
  return FsyncDir(blob.parent_path());
}

Result<ModelInfo> Store::Install(const InstallSpec& spec) {
  if (Status s = ValidateModelName(spec.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(spec.ref.version); !s.ok()) return s;
  std::set<std::string> seen;
  for (const auto& f : spec.files) {
    if (Status s = ValidateRelativePath(f.path); !s.ok()) return s;
    if (!seen.insert(f.path).second) return Status::InvalidArgument("file " + f.path + " listed twice");
    if (!HasBlob(f.sha256, f.size)) {
      return Status::NotFound("blob " + f.sha256 + " for " + f.path + " is not in the store");
    }
  }
  // 1. Build the new version in a fresh content dir.
  std::string content_id = RandomHex(24);
  fs::path content = options_.data_dir / "content" / content_id;
  if (Status s = CreateDirs(content); !s.ok()) return s;
  std::set<fs::path> dirs = {content};
  for (const auto& f : spec.files) {
    fs::path dst = content / f.path;
    if (Status s = CreateDirs(dst.parent_path()); !s.ok()) return s;
    if (Status s = LinkOrCopy(BlobPath(f.sha256), dst); !s.ok()) return s;
    dirs.insert(dst.parent_path());
  }
  for (const auto& d : dirs) {
    if (Status s = FsyncDir(d); !s.ok()) return s;
  }
  MaybeCrash("content");

  uint64_t total_size = 0;
  for (const auto& f : spec.files) total_size += f.size;

  // 2. Switch the registry in one transaction.
  fs::path link = ModelPath(spec.ref);
  std::string old_content;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Status committed = WriteTx([&]() -> Status {
      old_content.clear();
      auto q = db_->Prepare(
          "SELECT id, content_dir, created_at FROM models WHERE name=?1 AND version=?2");
      if (!q.has_value()) return q.error();
      q->Bind(1, spec.ref.name).Bind(2, spec.ref.version);
      auto row = q->Step();
      if (!row.has_value()) return row.error();
      int64_t now = NowSeconds();
      int64_t created = now;
      if (*row) {
        old_content = q->Text(1);
        created = q->Int(2);
        auto del = db_->Prepare("DELETE FROM models WHERE id=?1");
        if (!del.has_value()) return del.error();
        if (Status s = del->Bind(1, q->Int(0)).Run(); !s.ok()) return s;
      }
      auto ins = db_->Prepare(
          "INSERT INTO models(name, version, source, description, tags, metadata, status, "
          "content_dir, created_at, installed_at, size) "
          "VALUES (?1,?2,?3,?4,?5,?6,'available',?7,?8,?9,?10)");
      if (!ins.has_value()) return ins.error();
      ins->Bind(1, spec.ref.name)
          .Bind(2, spec.ref.version)
          .Bind(3, spec.source)
          .Bind(4, spec.description)
          .Bind(5, nlohmann::json(spec.tags).dump())
          .Bind(6, spec.metadata.is_null() ? std::string("{}") : spec.metadata.dump())
          .Bind(7, content_id)
          .Bind(8, created)
          .Bind(9, now)
          .Bind(10, static_cast<int64_t>(total_size));
      if (Status s = ins->Run(); !s.ok()) return s;
      int64_t id = db_->LastInsertId();
      auto pending = db_->Prepare(
          "INSERT OR REPLACE INTO pending_links(name, version, content_dir) VALUES (?1,?2,?3)");
      if (!pending.has_value()) return pending.error();
      if (Status s =
              pending->Bind(1, spec.ref.name).Bind(2, spec.ref.version).Bind(3, content_id).Run();
          !s.ok()) {
        return s;
      }
      auto fins =
          db_->Prepare("INSERT INTO files(model_id, path, size, sha256) VALUES (?1,?2,?3,?4)");
      if (!fins.has_value()) return fins.error();
      for (const auto& f : spec.files) {
        fins->Reset();
        if (Status s = fins->Bind(1, id)
                           .Bind(2, f.path)
                           .Bind(3, static_cast<int64_t>(f.size))
                           .Bind(4, f.sha256)
                           .Run();
            !s.ok()) {
          return s;
        }
      }
      return Status::OK();
    });
    if (!committed.ok()) return committed;
  }
  MaybeCrash("commit");

  // 3. Point the model path at the new content, then drop the old content.
  if (Status s = CreateDirs(link.parent_path()); !s.ok()) return s;
  if (Status s = ReplaceSymlink(ContentLinkTarget(spec.ref, content_id), link); !s.ok()) return s;
  MaybeCrash("swap");
  if (Status s = ClearPendingLink(spec.ref); !s.ok()) return s;
  if (!old_content.empty() && old_content != content_id) {
    std::error_code ec;
    fs::remove_all(options_.data_dir / "content" / old_content, ec);
  }
  return Get(spec.ref);
}

Status Store::ClearPendingLink(const ModelRef& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteTx([&]() -> Status {
    auto q = db_->Prepare("DELETE FROM pending_links WHERE name=?1 AND version=?2");
    if (!q.has_value()) return q.error();
    return q->Bind(1, ref.name).Bind(2, ref.version).Run();
  });
}

Status Store::RepairLinks() {
  // Only installs interrupted between their commit and their symlink swap are listed.
  std::vector<std::pair<ModelRef, std::string>> rows;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Nearly always none: then opening writes nothing.
    auto any = db_->Prepare("SELECT 1 FROM pending_links LIMIT 1");
    if (!any.has_value()) return any.error();
    auto found = any->Step();
    if (!found.has_value()) return found.error();
    if (!*found) return Status::OK();
    auto q = db_->Prepare(
        "SELECT p.name, p.version, p.content_dir FROM pending_links p JOIN models m ON "
        "m.name = p.name AND m.version = p.version AND m.content_dir = p.content_dir");
    if (!q.has_value()) return q.error();
    for (;;) {
      auto r = q->Step();
      if (!r.has_value()) return r.error();
      if (!*r) break;
      rows.emplace_back(ModelRef{q->Text(0), q->Text(1)}, q->Text(2));
    }
  }
  // On a full (or read-only) disk what cannot be done now is left for the next start: the
  // rows stay, and the registry already shows the new version.
  auto later = [](const Status& s) {
    return s.code() == Status::Code::kNoSpace || s.code() == Status::Code::kPermissionDenied;
  };
  for (const auto& [ref, content_id] : rows) {
    fs::path link = ModelPath(ref);
    log::Info("finishing the interrupted install of {}", ref.ToString());
    Status s = CreateDirs(link.parent_path());
    if (s.ok()) s = ReplaceSymlink(ContentLinkTarget(ref, content_id), link);
    if (s.ok()) continue;
    if (!later(s)) return s;
    log::Warn("could not finish the install of {} (the next start retries): {}", ref.ToString(),
              s.message());
    return Status::OK();
  }
  std::lock_guard<std::mutex> lock(mu_);
  Status s = WriteTx([&] { return db_->Exec("DELETE FROM pending_links"); });
  if (!s.ok() && later(s)) {
    log::Warn("could not record the finished installs (the next start does): {}", s.message());
    return Status::OK();
  }
  return s;
}

Status Store::ForEach(const std::string& where, const std::vector<std::string>& args,
                      const std::function<void(int64_t id, const ModelInfo&)>& fn) {
  // REQUIRES: mu_ held.
  std::string sql =
      "SELECT m.id, m.name, m.version, m.source, m.description, m.tags, m.metadata, m.status, "
      "m.created_at, m.installed_at, m.size, m.content_dir FROM models m " +
      where + " ORDER BY m.name, m.version";
  // Removals in progress or interrupted: those models are broken, whatever was recorded.
  const std::set<std::string> removing = RemovalMarkers();
  auto q = db_->Prepare(sql);
  if (!q.has_value()) return q.error();
  for (size_t i = 0; i < args.size(); ++i) q->Bind(static_cast<int>(i + 1), args[i]);
  ModelInfo m;  // reused row to row: its buffers keep their capacity
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    m.ref.name = q->Text(1);
    m.ref.version = q->Text(2);
    m.source = q->Text(3);
    m.description = q->Text(4);
    m.tags.clear();
    m.metadata = nullptr;
    std::string tags_text = q->Text(5), meta_text = q->Text(6);
    if (tags_text != "[]") {
      auto tags = ParseJsonOrDiscarded(tags_text);
      if (tags.is_array()) {
        for (const auto& t : tags) {
          if (t.is_string()) m.tags.push_back(t.get<std::string>());
        }
      }
    }
    if (meta_text != "{}") {
      m.metadata = ParseJsonOrDiscarded(meta_text);
      if (m.metadata.is_discarded()) m.metadata = nullptr;
    }
    m.removing = !removing.empty() && removing.count(q->Text(11)) > 0;
    m.status = m.removing ? "broken" : q->Text(7);
    m.created_at = q->Int(8);
    m.installed_at = q->Int(9);
    m.size = static_cast<uint64_t>(q->Int(10));
    m.path = ModelPath(m.ref);
    fn(q->Int(0), m);
  }
  return Status::OK();
}

Status Store::ScanModels(const std::function<void(const ModelInfo&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  return ForEach("", {}, [&](int64_t, const ModelInfo& m) { fn(m); });
}

Result<std::vector<ModelInfo>> Store::Query(const std::string& where,
                                            const std::vector<std::string>& args,
                                            bool with_files) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelInfo> out;
  std::vector<int64_t> ids;
  if (Status s = ForEach(where, args, [&](int64_t id, const ModelInfo& m) {
        ids.push_back(id);
        out.push_back(m);
      });
      !s.ok()) {
    return s;
  }
  if (with_files && !out.empty()) {
    // One query for every file of the selected models, not one per model.
    std::unordered_map<int64_t, size_t> index;
    for (size_t i = 0; i < ids.size(); ++i) index[ids[i]] = i;
    auto f = db_->Prepare("SELECT f.model_id, f.path, f.size, f.sha256 FROM files f JOIN models m "
                          "ON m.id = f.model_id " + where + " ORDER BY f.model_id, f.path");
    if (!f.has_value()) return f.error();
    for (size_t i = 0; i < args.size(); ++i) f->Bind(static_cast<int>(i + 1), args[i]);
    for (;;) {
      auto r = f->Step();
      if (!r.has_value()) return r.error();
      if (!*r) break;
      auto it = index.find(f->Int(0));
      if (it == index.end()) continue;
      out[it->second].files.push_back({f->Text(1), static_cast<uint64_t>(f->Int(2)), f->Text(3)});
    }
  }
  return out;
}

Result<std::vector<ModelInfo>> Store::List(bool with_files) { return Query("", {}, with_files); }

Result<ModelInfo> Store::Get(const ModelRef& ref) {
  auto r = Query("WHERE m.name=?1 AND m.version=?2", {ref.name, ref.version}, true);
  if (!r.has_value()) return r.error();
  if (r->empty()) return Status::NotFound("model '" + ref.ToString() + "' is not installed");
  return std::move(r->front());
}

Result<std::vector<ModelInfo>> Store::Versions(const std::string& name) {
  return Query("WHERE m.name=?1", {name}, true);
}

Status Store::RemoveBlobIfUnused(const std::string& sha256, GcReport* rep) {
  // REQUIRES: mu_ held, inside a write transaction (so no install can add a reference).
  auto q = db_->Prepare("SELECT 1 FROM files WHERE sha256=?1 LIMIT 1");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, sha256).Step();
  if (!r.has_value()) return r.error();
  if (*r) return Status::OK();
  fs::path blob = BlobPath(sha256);
  struct stat st {};
  if (::stat(blob.c_str(), &st) == 0) {
    if (::unlink(blob.c_str()) != 0) return ErrnoStatus("remove " + blob.string(), errno);
    if (rep) {
      ++rep->blobs_removed;
      rep->blob_bytes += static_cast<uint64_t>(st.st_size);
    }
  }
  auto del = db_->Prepare("DELETE FROM url_blobs WHERE sha256=?1");
  if (!del.has_value()) return del.error();
  return del->Bind(1, sha256).Run();
}

Status Store::DiscardBlob(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteTx([&] { return RemoveBlobIfUnused(sha256, nullptr); });
}

std::set<std::string> Store::RemovalMarkers() const {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(options_.data_dir / "removing", ec), end; !ec && it != end;
       it.increment(ec)) {
    out.insert(it->path().filename().string());
  }
  return out;
}

Result<std::vector<Store::Row>> Store::SelectRows(const std::string& where,
                                                  const std::vector<std::string>& args) {
  auto q = db_->Prepare("SELECT id, name, version, content_dir FROM models " + where);
  if (!q.has_value()) return q.error();
  for (size_t i = 0; i < args.size(); ++i) q->Bind(static_cast<int>(i + 1), args[i]);
  std::vector<Row> rows;
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    rows.push_back({q->Int(0), {q->Text(1), q->Text(2)}, q->Text(3)});
  }
  return rows;
}

Result<std::vector<std::string>> Store::UnusedDigests(const std::vector<int64_t>& ids) {
  std::string list;
  for (int64_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  auto q = db_->Prepare("SELECT DISTINCT f.sha256 FROM files f WHERE f.model_id IN (" + list +
                        ") AND NOT EXISTS (SELECT 1 FROM files g WHERE g.sha256 = f.sha256 AND "
                        "g.model_id NOT IN (" +
                        list + "))");
  if (!q.has_value()) return q.error();
  std::vector<std::string> out;
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    out.push_back(q->Text(0));
  }
  return out;
}

Status Store::ForgetUrls(const std::vector<std::string>& digests) {
  auto del = db_->Prepare("DELETE FROM url_blobs WHERE sha256=?1");
  if (!del.has_value()) return del.error();
  for (const auto& d : digests) {
    del->Reset();
    if (Status s = del->Bind(1, d).Run(); !s.ok()) return s;
  }
  return Status::OK();
}

Status Store::RemoveRows(const std::vector<Row>& rows) {
  // 1. Mark: from here on these models read as broken, and an interruption is finished by
  //    the next Open, Remove or Gc. An empty file needs an inode, no data block.
  const fs::path marks = options_.data_dir / "removing";
  if (Status s = CreateDirs(marks); !s.ok()) return s;
  std::vector<fs::path> made;
  auto unmark = [&made] {
    for (const auto& m : made) ::unlink(m.c_str());
  };
  for (const auto& r : rows) {
    fs::path m = marks / r.content_id;
    UniqueFd fd(::open(m.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid() && errno != EEXIST) {
      Status s = ErrnoStatus("mark " + m.string(), errno);
      unmark();
      return s;
    }
    if (fd.valid()) made.push_back(m);
  }
  if (Status s = FsyncDir(marks); !s.ok()) {
    unmark();
    return s;
  }
  MaybeCrash("remove-marked");

  // 2. The model paths and content dirs. Their files are hard links to the blobs, so this
  //    frees little by itself; it makes each unused blob's last link the one in blobs/.
  for (const auto& r : rows) {
    fs::path link = ModelPath(r.ref);
    std::error_code ec;
    // Only this version's link: an install of the same name may have replaced it since.
    if (fs::read_symlink(link, ec) == ContentLinkTarget(r.ref, r.content_id)) {
      ::unlink(link.c_str());
    }
    for (fs::path p = link.parent_path(); p != options_.data_dir / "models"; p = p.parent_path()) {
      if (!fs::is_empty(p, ec) || ec) break;
      fs::remove(p, ec);
    }
    fs::remove_all(options_.data_dir / "content" / r.content_id, ec);
  }

  // 3. The blobs no other model uses, then the rows: under the write lock, so no install
  //    adds a reference in between. The blobs go first, so on a full disk the registry has
  //    room when it commits.
  std::vector<int64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  std::set<std::string> freed;
  auto free_blobs = [&]() -> Status {
    auto unused = UnusedDigests(ids);
    if (!unused.has_value()) return unused.error();
    for (const auto& d : *unused) {
      fs::path blob = BlobPath(d);
      if (::unlink(blob.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus("remove " + blob.string(), errno);
      }
      freed.insert(d);
    }
    return Status::OK();
  };
  auto forget = [&]() -> Status {
    if (Status s = free_blobs(); !s.ok()) return s;
    MaybeCrash("remove-freed");
    auto del = db_->Prepare("DELETE FROM models WHERE id=?1");  // and its files (cascade)
    auto unpend =
        db_->Prepare("DELETE FROM pending_links WHERE name=?1 AND version=?2 AND content_dir=?3");
    if (!del.has_value()) return del.error();
    if (!unpend.has_value()) return unpend.error();
    for (const auto& r : rows) {
      del->Reset();
      if (Status s = del->Bind(1, r.id).Run(); !s.ok()) return s;
      unpend->Reset();
      if (Status s = unpend->Bind(1, r.ref.name).Bind(2, r.ref.version).Bind(3, r.content_id).Run();
          !s.ok()) {
        return s;
      }
    }
    return ForgetUrls(std::vector<std::string>(freed.begin(), freed.end()));
  };
  Status s = WriteTx(forget);
  if (s.code() == Status::Code::kNoSpace || s.code() == Status::Code::kPermissionDenied) {
    // Still no room for the registry, or it is open read-only: free the blobs without the
    // write lock (an install racing with this on a full disk may fetch its blob again),
    // then try once more.
    s = free_blobs();
    if (s.ok()) s = WriteTx(forget);
  }
  if (!s.ok()) {
    log::Warn(
        "{} stays marked as broken until modeld rm, gc or the next start finishes its "
        "removal: {}",
        rows.front().ref.ToString(), s.message());
    return s;
  }

  // 4. Done: unmark.
  for (const auto& r : rows) ::unlink((marks / r.content_id).c_str());
  return Status::OK();
}

Status Store::FinishRemovals() {
  const std::set<std::string> marks = RemovalMarkers();
  if (marks.empty()) return Status::OK();
  std::lock_guard<std::mutex> lock(mu_);
  Status first;
  for (const auto& content_id : marks) {
    auto rows = SelectRows("WHERE content_dir=?1", {content_id});
    if (!rows.has_value()) return rows.error();
    if (rows->empty()) {  // the rows went: only files may be left
      std::error_code ec;
      fs::remove_all(options_.data_dir / "content" / content_id, ec);
      ::unlink((options_.data_dir / "removing" / content_id).c_str());
      continue;
    }
    log::Info("finishing the interrupted removal of {}", rows->front().ref.ToString());
    if (Status s = RemoveRows(*rows); !s.ok() && first.ok()) first = s;
  }
  return first;
}

Result<std::vector<ModelRef>> Store::Remove(const std::string& name, const std::string& version) {
  if (Status s = ValidateModelName(name); !s.ok()) return s;
  if (!version.empty()) {
    if (Status s = ValidateVersion(version); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto rows = version.empty() ? SelectRows("WHERE name=?1", {name})
                              : SelectRows("WHERE name=?1 AND version=?2", {name, version});
  if (!rows.has_value()) return rows.error();
  if (rows->empty()) {
    return Status::NotFound("model '" + name + (version.empty() ? "" : ":" + version) +
                            "' is not installed");
  }
  if (Status s = RemoveRows(*rows); !s.ok()) {
    return s.WithContext("removing " + name + (version.empty() ? "" : ":" + version));
  }
  std::vector<ModelRef> removed;
  for (const auto& r : *rows) removed.push_back(r.ref);
  return removed;
}

Result<std::vector<VerifyResult>> Store::Verify(const std::optional<ModelRef>& only, bool full_hash,
                                                std::vector<ModelInfo>* checked,
                                                Status* record_error) {
  auto models = only ? Query("WHERE m.name=?1 AND m.version=?2", {only->name, only->version}, true)
                     : List(true);
  if (!models.has_value()) return models.error();
  if (only && models->empty()) return Status::NotFound("model '" + only->ToString() + "' is not installed");
  std::vector<VerifyResult> out;
  std::vector<std::pair<ModelRef, std::string>> changes;
  for (auto& m : *models) {
    VerifyResult v{m.ref, true, {}};
    for (const auto& f : m.files) {
      fs::path p = m.path / f.path;
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0) {
        v.problems.push_back(f.path + ": missing");
        continue;
      }
      if (static_cast<uint64_t>(st.st_size) != f.size) {
        v.problems.push_back(f.path + ": size " + std::to_string(st.st_size) + ", want " +
                             std::to_string(f.size));
        continue;
      }
      if (full_hash) {
        UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
        Hasher h(HashAlgorithm::kSha256);
        std::vector<char> buf(1 << 20);
        ssize_t n;
        while (fd.valid() && (n = ::read(fd.get(), buf.data(), buf.size())) > 0) h.Update(buf.data(), n);
        std::string got = h.FinishHex();
        if (got != f.sha256) v.problems.push_back(f.path + ": sha256 " + got + ", want " + f.sha256);
      }
    }
    if (!full_hash && v.problems.empty() && m.status == "broken") {
      // A size check cannot clear what a full check found: only a full check or a
      // reinstall makes a broken model available again.
      v.problems.push_back("marked broken by an earlier full check; run a full verify");
    }
    if (m.removing) {
      v.problems.push_back("its removal was interrupted: modeld rm " + m.ref.ToString() +
                           " finishes it");
    }
    v.ok = v.problems.empty();
    std::string status = v.ok ? "available" : "broken";
    if (status != m.status) {
      changes.emplace_back(m.ref, status);
      m.status = status;
    }
    out.push_back(std::move(v));
  }
  if (!changes.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    Status s = WriteTx([&]() -> Status {
      auto q = db_->Prepare("UPDATE models SET status=?1 WHERE name=?2 AND version=?3");
      if (!q.has_value()) return q.error();
      for (const auto& [ref, status] : changes) {
        q->Reset();
        if (Status r = q->Bind(1, status).Bind(2, ref.name).Bind(3, ref.version).Run(); !r.ok()) {
          return r;
        }
      }
      return Status::OK();
    });
    // What was found is the answer; recording it is a cache (a full disk must not hide it).
    if (!s.ok()) {
      if (record_error) {
        *record_error = s;
      } else {
        log::Warn("could not record the statuses verify found: {}", s.message());
      }
    }
  }
  if (checked) *checked = std::move(models.value());
  return out;
}

Result<GcReport> Store::Gc(std::chrono::seconds partial_age) {
  GcReport rep;
  if (Status s = FinishRemovals(); !s.ok()) {
    log::Warn("could not finish an interrupted removal: {}", s.message());
  }
  std::set<std::string> live_content;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto q = db_->Prepare("SELECT content_dir FROM models");
    if (!q.has_value()) return q.error();
    for (;;) {
      auto r = q->Step();
      if (!r.has_value()) return r.error();
      if (!*r) break;
      live_content.insert(q->Text(0));
    }
  }
  // Files first, the registry last, so gc frees space on a full disk.
  // Content dirs no model points at (left by a crash mid-install).
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(options_.data_dir / "content", ec)) {
    if (live_content.count(e.path().filename().string())) continue;
    // A dir younger than a minute may belong to an install running right now.
    auto mtime = fs::last_write_time(e.path(), ec);
    if (!ec && now - mtime < std::chrono::minutes(1)) continue;
    fs::remove_all(e.path(), ec);
    ++rep.content_dirs_removed;
  }
  // Partials whose lock nobody holds and that are old enough.
  for (const auto& e : fs::directory_iterator(options_.data_dir / "partial", ec)) {
    fs::path lockfile = options_.data_dir / "locks" / (e.path().filename().string() + ".lock");
    UniqueFd fd(::open(lockfile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    auto mtime = fs::last_write_time(e.path(), ec);
    if (ec || now - mtime < partial_age) continue;
    rep.partial_bytes += TreeBytes(e.path());
    fs::remove_all(e.path(), ec);
    ++rep.partials_removed;
  }
  // Blobs no model references: deleted under the write lock (so no install adds a
  // reference meanwhile), with the URLs that produced them.
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> freed;
  auto free_blobs = [&]() -> Status {
    std::error_code dir_ec;
    for (fs::directory_iterator it(options_.data_dir / "blobs" / "sha256", dir_ec), end;
         !dir_ec && it != end; it.increment(dir_ec)) {
      std::string name = it->path().filename().string();
      if (name.size() != 64) continue;
      auto q = db_->Prepare("SELECT 1 FROM files WHERE sha256=?1 LIMIT 1");
      if (!q.has_value()) return q.error();
      auto used = q->Bind(1, name).Step();
      if (!used.has_value()) return used.error();
      if (*used) continue;
      struct stat st {};
      if (::stat(it->path().c_str(), &st) != 0) continue;
      if (::unlink(it->path().c_str()) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoStatus("remove " + it->path().string(), errno);
      }
      ++rep.blobs_removed;
      rep.blob_bytes += static_cast<uint64_t>(st.st_size);
      freed.insert(name);
    }
    return Status::OK();
  };
  auto forget = [&]() -> Status {
    return ForgetUrls(std::vector<std::string>(freed.begin(), freed.end()));
  };
  Status s = WriteTx([&]() -> Status {
    if (Status f = free_blobs(); !f.ok()) return f;
    return forget();
  });
  if (s.code() == Status::Code::kNoSpace || s.code() == Status::Code::kPermissionDenied) {
    // No room even for that, or the registry is open read-only: delete them without the
    // write lock (an install racing with this on a full disk may fetch its blob again).
    if (Status f = free_blobs(); !f.ok()) return f;
    if (freed.empty()) return rep;
    s = WriteTx(forget);
    // A URL remembered for a blob that is gone is harmless (LookupUrl checks the blob).
    if (!s.ok()) log::Warn("could not forget the URLs of the removed blobs: {}", s.message());
    return rep;
  }
  if (!s.ok()) return s;
  return rep;
}

Result<CacheReport> Store::Cache() {
  CacheReport rep;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.data_dir / "blobs" / "sha256", ec)) {
    if (!e.is_regular_file(ec)) continue;
    ++rep.blob_count;
    rep.blob_bytes += e.file_size(ec);
  }
  for (const auto& e : fs::directory_iterator(options_.data_dir / "partial", ec)) {
    ++rep.partial_count;
    rep.partial_bytes += TreeBytes(e.path());
  }
  auto models = List(false);
  if (!models.has_value()) return models.error();
  rep.model_count = models->size();
  for (const auto& m : *models) {
    rep.logical_bytes += m.size;
    rep.per_model.emplace_back(m.ref.ToString(), m.size);
  }
  auto avail = AvailableBytes(options_.data_dir);
  if (avail.has_value()) rep.free_bytes = *avail;
  return rep;
}

namespace {
JobRecord ReadJob(const Stmt& q) {
  JobRecord j;
  j.id = q.Text(0);
  j.model = q.Text(1);
  j.request = ParseJsonOrDiscarded(q.Text(2));
  if (j.request.is_discarded()) j.request = nlohmann::json::object();
  j.state = q.Text(3);
  j.bytes_done = static_cast<uint64_t>(q.Int(4));
  if (!q.IsNull(5)) j.bytes_total = static_cast<uint64_t>(q.Int(5));
  j.error = q.Text(6);
  j.created_at = q.Int(7);
  j.updated_at = q.Int(8);
  j.interrupted_runs = static_cast<int>(q.Int(9));
  j.run_start_bytes = static_cast<uint64_t>(q.Int(10));
  return j;
}
constexpr const char* kJobColumns =
    "SELECT id, model, request, state, bytes_done, bytes_total, COALESCE(error, ''), created_at, "
    "updated_at, interrupted_runs, run_start_bytes FROM jobs ";
}  // namespace

Status Store::SaveJob(JobRecord job) {
  if (job.id.empty()) return Status::InvalidArgument("job id is empty");
  int64_t now = NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  return WriteTx([&]() -> Status {
    auto q = db_->Prepare(
        "INSERT INTO jobs(id, model, request, state, bytes_done, bytes_total, error, created_at, "
        "updated_at, interrupted_runs, run_start_bytes) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8,?9,?10) "
        "ON CONFLICT(id) DO UPDATE SET "
        "model=excluded.model, request=excluded.request, state=excluded.state, "
        "bytes_done=excluded.bytes_done, bytes_total=excluded.bytes_total, error=excluded.error, "
        "updated_at=excluded.updated_at, interrupted_runs=excluded.interrupted_runs, "
        "run_start_bytes=excluded.run_start_bytes");
    if (!q.has_value()) return q.error();
    std::optional<int64_t> total;
    if (job.bytes_total) total = static_cast<int64_t>(*job.bytes_total);
    q->Bind(1, job.id)
        .Bind(2, job.model)
        .Bind(3, job.request.dump())
        .Bind(4, job.state)
        .Bind(5, static_cast<int64_t>(job.bytes_done))
        .Bind(6, total);
    if (job.error.empty()) {
      q->BindNull(7);
    } else {
      q->Bind(7, job.error);
    }
    q->Bind(8, now)
        .Bind(9, static_cast<int64_t>(job.interrupted_runs))
        .Bind(10, static_cast<int64_t>(job.run_start_bytes));
    return q->Run();
  });
}

Result<JobRecord> Store::GetJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto q = db_->Prepare(std::string(kJobColumns) + "WHERE id=?1");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, id).Step();
  if (!r.has_value()) return r.error();
  if (!*r) return Status::NotFound("no download job '" + id + "'");
  return ReadJob(*q);
}

Result<std::vector<JobRecord>> Store::ListJobs(bool unfinished_only) {
  std::lock_guard<std::mutex> lock(mu_);
  auto q = db_->Prepare(std::string(kJobColumns) +
                        (unfinished_only
                             ? "WHERE state NOT IN ('completed','failed','cancelled') "
                             : "") +
                        "ORDER BY created_at, rowid");
  if (!q.has_value()) return q.error();
  std::vector<JobRecord> out;
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    out.push_back(ReadJob(*q));
  }
  return out;
}

Status Store::DeleteJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteTx([&]() -> Status {
    auto q = db_->Prepare("DELETE FROM jobs WHERE id=?1");
    if (!q.has_value()) return q.error();
    return q->Bind(1, id).Run();
  });
}

Result<std::optional<FileEntry>> Store::LookupUrl(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  auto q = db_->Prepare("SELECT path, size, sha256 FROM url_blobs WHERE url=?1");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, url).Step();
  if (!r.has_value()) return r.error();
  if (!*r) return std::optional<FileEntry>();
  FileEntry f{q->Text(0), static_cast<uint64_t>(q->Int(1)), q->Text(2)};
  if (!HasBlob(f.sha256, f.size)) return std::optional<FileEntry>();
  return std::optional<FileEntry>(f);
}

Status Store::RememberUrl(const std::string& url, const FileEntry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteTx([&]() -> Status {
    auto q = db_->Prepare(
        "INSERT OR REPLACE INTO url_blobs(url, path, size, sha256) VALUES (?1,?2,?3,?4)");
    if (!q.has_value()) return q.error();
    return q->Bind(1, url)
        .Bind(2, entry.path)
        .Bind(3, static_cast<int64_t>(entry.size))
        .Bind(4, entry.sha256)
        .Run();
  });
}

Result<FileLock> Store::Lock(const std::string& key) {
  fs::path path = options_.data_dir / "locks" / (PartialDir(key).filename().string() + ".lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoStatus("lock " + path.string(), errno);
  }
  return FileLock(std::move(fd));
}

Result<std::optional<FileLock>> Store::TryLock(const std::string& key) {
  fs::path path = options_.data_dir / "locks" / (PartialDir(key).filename().string() + ".lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::optional<FileLock>();
    if (errno != EINTR) return ErrnoStatus("lock " + path.string(), errno);
  }
  return std::optional<FileLock>(FileLock(std::move(fd)));
}

fs::path Store::HubRepoDir(const std::string& repo_id) const {
  std::string folder = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      folder += "--";
    } else {
      folder += c;
    }
  }
  return options_.hf_cache / folder;
}

std::optional<fs::path> Store::FindHubBlob(const std::string& repo_id, const std::string& etag) const {
  if (etag.empty() || etag.find('/') != std::string::npos || etag.find("..") != std::string::npos) {
    return std::nullopt;
  }
  fs::path p = HubRepoDir(repo_id) / "blobs" / etag;
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

Result<std::string> Store::AdoptFromHubCache(const std::string& repo_id, const std::string& etag,
                                             const std::string& sha256, uint64_t size) {
  if (!sha256.empty() && HasBlob(sha256, size)) return sha256;
  auto found = FindHubBlob(repo_id, etag);
  if (!found) return std::string();
  struct stat st {};
  if (::stat(found->c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size) return std::string();
  // Hash it: a file in someone else's cache is trusted for nothing but its bytes.
  UniqueFd fd(::open(found->c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::string();
  Hasher h(HashAlgorithm::kSha256);
  std::optional<Hasher> git;
  if (sha256.empty()) git.emplace(HashAlgorithm::kGitSha1, size);
  std::vector<char> buf(1 << 20);
  ssize_t n;
  while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0) {
    h.Update(buf.data(), static_cast<size_t>(n));
    if (git) git->Update(buf.data(), static_cast<size_t>(n));
  }
  std::string got = h.FinishHex();
  bool ok = n == 0 && (git ? git->FinishHex() == etag : got == sha256);
  if (!ok) {
    log::Warn("{} in the Hub cache does not match its digest; not reusing it", found->string());
    return std::string();
  }
  if (HasBlob(got, size)) return got;
  fs::path tmp = options_.data_dir / "blobs" / "sha256" / (got + ".hub" + RandomHex(8));
  if (Status s = LinkOrCopy(*found, tmp); !s.ok()) return s;
  if (Status s = AdoptBlob(tmp, got); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return got;
}

Status Store::LinkHubSnapshot(const HubSnapshot& snap) {
  if (Status s = ValidateModelName(snap.repo_id); !s.ok()) return s;
  for (const std::string* rev : {&snap.revision, &snap.commit}) {
    if (rev->empty() || rev->find('/') != std::string::npos || rev->find("..") != std::string::npos) {
      return Status::InvalidArgument("bad revision '" + *rev + "'");
    }
  }
  fs::path repo = HubRepoDir(snap.repo_id);
  fs::path snapshot = repo / "snapshots" / snap.commit;
  for (const auto& d : {repo / "blobs", repo / "refs", snapshot}) {
    if (Status s = CreateDirs(d); !s.ok()) return s;
  }
  std::error_code ec;
  if (!fs::exists(options_.hf_cache / "CACHEDIR.TAG", ec)) {
    (void)WriteFileAtomic(options_.hf_cache / "CACHEDIR.TAG",
                          "Signature: 8a477f597d28d172789f06886806bc55\n");
  }
  for (const auto& f : snap.files) {
    if (Status s = ValidateRelativePath(f.path); !s.ok()) return s;
    if (f.etag.empty() || f.etag.find('/') != std::string::npos) {
      return Status::InvalidArgument("bad etag for " + f.path);
    }
    fs::path blob = repo / "blobs" / f.etag;
    if (!fs::exists(blob, ec)) {
      fs::path tmp = repo / "blobs" / (f.etag + "." + RandomHex(8) + ".incomplete");
      if (Status s = LinkOrCopy(BlobPath(f.sha256), tmp); !s.ok()) return s;
      if (::rename(tmp.c_str(), blob.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return ErrnoStatus("rename into " + blob.string(), errno);
      }
    }
    fs::path link = snapshot / f.path;
    if (Status s = CreateDirs(link.parent_path()); !s.ok()) return s;
    if (Status s = ReplaceSymlink(fs::relative(blob, link.parent_path()), link); !s.ok()) return s;
  }
  if (snap.revision != snap.commit) {
    fs::path ref = repo / "refs" / snap.revision;
    if (Status s = WriteFileAtomic(ref, snap.commit); !s.ok()) return s;
  }
  return FsyncDir(repo / "blobs");
}

}  // namespace modeld::store
