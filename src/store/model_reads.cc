// Store's reads of installed models (store/store.h): ForEach and what is built on it
// (ScanModels, Query, List, Get, Versions), and Verify, which checks files against their
// verification records and digests; and Usage, the store's size from the registry.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/checksum.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"
#include "store/db.h"
#include "store/file_ops.h"
#include "store/registry_db.h"
#include "store/store.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

// |inspection| without its "gguf_metadata", as SQLite's json_remove gives it (keys in their
// order, no spaces); unchanged when it is not a JSON object or has none.
std::string WithoutGgufMetadata(std::string inspection) {
  if (inspection.find("\"gguf_metadata\"") == std::string::npos) return inspection;
  auto j = nlohmann::ordered_json::parse(inspection, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("gguf_metadata")) return inspection;
  j.erase("gguf_metadata");
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// The "version" of an inspection's JSON, 0 when it has none (or is not JSON): what
// ModelsToInspect compares, as SQLite's json_extract does.
int64_t InspectionVersion(const std::string& inspection) {
  auto j = ParseJsonOrDiscarded(inspection);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_number()) return 0;
  return j["version"].get<int64_t>();
}

}  // namespace

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
      "m.created_at, m.installed_at, m.size, m.content_dir, ";
  // Listings leave out the GGUF key/values (tens of KB a model): SQLite drops them, so a
  // listing of 10,000 models does not carry them through. PostgreSQL has no json_valid
  // (a cast of a text that is not JSON fails the query): WithoutGgufMetadata does it here.
  const bool strip_here = !read.full_inspection && db().engine() != Engine::kSqlite;
  sql += read.full_inspection || strip_here
             ? "m.inspection"
             : "CASE WHEN json_valid(m.inspection) THEN json_remove(m.inspection, "
               "'$.gguf_metadata') ELSE m.inspection END";
  sql += ", m.inspected_at";
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
      m.inspection = q->IsNull(12) ? std::string() : q->Text(12);
      if (strip_here) m.inspection = WithoutGgufMetadata(std::move(m.inspection));
      m.inspected_at = q->IsNull(13) ? 0 : q->Int(13);
    }
    if (join_files && !q->IsNull(14)) {
      FileRow row;
      row.entry = {q->Text(14), static_cast<uint64_t>(q->Int(15)), q->Text(16)};
      if (!q->IsNull(17)) {
        row.stamp = FileStamp{row.entry.size, q->Int(17), FromSql(q->Int(18)), FromSql(q->Int(19))};
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
  auto r = Query("WHERE m.name=?1 AND m.version=?2", {ref.name, ref.version},
                 Read{.files = true, .full_inspection = true});
  if (!r.has_value()) return r.error();
  if (r->empty()) return Status::NotFound("model '" + ref.ToString() + "' is not installed");
  return std::move(r->front());
}

Result<std::vector<ModelInfo>> Store::Versions(const std::string& name) {
  return Query("WHERE m.name=?1", {name}, Read{.files = true, .full_inspection = true});
}

Status Store::SetInspection(const ModelRef& ref, const std::string& inspection) {
  MutexLock lock(&mu_);
  bool found = false;
  Status s = registry_->WriteTx([&]() REQUIRES(mu_) -> Status {
    auto q = db().Prepare(
        "UPDATE models SET inspection=?1, inspected_at=?2 WHERE name=?3 AND version=?4");
    if (!q.has_value()) return q.error();
    q->Bind(1, inspection).Bind(2, UnixSeconds()).Bind(3, ref.name).Bind(4, ref.version);
    if (Status r = q->Run(); !r.ok()) return r;
    found = db().Changes() > 0;
    return Status::OK();
  });
  if (!s.ok()) return s;
  if (!found) return Status::NotFound("model '" + ref.ToString() + "' is not installed");
  return Status::OK();
}

Result<std::vector<ModelRef>> Store::ModelsToInspect(int version) {
  MutexLock lock(&mu_);
  if (db().engine() != Engine::kSqlite) {
    // No json_valid or json_extract there: the same test on each inspection, here.
    auto q = db().Prepare(
        "SELECT name, version, inspection FROM models ORDER BY installed_at DESC, name, version");
    if (!q.has_value()) return q.error();
    std::vector<ModelRef> out;
    for (;;) {
      auto r = q->Step();
      if (!r.has_value()) return r.error();
      if (!*r) break;
      if (q->IsNull(2) || InspectionVersion(q->Text(2)) < version) {
        out.push_back({q->Text(0), q->Text(1)});
      }
    }
    return out;
  }
  auto q = db().Prepare(
      "SELECT name, version FROM models WHERE inspection IS NULL OR NOT json_valid(inspection) "
      "OR IFNULL(json_extract(inspection, '$.version'), 0) < ?1 "
      "ORDER BY installed_at DESC, name, version");
  if (!q.has_value()) return q.error();
  q->Bind(1, static_cast<int64_t>(version));
  std::vector<ModelRef> out;
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    out.push_back({q->Text(0), q->Text(1)});
  }
  return out;
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
    Status s = ForEach(where, args, Read{.files = true, .check = false, .full_inspection = false},
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
      if (!row.stamp || !row.stamp->Matches(hashed->stamp)) {
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
    const int64_t now = UnixSeconds();
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

Result<UsageReport> Store::Usage() {
  UsageReport u;
  {
    MutexLock lock(&mu_);
    auto models = db().Prepare("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM models");
    if (!models.has_value()) return models.error();
    auto m = models->Step();
    if (!m.has_value()) return m.error();
    if (*m) u.model_count = static_cast<uint64_t>(models->Int(0));
    // Each digest once (files_by_sha256): blobs shared by models take their space once.
    auto blobs = db().Prepare(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM "
        "(SELECT MAX(size) AS size FROM files GROUP BY sha256) AS b");
    if (!blobs.has_value()) return blobs.error();
    auto b = blobs->Step();
    if (!b.has_value()) return b.error();
    if (*b) {
      u.blob_count = static_cast<uint64_t>(blobs->Int(0));
      u.blob_bytes = static_cast<uint64_t>(blobs->Int(1));
    }
  }
  auto avail = AvailableBytes(options_.data_dir);
  if (avail.has_value()) u.free_bytes = *avail;
  return u;
}

}  // namespace modeld::store
