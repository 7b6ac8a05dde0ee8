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
#include <set>
#include <system_error>

#include "core/fs.h"
#include "core/log.h"
#include "store/file_ops.h"
#include "store/paths.h"
#include "store/registry_db.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace modeld::store {

namespace fs = std::filesystem;

Status Store::RemoveBlobIfUnused(const std::string& sha256, GcReport* rep) {
  // REQUIRES: inside a write transaction (so no install can add a reference).
  auto q = db().Prepare("SELECT 1 FROM files WHERE sha256=?1 LIMIT 1");
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

Status Store::RemoveRows(const std::vector<Row>& rows) {
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
  //    frees little by itself; it makes each unused blob's last link the one in blobs/.
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
    fs::remove_all(ContentDir(options_.data_dir, r.content_id), ec);
  }

  // 3. The blobs no other model uses, then the rows: under the write lock, so no install
  //    adds a reference in between. The blobs go first, so on a full disk the registry has
  //    room when it commits.
  std::vector<int64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  std::set<std::string> freed;
  auto free_blobs = [&]() REQUIRES(mu_) -> Status {
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
    return ForgetBlobs(std::vector<std::string>(freed.begin(), freed.end()));
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
  return Status::OK();
}

Status Store::FinishRemovals() {
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
    if (Status s = RemoveRows(*rows); !s.ok() && first.ok()) first = s;
  }
  return first;
}

Result<std::vector<ModelRef>> Store::Remove(const std::string& name, const std::string& version) {
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
  if (Status s = RemoveRows(*rows); !s.ok()) {
    return s.WithContext("removing " + name + (version.empty() ? "" : ":" + version));
  }
  std::vector<ModelRef> removed;
  for (const auto& r : *rows) removed.push_back(r.ref);
  return removed;
}

Result<GcReport> Store::Gc(std::chrono::seconds partial_age) {
  GcReport rep;
  if (Status s = FinishRemovals(); !s.ok()) {
    log::Warn("could not finish an interrupted removal: {}", s.message());
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
    fs::remove_all(e.path(), ec);
    ++rep.content_dirs_removed;
  }
  // Partials whose lock nobody holds and that are old enough.
  for (const auto& e : fs::directory_iterator(PartialRoot(options_.data_dir), ec)) {
    fs::path lockfile = LockPathForDigest(options_.data_dir, e.path().filename().string());
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
  MutexLock lock(&mu_);
  std::set<std::string> freed;
  auto free_blobs = [&]() REQUIRES(mu_) -> Status {
    std::error_code dir_ec;
    for (fs::directory_iterator it(BlobDir(options_.data_dir), dir_ec), end; !dir_ec && it != end;
         it.increment(dir_ec)) {
      std::string name = it->path().filename().string();
      if (name.size() != 64) continue;
      auto q = db().Prepare("SELECT 1 FROM files WHERE sha256=?1 LIMIT 1");
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
  auto forget = [&]() REQUIRES(mu_) -> Status {
    return ForgetBlobs(std::vector<std::string>(freed.begin(), freed.end()));
  };
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    if (Status f = free_blobs(); !f.ok()) return f;
    return forget();
  });
  if (s.code() == Status::Code::kNoSpace || s.code() == Status::Code::kPermissionDenied) {
    // No room even for that, or the registry is open read-only: delete them without the
    // write lock (an install racing with this on a full disk may fetch its blob again).
    if (Status f = free_blobs(); !f.ok()) return f;
    if (freed.empty()) return rep;
    s = registry_->WriteTx(forget);
    // A URL remembered for a blob that is gone is harmless (LookupUrl checks the blob), and
    // so is its record (a blob adopted again is another inode: its stat will not match).
    if (!s.ok()) log::Warn("could not forget the URLs of the removed blobs: {}", s.message());
    return rep;
  }
  if (!s.ok()) return s;
  return rep;
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
  return rep;
}

}  // namespace modeld::store
