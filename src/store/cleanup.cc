// Store's cleanup side (docs/store.md, "Remove and gc"): Remove and the removals a crash or
// a full disk interrupted, DiscardBlob, Gc, and the Cache report of what there is to free.
// Files go before rows, behind a removing/ marker, so all of it frees space on a full disk
// and no interruption leaves a model "available" without its files.
//
// Locking: each function's annotation in store.h says whether it takes Store::mu_
// (EXCLUDES) or needs it held (REQUIRES); `make tsa` checks them.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <system_error>

#include "core/fs.h"
#include "core/log.h"
#include "store/db.h"
#include "store/file_ops.h"
#include "store/paths.h"
#include "store/registry_db.h"
#include "store/store.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

// The Hub cache's blob files by inode, read when first asked (only a blob with another
// link makes Remove or Gc ask).
class HubLinkIndex {
 public:
  explicit HubLinkIndex(const HubCache& hub) : hub_(hub) {}
  const std::vector<HubCache::CachedBlob>& Find(const struct stat& st) {
    if (!built_) {
      for (auto& b : hub_.ListBlobs()) by_inode_[{b.dev, b.ino}].push_back(std::move(b));
      built_ = true;
    }
    static const std::vector<HubCache::CachedBlob> kNone;
    auto it = by_inode_.find({static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
    return it == by_inode_.end() ? kNone : it->second;
  }

 private:
  const HubCache& hub_;
  bool built_ = false;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<HubCache::CachedBlob>> by_inode_;
};

// What freeing one blob no model uses did (or, in a dry run, would do).
struct BlobFate {
  uint64_t size = 0;
  bool removed = false;  // deleted from blobs/; false: kept, because the Hub cache links it
  bool freed = false;    // its bytes went back to the file system (its inode's last link)
  uint64_t hub_links_removed = 0;
  std::set<std::string> hub_repos;
};

// Frees the unused blob at |path|: deletes it, unless the Hub cache links its inode too
// and |options|.hf_cache is not set (then deleting it would free no byte: it is kept, for a
// later pull or `gc --hf-cache`); with hf_cache the Hub cache's links go first. nullopt when
// the blob is not there (an earlier pass deleted it).
Result<std::optional<BlobFate>> FreeUnusedBlob(const fs::path& path, const HubCache& hub,
                                               HubLinkIndex& index, const CleanupOptions& options) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::optional<BlobFate>();
  BlobFate fate;
  fate.size = static_cast<uint64_t>(st.st_size);
  uint64_t links = st.st_nlink;
  if (links > 1) {
    const auto& hub_links = index.Find(st);
    for (const auto& h : hub_links) fate.hub_repos.insert(h.repo_id);
    if (!hub_links.empty() && !options.hf_cache) return std::optional<BlobFate>(fate);
    for (const auto& h : hub_links) {
      if (!options.dry_run) {
        if (Status s = hub.RemoveBlob(h.path); !s.ok()) return s;
      }
      ++fate.hub_links_removed;
      --links;
    }
  }
  if (!options.dry_run && ::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return std::optional<BlobFate>();
    return ErrnoStatus("remove " + path.string(), errno);
  }
  fate.removed = true;
  fate.freed = links <= 1;
  return std::optional<BlobFate>(fate);
}

// The fates of the blobs one Remove or Gc freed, by digest: a step that runs twice (a full
// disk's retry) counts each blob once.
class BlobTally {
 public:
  void Add(const std::string& sha256, const BlobFate& fate) { fates_[sha256] = fate; }
  std::vector<std::string> Removed() const {
    std::vector<std::string> out;
    for (const auto& [sha, f] : fates_) {
      if (f.removed) out.push_back(sha);
    }
    return out;
  }
  // Adds the totals to a report's fields.
  void AddTo(uint64_t* blobs_removed, uint64_t* blob_bytes, uint64_t* freed_bytes,
             HubLinkedBlobs* hub) const {
    std::set<std::string> repos(hub->repos.begin(), hub->repos.end());
    for (const auto& [sha, f] : fates_) {
      if (f.removed) {
        ++*blobs_removed;
        *blob_bytes += f.size;
        if (f.freed) *freed_bytes += f.size;
        hub->links_removed += f.hub_links_removed;
      } else {
        ++hub->kept;
        hub->kept_bytes += f.size;
      }
      repos.insert(f.hub_repos.begin(), f.hub_repos.end());
    }
    hub->repos.assign(repos.begin(), repos.end());
  }

 private:
  std::map<std::string, BlobFate> fates_;
};

}  // namespace

Status Store::RemoveBlobIfUnused(const std::string& sha256, GcReport* rep) {
  // REQUIRES: inside a write transaction (so no install can add a reference).
  auto q = db().Prepare(
      "SELECT 1 FROM files WHERE sha256=?1 UNION ALL "
      "SELECT 1 FROM hub_blobs WHERE sha256=?1 LIMIT 1");
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
  return ForgetBlobs({sha256});
}

Status Store::DiscardBlob(const std::string& sha256) {
  MutexLock lock(&mu_);
  return registry_->WriteTx([&]() REQUIRES(mu_) { return RemoveBlobIfUnused(sha256, nullptr); });
}

std::set<std::string> Store::RemovalMarkers() const {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(RemovingRoot(options_.data_dir), ec), end; !ec && it != end;
       it.increment(ec)) {
    out.insert(it->path().filename().string());
  }
  return out;
}

Result<std::vector<Store::Row>> Store::SelectRows(const std::string& where,
                                                  const std::vector<std::string>& args) {
  auto q = db().Prepare("SELECT id, name, version, content_dir FROM models " + where);
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
  auto q = db().Prepare("SELECT DISTINCT f.sha256 FROM files f WHERE f.model_id IN (" + list +
                        ") AND NOT EXISTS (SELECT 1 FROM files g WHERE g.sha256 = f.sha256 AND "
                        "g.model_id NOT IN (" +
                        list +
                        ")) AND NOT EXISTS (SELECT 1 FROM hub_blobs h WHERE h.sha256 = f.sha256)");
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

Status Store::ForgetBlobs(const std::vector<std::string>& digests) {
  // REQUIRES: inside a write transaction.
  auto del = db().Prepare("DELETE FROM url_blobs WHERE sha256=?1");
  if (!del.has_value()) return del.error();
  for (const auto& d : digests) {
    del->Reset();
    if (Status s = del->Bind(1, d).Run(); !s.ok()) return s;
    if (Status s = ForgetBlobRecord(db(), d); !s.ok()) return s;
  }
  return Status::OK();
}

Status Store::RemoveRows(const std::vector<Row>& rows, const CleanupOptions& options,
                         RemoveReport* report) {
  // 1. Mark: from here on these models read as broken, and an interruption is finished by
  //    the next Open, Remove or Gc. An empty file needs an inode, no data block.
  const fs::path marks = RemovingRoot(options_.data_dir);
  if (Status s = CreateDirs(marks); !s.ok()) return s;
  std::vector<fs::path> made;
  auto unmark = [&made] {
    for (const auto& m : made) ::unlink(m.c_str());
  };
  for (const auto& r : rows) {
    fs::path m = RemovalMarker(options_.data_dir, r.content_id);
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
  //    frees little by itself (copies, where links failed); it makes each unused blob's
  //    last link the one in blobs/ (or the Hub cache's).
  uint64_t content_freed = 0;
  for (const auto& r : rows) {
    fs::path link = ModelPath(r.ref);
    std::error_code ec;
    // Only this version's link: an install of the same name may have replaced it since.
    if (fs::read_symlink(link, ec) == ContentLinkTarget(r.ref, r.content_id)) {
      ::unlink(link.c_str());
    }
    for (fs::path p = link.parent_path(); p != ModelsRoot(options_.data_dir); p = p.parent_path()) {
      if (!fs::is_empty(p, ec) || ec) break;
      fs::remove(p, ec);
    }
    content_freed += UnsharedBytes(ContentDir(options_.data_dir, r.content_id));
    fs::remove_all(ContentDir(options_.data_dir, r.content_id), ec);
  }

  // 3. The blobs no other model uses, then the rows: under the write lock, so no install
  //    adds a reference in between. The blobs go first, so on a full disk the registry has
  //    room when it commits.
  std::vector<int64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  BlobTally tally;
  HubLinkIndex hub_links(hub_);
  auto free_blobs = [&]() REQUIRES(mu_) -> Status {
    auto unused = UnusedDigests(ids);
    if (!unused.has_value()) return unused.error();
    for (const auto& d : *unused) {
      auto fate = FreeUnusedBlob(BlobPath(d), hub_, hub_links, options);
      if (!fate.has_value()) return fate.error();
      if (*fate) tally.Add(d, **fate);
    }
    return Status::OK();
  };
  auto forget = [&]() REQUIRES(mu_) -> Status {
    if (Status s = free_blobs(); !s.ok()) return s;
    MaybeCrash("remove-freed");
    auto del = db().Prepare("DELETE FROM models WHERE id=?1");  // and its files (cascade)
    auto unpend =
        db().Prepare("DELETE FROM pending_links WHERE name=?1 AND version=?2 AND content_dir=?3");
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
    return ForgetBlobs(tally.Removed());
  };
  Status s = registry_->WriteTx(forget);
  if (s.code() == Status::Code::kNoSpace || s.code() == Status::Code::kPermissionDenied) {
    // Still no room for the registry, or it is open read-only: free the blobs without the
    // write lock (an install racing with this on a full disk may fetch its blob again),
    // then try once more.
    s = free_blobs();
    if (s.ok()) s = registry_->WriteTx(forget);
  }
  if (!s.ok()) {
    log::Warn(
        "{} stays marked as broken until modeld rm, gc or the next start finishes its "
        "removal: {}",
        rows.front().ref.ToString(), s.message());
    return s;
  }

  // 4. Done: unmark.
  for (const auto& r : rows) ::unlink(RemovalMarker(options_.data_dir, r.content_id).c_str());
  if (report) {
    for (const auto& r : rows) report->removed.push_back(r.ref);
    report->freed_bytes += content_freed;
    tally.AddTo(&report->blobs_removed, &report->blob_bytes, &report->freed_bytes, &report->hub);
  }
  return Status::OK();
}

Status Store::FinishRemovals(RemoveReport* report) {
  const std::set<std::string> marks = RemovalMarkers();
  if (marks.empty()) return Status::OK();
  MutexLock lock(&mu_);
  Status first;
  for (const auto& content_id : marks) {
    auto rows = SelectRows("WHERE content_dir=?1", {content_id});
    if (!rows.has_value()) return rows.error();
    if (rows->empty()) {  // the rows went: only files may be left
      std::error_code ec;
      fs::remove_all(ContentDir(options_.data_dir, content_id), ec);
      ::unlink(RemovalMarker(options_.data_dir, content_id).c_str());
      continue;
    }
    log::Info("finishing the interrupted removal of {}", rows->front().ref.ToString());
    if (Status s = RemoveRows(*rows, CleanupOptions{}, report); !s.ok() && first.ok()) first = s;
  }
  return first;
}

Result<RemoveReport> Store::Remove(const std::string& name, const std::string& version,
                                   const CleanupOptions& options) {
  if (Status s = ValidateModelName(name); !s.ok()) return s;
  if (!version.empty()) {
    if (Status s = ValidateVersion(version); !s.ok()) return s;
  }
  MutexLock lock(&mu_);
  auto rows = version.empty() ? SelectRows("WHERE name=?1", {name})
                              : SelectRows("WHERE name=?1 AND version=?2", {name, version});
  if (!rows.has_value()) return rows.error();
  if (rows->empty()) {
    return Status::NotFound("model '" + name + (version.empty() ? "" : ":" + version) +
                            "' is not installed");
  }
  RemoveReport report;
  if (Status s = RemoveRows(*rows, options, &report); !s.ok()) {
    return s.WithContext("removing " + name + (version.empty() ? "" : ":" + version));
  }
  return report;
}

Result<GcReport> Store::Gc(std::chrono::seconds partial_age, const CleanupOptions& options) {
  GcReport rep;
  rep.dry_run = options.dry_run;
  if (options.dry_run) {
    rep.removals_finished = RemovalMarkers().size();
  } else {
    RemoveReport finished;
    if (Status s = FinishRemovals(&finished); !s.ok()) {
      log::Warn("could not finish an interrupted removal: {}", s.message());
    }
    rep.removals_finished = finished.removed.size();
    rep.freed_bytes += finished.freed_bytes;
    rep.blobs_removed += finished.blobs_removed;
    rep.blob_bytes += finished.blob_bytes;
    rep.hub = finished.hub;
  }
  std::set<std::string> live_content;
  {
    MutexLock lock(&mu_);
    auto q = db().Prepare("SELECT content_dir FROM models");
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
  for (const auto& e : fs::directory_iterator(ContentRoot(options_.data_dir), ec)) {
    if (live_content.count(e.path().filename().string())) continue;
    // A dir younger than a minute may belong to an install running right now.
    auto mtime = fs::last_write_time(e.path(), ec);
    if (!ec && now - mtime < std::chrono::minutes(1)) continue;
    rep.freed_bytes += UnsharedBytes(e.path());
    if (!options.dry_run) fs::remove_all(e.path(), ec);
    ++rep.content_dirs_removed;
  }
  // Partials whose lock nobody holds, that no job keeps, and that are old enough.
  std::set<fs::path> kept;
  for (const auto& key : options.keep_partials) kept.insert(PartialDir(key).filename());
  for (const auto& e : fs::directory_iterator(PartialRoot(options_.data_dir), ec)) {
    if (kept.count(e.path().filename())) continue;
    fs::path lockfile = LockPathForDigest(options_.data_dir, e.path().filename().string());
    UniqueFd fd(::open(lockfile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    auto mtime = fs::last_write_time(e.path(), ec);
    if (ec || now - mtime < partial_age) continue;
    rep.partial_bytes += TreeBytes(e.path());
    rep.freed_bytes += UnsharedBytes(e.path());
    if (!options.dry_run) fs::remove_all(e.path(), ec);
    ++rep.partials_removed;
  }
  // Blobs no model references: deleted under the write lock (so no install adds a
  // reference meanwhile), with the URLs that produced them.
  MutexLock lock(&mu_);
  BlobTally tally;
  HubLinkIndex hub_links(hub_);
  auto free_blobs = [&]() REQUIRES(mu_) -> Status {
    std::error_code dir_ec;
    for (fs::directory_iterator it(BlobDir(options_.data_dir), dir_ec), end; !dir_ec && it != end;
         it.increment(dir_ec)) {
      std::string name = it->path().filename().string();
      if (name.size() != 64) continue;
      auto q = db().Prepare(
          "SELECT 1 FROM files WHERE sha256=?1 UNION ALL "
          "SELECT 1 FROM hub_blobs WHERE sha256=?1 LIMIT 1");
      if (!q.has_value()) return q.error();
      auto used = q->Bind(1, name).Step();
      if (!used.has_value()) return used.error();
      if (*used) continue;
      auto fate = FreeUnusedBlob(it->path(), hub_, hub_links, options);
      if (!fate.has_value()) return fate.error();
      if (*fate) tally.Add(name, **fate);
    }
    return Status::OK();
  };
  auto done = [&]() {
    tally.AddTo(&rep.blobs_removed, &rep.blob_bytes, &rep.freed_bytes, &rep.hub);
    return rep;
  };
  if (options.dry_run) {
    if (Status f = free_blobs(); !f.ok()) return f;
    return done();
  }
  auto forget = [&]() REQUIRES(mu_) -> Status { return ForgetBlobs(tally.Removed()); };
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    if (Status f = free_blobs(); !f.ok()) return f;
    return forget();
  });
  if (s.code() == Status::Code::kNoSpace || s.code() == Status::Code::kPermissionDenied) {
    // No room even for that, or the registry is open read-only: delete them without the
    // write lock (an install racing with this on a full disk may fetch its blob again).
    if (Status f = free_blobs(); !f.ok()) return f;
    if (tally.Removed().empty()) return done();
    s = registry_->WriteTx(forget);
    // A URL remembered for a blob that is gone is harmless (LookupUrl checks the blob), and
    // so is its record (a blob adopted again is another inode: its stat will not match).
    if (!s.ok()) log::Warn("could not forget the URLs of the removed blobs: {}", s.message());
    return done();
  }
  if (!s.ok()) return s;
  return done();
}

Result<CacheReport> Store::Cache() {
  CacheReport rep;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(BlobDir(options_.data_dir), ec)) {
    if (!e.is_regular_file(ec)) continue;
    ++rep.blob_count;
    rep.blob_bytes += e.file_size(ec);
  }
  for (const auto& e : fs::directory_iterator(PartialRoot(options_.data_dir), ec)) {
    ++rep.partial_count;
    rep.partial_bytes += TreeBytes(e.path());
  }
  auto models = Query("", {}, Read{.files = false, .check = false});  // sizes only
  if (!models.has_value()) return models.error();
  rep.model_count = models->size();
  for (const auto& m : *models) {
    rep.logical_bytes += m.size;
    rep.per_model.emplace_back(m.ref.ToString(), m.size);
  }
  auto avail = AvailableBytes(options_.data_dir);
  if (avail.has_value()) rep.free_bytes = *avail;

  // The Hub cache's files that are our blobs (the same inode), and whether a model uses
  // them. Only a blob with another link can be one.
  std::map<std::pair<uint64_t, uint64_t>, std::string> linked;  // (dev, inode) -> sha256
  for (fs::directory_iterator it(BlobDir(options_.data_dir), ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2) continue;
    linked[{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}] =
        it->path().filename().string();
  }
  if (linked.empty()) return rep;
  std::set<std::string> used;
  {
    MutexLock lock(&mu_);
    auto q = db().Prepare("SELECT sha256 FROM files UNION SELECT sha256 FROM hub_blobs");
    if (!q.has_value()) return q.error();
    for (;;) {
      auto r = q->Step();
      if (!r.has_value()) return r.error();
      if (!*r) break;
      used.insert(q->Text(0));
    }
  }
  std::map<std::string, HubCacheRepo> repos;
  for (const auto& b : hub_.ListBlobs()) {
    auto it = linked.find({b.dev, b.ino});
    if (it == linked.end()) continue;
    HubCacheRepo& r = repos[b.repo_id];
    r.repo_id = b.repo_id;
    r.path = b.path.parent_path().parent_path();
    ++r.files;
    r.bytes += b.size;
    if (!used.count(it->second)) {
      ++r.unused_files;
      r.unused_bytes += b.size;
    }
  }
  for (auto& [id, r] : repos) rep.hub_repos.push_back(std::move(r));
  return rep;
}

}  // namespace modeld::store
