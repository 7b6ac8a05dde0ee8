#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>

#include "core/checksum.h"
#include "core/json.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/time_format.h"
#include "store/db.h"
#include "store/file_ops.h"
#include "store/paths.h"
#include "store/registry_db.h"
#include "store/schema.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

std::string& CrashPoint() {
  static std::string point;
  return point;
}

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  return home && *home ? home : "/root";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

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
  o.registry = Env("MODELD_REGISTRY");
  if (!Env("OLLAMA_MODELS").empty()) {
    o.ollama_models = Env("OLLAMA_MODELS");
  } else if (fs::path d = fs::path(HomeDir()) / ".ollama" / "models";
             ::access(d.c_str(), W_OK | X_OK) == 0) {
    o.ollama_models = d;
  }
  return o;
}

void Store::SetCrashPointForTest(const std::string& point) { CrashPoint() = point; }

void Store::MaybeCrash(const char* point) {
  if (CrashPoint() == point) {
    ::_exit(86);
  }
}

Store::Store(StoreOptions options, std::unique_ptr<RegistryDb> registry)
    : options_(std::move(options)),
      hub_(options_.hf_cache, options_.data_dir),
      ollama_(options_.ollama_models, options_.data_dir),
      registry_(std::move(registry)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  StoreOptions o = options;
  auto engine = RegistryEngine(o.registry);
  if (!engine.has_value()) return engine.error();
  std::error_code ec;
  o.data_dir = fs::absolute(o.data_dir, ec);
  const fs::path registry = RegistryPath(o.data_dir);
  const bool existing = fs::exists(registry, ec);
  for (const fs::path& sub : DataSubdirs(o.data_dir)) {
    // Directories that exist cost nothing. One a full disk cannot hold (removing/ in a data
    // dir older than it) is made again when needed.
    if (Status s = CreateDirs(sub); !s.ok()) {
      if (!existing) return s;
      log::Debug("{}", s.ToString());
    }
  }
  auto db = *engine == Engine::kPostgres ? RegistryDb::OpenPostgres(o.registry)
                                         : RegistryDb::Open(registry, existing);
  if (!db.has_value()) {
    return db.error();
  }
  if (*engine == Engine::kPostgres) log::Info("the registry: {}", RedactUrl(o.registry));
  std::unique_ptr<Store> store(new Store(o, std::move(db.value())));
  if (Status s = store->Migrate(); !s.ok()) return s;
  if (Status s = store->RepairLinks(); !s.ok()) return s;
  if (Status s = store->FinishRemovals(); !s.ok()) {
    log::Warn("could not finish an interrupted removal (the next rm or gc retries): {}",
              s.message());
  }
  return store;
}

bool Store::read_only() const { return registry_->read_only(); }

Db& Store::db() { return registry_->db(); }

Status Store::Migrate() {
  MutexLock lock(&mu_);
  // The common case, an up-to-date schema, takes no write lock.
  auto version = SchemaVersion(db());
  if (!version.has_value()) {
    return version.error();
  }
  if (*version == LatestSchemaVersion()) {
    return Status::OK();
  }
  if (Status s = registry_->Writable(); !s.ok()) {
    return s.WithContext("upgrading the registry");
  }
  return store::Migrate(db());
}

fs::path Store::BlobPath(const std::string& sha256) const {
  return store::BlobPath(options_.data_dir, sha256);
}

fs::path Store::ModelPath(const ModelRef& ref) const {
  return store::ModelPath(options_.data_dir, ref);
}

fs::path Store::PartialDir(const std::string& key) const {
  return store::PartialDir(options_.data_dir, key);
}

bool Store::HasBlob(const std::string& sha256, uint64_t size) const {
  return store::HasBlob(options_.data_dir, sha256, size);
}

BlobState Store::PeekBlob(const std::string& sha256, uint64_t size) {
  auto now = StampOf(BlobPath(sha256));
  if (!now || now->size != size) return BlobState::kMissing;
  MutexLock lock(&mu_);
  auto record = BlobRecord(db(), sha256);
  if (!record.has_value()) {
    log::Debug("reading the record of blob {}: {}", sha256, record.error().ToString());
    return BlobState::kUnrecorded;  // so it is hashed before it is trusted
  }
  if (!record->has_value()) return BlobState::kUnrecorded;
  return (*record)->Matches(*now) ? BlobState::kVerified : BlobState::kChanged;
}

void Store::RecordBlobBestEffort(const std::string& sha256, const FileStamp& stamp) {
  int64_t now = UnixSeconds();
  MutexLock lock(&mu_);
  Status s =
      registry_->WriteTx([&]() REQUIRES(mu_) { return RecordBlob(db(), sha256, stamp, now); });
  if (!s.ok()) {
    log::Info("could not record blob {} as verified (it is hashed again before its next reuse): {}",
              sha256, s.message());
  }
}

bool Store::HasVerifiedBlob(const std::string& sha256, uint64_t size) {
  switch (PeekBlob(sha256, size)) {
    case BlobState::kMissing:
      return false;
    case BlobState::kVerified:
      return true;
    case BlobState::kUnrecorded:
    case BlobState::kChanged:
      break;
  }
  // Not known good: only its bytes can say.
  const fs::path blob = BlobPath(sha256);
  auto hashed = HashFile(blob);
  if (!hashed.has_value()) {
    log::Info("not reusing blob {}: {}", sha256, hashed.error().message());
    return false;
  }
  if (hashed->sha256 == sha256 && hashed->stamp.size == size) {
    RecordBlobBestEffort(sha256, hashed->stamp);
    return true;
  }
  // Corrupt: it must never reach a model again. Deleted only if it is still the file that
  // was hashed (a verified download may have replaced it meanwhile); a model hard-linked to
  // it keeps its bytes until a pull repairs it.
  log::Warn("blob {} does not match its digest (it hashes to {}): deleted, to be fetched again",
            sha256, hashed->sha256);
  if (auto now = StampOf(blob); now && now->SameFile(hashed->stamp)) ::unlink(blob.c_str());
  MutexLock lock(&mu_);
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) { return ForgetBlobRecord(db(), sha256); });
  if (!s.ok()) log::Info("could not forget the record of blob {}: {}", sha256, s.message());
  return false;
}

Status Store::AdoptBlob(const fs::path& file, const std::string& sha256, AdoptMode mode) {
  if (sha256.size() != 64) return Status::InvalidArgument("not a sha256: " + sha256);
  bool replace = mode == AdoptMode::kReplace;
  if (!replace) {
    // Keep what is there only if it is known good; anything else loses to |file|.
    auto incoming = StampOf(file);
    replace = !incoming || PeekBlob(sha256, incoming->size) != BlobState::kVerified;
  }
  bool moved = false;
  if (Status s = store::AdoptBlob(options_.data_dir, file, sha256, replace, &moved); !s.ok()) {
    return s;
  }
  if (moved) {
    if (auto stamp = StampOf(BlobPath(sha256))) RecordBlobBestEffort(sha256, *stamp);
  }
  return Status::OK();
}

Result<ModelInfo> Store::Install(const InstallSpec& spec) {
  if (Status s = ValidateModelName(spec.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(spec.ref.version); !s.ok()) return s;
  std::set<std::string> seen;
  for (const auto& f : spec.files) {
    if (Status s = ValidateRelativePath(f.path); !s.ok()) return s;
    if (!seen.insert(f.path).second)
      return Status::InvalidArgument("file " + f.path + " listed twice");
    if (!HasBlob(f.sha256, f.size)) {
      return Status::NotFound("blob " + f.sha256 + " for " + f.path + " is not in the store");
    }
  }
  // 1. Build the new version in a fresh content dir.
  std::string content_id = RandomHex(24);
  fs::path content = ContentDir(options_.data_dir, content_id);
  if (Status s = CreateDirs(content); !s.ok()) return s;
  std::set<fs::path> dirs = {content};
  // Each file's stamp, as installed: the reads check it (a hard link is the blob's inode).
  std::vector<std::optional<FileStamp>> stamps;
  for (const auto& f : spec.files) {
    fs::path dst = content / f.path;
    if (Status s = CreateDirs(dst.parent_path()); !s.ok()) return s;
    if (Status s = LinkOrCopy(BlobPath(f.sha256), dst); !s.ok()) return s;
    dirs.insert(dst.parent_path());
    stamps.push_back(StampOf(dst));
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
    MutexLock lock(&mu_);
    Status committed = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
      old_content.clear();
      auto q = db().Prepare(
          "SELECT id, content_dir, created_at FROM models WHERE name=?1 AND version=?2");
      if (!q.has_value()) return q.error();
      q->Bind(1, spec.ref.name).Bind(2, spec.ref.version);
      auto row = q->Step();
      if (!row.has_value()) return row.error();
      int64_t now = UnixSeconds();
      int64_t created = now;
      if (*row) {
        old_content = q->Text(1);
        created = q->Int(2);
        auto del = db().Prepare("DELETE FROM models WHERE id=?1");
        if (!del.has_value()) return del.error();
        if (Status s = del->Bind(1, q->Int(0)).Run(); !s.ok()) return s;
      }
      auto ins = db().Prepare(
          "INSERT INTO models(name, version, source, description, tags, metadata, status, "
          "content_dir, created_at, installed_at, size, inspection, inspected_at) "
          "VALUES (?1,?2,?3,?4,?5,?6,'available',?7,?8,?9,?10,?11,?12) RETURNING id");
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
      if (!spec.inspection.empty()) ins->Bind(11, spec.inspection).Bind(12, now);
      auto inserted = ins->Step();
      if (!inserted.has_value()) return inserted.error();
      if (!*inserted) return Status::IoError("the registry gave no id for " + spec.ref.ToString());
      const int64_t id = ins->Int(0);
      if (Status s = ins->Run(); !s.ok()) return s;
      auto pending = db().Prepare(
          "INSERT INTO pending_links(name, version, content_dir) VALUES (?1,?2,?3) "
          "ON CONFLICT(name, version) DO UPDATE SET content_dir=excluded.content_dir");
      if (!pending.has_value()) return pending.error();
      if (Status s =
              pending->Bind(1, spec.ref.name).Bind(2, spec.ref.version).Bind(3, content_id).Run();
          !s.ok()) {
        return s;
      }
      auto fins = db().Prepare(
          "INSERT INTO files(model_id, path, size, sha256, mtime_ns, ino, dev) "
          "VALUES (?1,?2,?3,?4,?5,?6,?7)");
      if (!fins.has_value()) return fins.error();
      for (size_t i = 0; i < spec.files.size(); ++i) {
        const auto& f = spec.files[i];
        const auto& st = stamps[i];
        fins->Reset();
        fins->Bind(1, id).Bind(2, f.path).Bind(3, static_cast<int64_t>(f.size)).Bind(4, f.sha256);
        if (st) {
          const FileStamp rec = RecordedStamp(db(), *st);
          fins->Bind(5, rec.mtime_ns).Bind(6, ToSql(rec.ino)).Bind(7, ToSql(rec.dev));
        }
        if (Status s = fins->Run(); !s.ok()) return s;
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
    fs::remove_all(ContentDir(options_.data_dir, old_content), ec);
  }
  return Get(spec.ref);
}

Status Store::ClearPendingLink(const ModelRef& ref) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto q = db().Prepare("DELETE FROM pending_links WHERE name=?1 AND version=?2");
    if (!q.has_value()) return q.error();
    return q->Bind(1, ref.name).Bind(2, ref.version).Run();
  });
}

Status Store::RepairLinks() {
  // Only installs interrupted between their commit and their symlink swap are listed.
  std::vector<std::pair<ModelRef, std::string>> rows;
  {
    MutexLock lock(&mu_);
    // Nearly always none: then opening writes nothing.
    auto any = db().Prepare("SELECT 1 FROM pending_links LIMIT 1");
    if (!any.has_value()) return any.error();
    auto found = any->Step();
    if (!found.has_value()) return found.error();
    if (!*found) return Status::OK();
    auto q = db().Prepare(
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
  MutexLock lock(&mu_);
  Status s =
      registry_->WriteTx([&]() REQUIRES(mu_) { return db().Exec("DELETE FROM pending_links"); });
  if (!s.ok() && later(s)) {
    log::Warn("could not record the finished installs (the next start does): {}", s.message());
    return Status::OK();
  }
  return s;
}

Status Store::SaveJob(JobRecord job) {
  if (job.id.empty()) {
    return Status::InvalidArgument("job id is empty");
  }
  int64_t now = UnixSeconds();
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) { return SaveJobRow(db(), job, now); });
}

Status Store::PutRegisteredModel(const RegisteredModel& m) {
  const int64_t now = UnixSeconds();
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) { return PutRegisteredRow(db(), m, now); });
}

Result<std::optional<RegisteredModel>> Store::GetRegisteredModel(const ModelRef& ref) {
  MutexLock lock(&mu_);
  return GetRegisteredRow(db(), ref.ToString());
}

Result<std::vector<RegisteredModel>> Store::ListRegisteredModels() {
  MutexLock lock(&mu_);
  return ListRegisteredRows(db());
}

Result<bool> Store::DeleteRegisteredModel(const ModelRef& ref) {
  MutexLock lock(&mu_);
  bool deleted = false;
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto r = DeleteRegisteredRow(db(), ref.ToString());
    if (!r.has_value()) return r.error();
    deleted = *r;
    return Status::OK();
  });
  if (!s.ok()) return s;
  return deleted;
}

Result<JobRecord> Store::GetJob(const std::string& id) {
  MutexLock lock(&mu_);
  return GetJobRow(db(), id);
}

Result<std::vector<JobRecord>> Store::ListJobs(bool unfinished_only) {
  MutexLock lock(&mu_);
  return ListJobRows(db(), unfinished_only);
}

Status Store::DeleteJob(const std::string& id) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) { return DeleteJobRow(db(), id); });
}

Result<std::optional<FileEntry>> Store::LookupUrl(const std::string& url) {
  MutexLock lock(&mu_);
  auto q = db().Prepare("SELECT path, size, sha256 FROM url_blobs WHERE url=?1");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, url).Step();
  if (!r.has_value()) return r.error();
  if (!*r) return std::optional<FileEntry>();
  FileEntry f{q->Text(0), static_cast<uint64_t>(q->Int(1)), q->Text(2)};
  if (!HasBlob(f.sha256, f.size)) return std::optional<FileEntry>();
  return std::optional<FileEntry>(f);
}

Status Store::RememberUrl(const std::string& url, const FileEntry& entry) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto q = db().Prepare(
        "INSERT INTO url_blobs(url, path, size, sha256) VALUES (?1,?2,?3,?4) "
        "ON CONFLICT(url) DO UPDATE SET path=excluded.path, size=excluded.size, "
        "sha256=excluded.sha256");
    if (!q.has_value()) return q.error();
    return q->Bind(1, url)
        .Bind(2, entry.path)
        .Bind(3, static_cast<int64_t>(entry.size))
        .Bind(4, entry.sha256)
        .Run();
  });
}

namespace {
// The lock file at |path|, made (with its directory, which a data dir made before locks
// existed lacks) if missing.
UniqueFd OpenLockFile(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid() && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd.Reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  }
  return fd;
}
}  // namespace

Result<FileLock> Store::Lock(const std::string& key) {
  fs::path path = LockPath(options_.data_dir, key);
  UniqueFd fd = OpenLockFile(path);
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoStatus("lock " + path.string(), errno);
  }
  return FileLock(std::move(fd));
}

Result<std::optional<FileLock>> Store::TryLock(const std::string& key) {
  fs::path path = LockPath(options_.data_dir, key);
  UniqueFd fd = OpenLockFile(path);
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::optional<FileLock>();
    if (errno != EINTR) return ErrnoStatus("lock " + path.string(), errno);
  }
  return std::optional<FileLock>(FileLock(std::move(fd)));
}

std::optional<int> Store::LockHolder(const std::string& key) const {
  return FlockHolder(LockPath(options_.data_dir, key));
}

fs::path Store::HubRepoDir(const std::string& repo_id) const { return hub_.RepoDir(repo_id); }

std::optional<fs::path> Store::FindHubBlob(const std::string& repo_id,
                                           const std::string& etag) const {
  return hub_.FindBlob(repo_id, etag);
}

Result<std::string> Store::AdoptStaged(Result<std::optional<StagedFile>> staged) {
  if (!staged.has_value()) return staged.error();
  if (!staged->has_value()) return std::string();
  const auto& [tmp, got] = **staged;
  // Hashed just now: it wins over a blob of ours that is not known good.
  if (Status s = AdoptBlob(tmp, got); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return got;
}

Result<std::string> Store::AdoptFromHubCache(const std::string& repo_id, const std::string& etag,
                                             const std::string& sha256, uint64_t size) {
  if (!sha256.empty() && HasVerifiedBlob(sha256, size)) return sha256;
  return AdoptStaged(hub_.Stage(repo_id, etag, sha256, size));
}

Result<std::string> Store::AdoptFromOllama(const std::string& sha256, uint64_t size) {
  if (HasVerifiedBlob(sha256, size)) return sha256;
  return AdoptStaged(ollama_.Stage(sha256, size));
}

Status Store::LinkHubSnapshot(const HubSnapshot& snap) { return hub_.LinkSnapshot(snap); }

}  // namespace modeld::store
