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
#include "store/file_ops.h"
#include "store/paths.h"
#include "store/registry_db.h"
#include "store/schema.h"
#include "store/sqlite.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

std::string& CrashPoint() {
  static std::string point;
  return point;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
      registry_(std::move(registry)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  StoreOptions o = options;
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
  auto db = RegistryDb::Open(registry, existing);
  if (!db.has_value()) {
    return db.error();
  }
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
  return **record == *now ? BlobState::kVerified : BlobState::kChanged;
}

void Store::RecordBlobBestEffort(const std::string& sha256, const FileStamp& stamp) {
  int64_t now = NowSeconds();
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
      int64_t now = NowSeconds();
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
      int64_t id = db().LastInsertId();
      auto pending = db().Prepare(
          "INSERT OR REPLACE INTO pending_links(name, version, content_dir) VALUES (?1,?2,?3)");
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
        if (st) fins->Bind(5, st->mtime_ns).Bind(6, ToSql(st->ino)).Bind(7, ToSql(st->dev));
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

Status Store::ForEach(
    const std::string& where, const std::vector<std::string>& args, Read read,
    const std::function<void(int64_t id, const ModelInfo&, const std::vector<FileRow>&)>& fn) {
  const bool with_rows = read.files || read.check;
  // Every model: every file first, in one scan of the files table (far cheaper than an
  // index lookup per file), in one vector ordered by model. A few models: their files
  // joined to them.
  const bool scan_files = with_rows && where.empty();
  const bool join_files = with_rows && !where.empty();
  std::vector<std::pair<int64_t, FileRow>> scanned;
  if (scan_files) {
    auto f = db().Prepare(std::string("SELECT model_id, path, size, ") +
                          (read.files ? "sha256" : "''") + ", mtime_ns, ino, dev FROM files");
    if (!f.has_value()) return f.error();
    for (;;) {
      auto r = f->Step();
      if (!r.has_value()) return r.error();
      if (!*r) break;
      auto& [model_id, row] = scanned.emplace_back();
      model_id = f->Int(0);
      row.entry = {f->Text(1), static_cast<uint64_t>(f->Int(2)), f->Text(3)};
      if (!f->IsNull(4)) {
        row.stamp = FileStamp{row.entry.size, f->Int(4), FromSql(f->Int(5)), FromSql(f->Int(6))};
      }
    }
    std::sort(scanned.begin(), scanned.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second.entry.path < b.second.entry.path;
    });
  }
  std::string sql =
      "SELECT m.id, m.name, m.version, m.source, m.description, m.tags, m.metadata, m.status, "
      "m.created_at, m.installed_at, m.size, m.content_dir";
  if (join_files) sql += ", f.path, f.size, f.sha256, f.mtime_ns, f.ino, f.dev";
  sql += " FROM models m ";
  if (join_files) sql += "LEFT JOIN files f ON f.model_id = m.id ";
  sql += where + " ORDER BY m.name, m.version";
  if (join_files) sql += ", f.path";
  // Removals in progress or interrupted: those models are broken, whatever was recorded.
  const std::set<std::string> removing = RemovalMarkers();
  auto q = db().Prepare(sql);
  if (!q.has_value()) return q.error();
  for (size_t i = 0; i < args.size(); ++i) q->Bind(static_cast<int>(i + 1), args[i]);
  ModelInfo m;                // reused row to row: its buffers keep their capacity
  std::vector<FileRow> rows;  // this model's files (joined, or copied from |scanned|)
  std::string recorded;       // the status the registry holds
  std::string file_name;
  UniqueFd data_fd;
  if (read.check) {
    data_fd.Reset(::open(options_.data_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  int64_t id = 0;
  bool have = false;
  auto finish = [&] {
    if (scan_files) {
      auto it = std::lower_bound(scanned.begin(), scanned.end(), id,
                                 [](const auto& e, int64_t key) { return e.first < key; });
      for (; it != scanned.end() && it->first == id; ++it) rows.push_back(it->second);
    }
    m.files.clear();
    if (read.files) {
      for (const auto& r : rows) m.files.push_back(r.entry);
    }
    m.problems.clear();
    if (read.check) {
      // One stat() per file, through the model's path (what users open), relative to the
      // data dir (fewer names for the kernel to look up) and built in one reused buffer:
      // `modeld ls` of 10,000 models makes 20,000 of these.
      file_name.assign("models/").append(m.ref.name).append("/").append(m.ref.version);
      file_name.push_back('/');
      const size_t base = file_name.size();
      for (const auto& r : rows) {
        file_name.resize(base);
        file_name += r.entry.path;
        std::string p =
            StatProblem(data_fd.valid() ? data_fd.get() : AT_FDCWD,
                        data_fd.valid() ? file_name.c_str() : (m.path / r.entry.path).c_str(),
                        r.entry.path, r.entry.size, r.stamp);
        if (!p.empty()) m.problems.push_back(std::move(p));
      }
      if (m.problems.empty() && recorded == "broken") {
        m.problems.push_back("marked broken by an earlier full check; run a full verify");
      }
    }
    if (m.removing) {
      m.problems.push_back("its removal was interrupted: modeld rm " + m.ref.ToString() +
                           " finishes it");
    }
    m.status = read.check ? (m.problems.empty() ? "available" : "broken")
                          : (m.removing ? "broken" : recorded);
    fn(id, m, rows);
  };
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    if (!have || q->Int(0) != id) {
      if (have) finish();
      have = true;
      id = q->Int(0);
      rows.clear();
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
      recorded = q->Text(7);
      m.created_at = q->Int(8);
      m.installed_at = q->Int(9);
      m.size = static_cast<uint64_t>(q->Int(10));
      m.path = ModelPath(m.ref);
    }
    if (join_files && !q->IsNull(12)) {
      FileRow row;
      row.entry = {q->Text(12), static_cast<uint64_t>(q->Int(13)), q->Text(14)};
      if (!q->IsNull(15)) {
        row.stamp = FileStamp{row.entry.size, q->Int(15), FromSql(q->Int(16)), FromSql(q->Int(17))};
      }
      rows.push_back(std::move(row));
    }
  }
  if (have) finish();
  return Status::OK();
}

Status Store::ScanModels(const std::function<void(const ModelInfo&)>& fn) {
  MutexLock lock(&mu_);
  return ForEach("", {}, Read{}, [&](int64_t, const ModelInfo& m, const auto&) { fn(m); });
}

Result<std::vector<ModelInfo>> Store::Query(const std::string& where,
                                            const std::vector<std::string>& args, Read read) {
  MutexLock lock(&mu_);
  std::vector<ModelInfo> out;
  if (Status s = ForEach(where, args, read,
                         [&](int64_t, const ModelInfo& m, const auto&) { out.push_back(m); });
      !s.ok()) {
    return s;
  }
  return out;
}

Result<std::vector<ModelInfo>> Store::List(bool with_files) {
  return Query("", {}, Read{.files = with_files});
}

Result<ModelInfo> Store::Get(const ModelRef& ref) {
  auto r = Query("WHERE m.name=?1 AND m.version=?2", {ref.name, ref.version}, Read{.files = true});
  if (!r.has_value()) return r.error();
  if (r->empty()) return Status::NotFound("model '" + ref.ToString() + "' is not installed");
  return std::move(r->front());
}

Result<std::vector<ModelInfo>> Store::Versions(const std::string& name) {
  return Query("WHERE m.name=?1", {name}, Read{.files = true});
}

Result<std::vector<VerifyResult>> Store::Verify(const std::optional<ModelRef>& only, bool full_hash,
                                                std::vector<ModelInfo>* checked,
                                                Status* record_error) {
  struct Item {
    int64_t id;
    ModelInfo m;  // status: as recorded (broken if its removal was interrupted)
    std::vector<FileRow> rows;
  };
  std::vector<Item> items;
  {
    MutexLock lock(&mu_);
    std::string where = only ? "WHERE m.name=?1 AND m.version=?2" : "";
    std::vector<std::string> args;
    if (only) args = {only->name, only->version};
    Status s = ForEach(where, args, Read{.files = true, .check = false},
                       [&](int64_t id, const ModelInfo& m, const std::vector<FileRow>& rows) {
                         items.push_back({id, m, rows});
                       });
    if (!s.ok()) return s;
  }
  if (only && items.empty())
    return Status::NotFound("model '" + only->ToString() + "' is not installed");
  // Hashing happens without the lock. What it finds is recorded at the end, in one write.
  std::vector<VerifyResult> out;
  std::vector<std::pair<ModelRef, std::string>> changes;
  struct Stamped {
    int64_t model_id;
    std::string path;
    FileStamp stamp;
  };
  std::vector<Stamped> file_stamps;
  std::map<std::string, FileStamp> blob_records;
  std::set<std::string> bad_blobs;
  for (auto& item : items) {
    ModelInfo& m = item.m;
    VerifyResult v{m.ref, true, {}, m.removing};
    for (const auto& row : item.rows) {
      const FileEntry& f = row.entry;
      fs::path p = m.path / f.path;
      // A full check reads the bytes, so a stamp that moved (a touch) is no problem itself.
      std::string problem = StatProblem(AT_FDCWD, p.c_str(), f.path, f.size,
                                        full_hash ? std::optional<FileStamp>() : row.stamp);
      if (!problem.empty()) {
        v.problems.push_back(std::move(problem));
        continue;
      }
      if (!full_hash) continue;
      auto hashed = HashFile(p);
      if (!hashed.has_value()) {
        v.problems.push_back(f.path + ": " + hashed.error().message());
        continue;
      }
      // The model's file is the blob itself when hard-linked (or symlinked) to it: then
      // what was found holds for the blob too.
      auto blob = StampOf(BlobPath(f.sha256));
      const bool is_blob = blob && blob->SameFile(hashed->stamp);
      if (hashed->sha256 != f.sha256) {
        v.problems.push_back(f.path + ": sha256 " + hashed->sha256 + ", want " + f.sha256);
        if (is_blob) bad_blobs.insert(f.sha256);
        continue;
      }
      if (!row.stamp || !(*row.stamp == hashed->stamp)) {
        file_stamps.push_back({item.id, f.path, hashed->stamp});
      }
      if (is_blob && PeekBlob(f.sha256, f.size) != BlobState::kVerified) {
        blob_records[f.sha256] = hashed->stamp;
      }
    }
    if (!full_hash && v.problems.empty() && m.status == "broken" && !m.removing) {
      // A stat check cannot clear what a full check found: only a full check or a
      // reinstall makes a broken model available again.
      v.problems.push_back("marked broken by an earlier full check; run a full verify");
    }
    if (m.removing) {
      v.problems.push_back("its removal was interrupted: modeld rm " + m.ref.ToString() +
                           " finishes it");
    }
    v.ok = v.problems.empty();
    std::string status = v.ok ? "available" : "broken";
    if (status != m.status && !m.removing) changes.emplace_back(m.ref, status);
    m.status = status;
    m.problems = v.problems;
    out.push_back(std::move(v));
  }
  for (const auto& sha : bad_blobs) blob_records.erase(sha);
  if (!changes.empty() || !file_stamps.empty() || !blob_records.empty() || !bad_blobs.empty()) {
    const int64_t now = NowSeconds();
    MutexLock lock(&mu_);
    Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
      auto q = db().Prepare("UPDATE models SET status=?1 WHERE name=?2 AND version=?3");
      if (!q.has_value()) return q.error();
      for (const auto& [ref, status] : changes) {
        q->Reset();
        if (Status r = q->Bind(1, status).Bind(2, ref.name).Bind(3, ref.version).Run(); !r.ok()) {
          return r;
        }
      }
      for (const auto& f : file_stamps) {
        if (Status r = RecordFileStamp(db(), f.model_id, f.path, f.stamp); !r.ok()) return r;
      }
      for (const auto& [sha, stamp] : blob_records) {
        if (Status r = RecordBlob(db(), sha, stamp, now); !r.ok()) return r;
      }
      for (const auto& sha : bad_blobs) {
        if (Status r = ForgetBlobRecord(db(), sha); !r.ok()) return r;
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
  if (checked) {
    checked->clear();
    for (auto& item : items) checked->push_back(std::move(item.m));
  }
  return out;
}

Status Store::SaveJob(JobRecord job) {
  if (job.id.empty()) {
    return Status::InvalidArgument("job id is empty");
  }
  int64_t now = NowSeconds();
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) { return SaveJobRow(db(), job, now); });
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
  fs::path path = LockPath(options_.data_dir, key);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoStatus("lock " + path.string(), errno);
  }
  return FileLock(std::move(fd));
}

Result<std::optional<FileLock>> Store::TryLock(const std::string& key) {
  fs::path path = LockPath(options_.data_dir, key);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
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

Result<std::string> Store::AdoptFromHubCache(const std::string& repo_id, const std::string& etag,
                                             const std::string& sha256, uint64_t size) {
  if (!sha256.empty() && HasVerifiedBlob(sha256, size)) return sha256;
  auto staged = hub_.Stage(repo_id, etag, sha256, size);
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

Status Store::LinkHubSnapshot(const HubSnapshot& snap) { return hub_.LinkSnapshot(snap); }

}  // namespace modeld::store
