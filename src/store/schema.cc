#include "store/schema.h"

#include <iterator>
#include <string>
#include <string_view>

namespace modeld::store {

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
    // 4: verification records (store/verification.h): each blob's size, mtime and inode
    // when its bytes were last hashed, so reusing it takes a stat() unless it changed since;
    // and each installed file's, so ls and info notice a file deleted, replaced or written
    // to. Rows from before stay NULL (a size check) until a full verify fills them in.
    R"sql(
    CREATE TABLE blobs (
      sha256      TEXT PRIMARY KEY,
      size        INTEGER NOT NULL,
      mtime_ns    INTEGER NOT NULL,
      ino         INTEGER NOT NULL,
      dev         INTEGER NOT NULL,
      verified_at INTEGER NOT NULL
    );
    ALTER TABLE files ADD COLUMN mtime_ns INTEGER;
    ALTER TABLE files ADD COLUMN ino INTEGER;
    ALTER TABLE files ADD COLUMN dev INTEGER;
    )sql",
    // 5: what is inside each model (formats::ModelMetadata as JSON, with "error" when its
    // files could not be read), and when it was read: NULL until the model is inspected
    // (models installed before this migration are inspected on first info). Beside the
    // user's own metadata, never merged into it.
    R"sql(
    ALTER TABLE models ADD COLUMN inspection TEXT;
    ALTER TABLE models ADD COLUMN inspected_at INTEGER;
    )sql",
    // 6: models known by name that need not be installed (store/registered_models.h): a
    // client's custom models, and installed models whose files were removed with their
    // entry kept, with what to pull for each.
    R"sql(
    CREATE TABLE registered_models (
      ref        TEXT PRIMARY KEY,
      custom     INTEGER NOT NULL DEFAULT 0,
      target     TEXT NOT NULL DEFAULT '',
      recorded   TEXT NOT NULL DEFAULT '{}',
      fields     TEXT NOT NULL DEFAULT '{}',
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    )sql",
    // 7: the Hub mirror (store/store.h, "Hub mirror"): which commit a revision named when
    // last asked, each commit's listing as the upstream gave it, and the blobs the mirror
    // holds by their etag (kept by gc).
    R"sql(
    CREATE TABLE hub_refs (
      kind       TEXT NOT NULL,
      repo       TEXT NOT NULL,
      revision   TEXT NOT NULL,
      commit_id  TEXT NOT NULL,
      checked_at INTEGER NOT NULL,
      PRIMARY KEY (kind, repo, revision)
    );
    CREATE TABLE hub_listings (
      kind       TEXT NOT NULL,
      repo       TEXT NOT NULL,
      commit_id  TEXT NOT NULL,
      listing    TEXT NOT NULL,
      fetched_at INTEGER NOT NULL,
      PRIMARY KEY (kind, repo, commit_id)
    );
    CREATE TABLE hub_blobs (
      etag    TEXT PRIMARY KEY,
      sha256  TEXT NOT NULL,
      size    INTEGER NOT NULL,
      used_at INTEGER NOT NULL
    );
    CREATE INDEX hub_blobs_by_sha256 ON hub_blobs(sha256);
    )sql",
    // 8: leases with fencing tokens (store/leases.h), for work that one process of several
    // sharing the registry does at a time; a released lease keeps its row (and fence), so
    // fences are never reused. And the jobs' insertion order as a column (SQLite's rowid
    // until now; PostgreSQL has none), so both engines list jobs the same way.
    R"sql(
    CREATE TABLE leases (
      name       TEXT PRIMARY KEY,
      holder     TEXT NOT NULL,
      fence      INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    );
    ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET seq = {ROWID};
    )sql",
};

// Replaces every |from| in |s| by |to|.
void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

}  // namespace

std::span<const char* const> Migrations() { return kMigrations; }

int64_t LatestSchemaVersion() { return static_cast<int64_t>(std::size(kMigrations)); }

std::string MigrationSql(Engine engine, std::string_view sql) {
  std::string out(sql);
  if (engine == Engine::kPostgres) {
    ReplaceAll(out, "INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
    ReplaceAll(out, "INTEGER", "BIGINT");
    ReplaceAll(out, "{ROWID}", "0");
  } else {
    ReplaceAll(out, "{ROWID}", "rowid");
  }
  return out;
}

Result<int64_t> SchemaVersion(Db& db) { return db.SchemaVersion(); }

Status Migrate(Db& db) {
  auto tx = Transaction::Begin(db);
  if (!tx.has_value()) {
    return tx.error();
  }
  // Read again under the write lock: another process may have migrated meanwhile.
  auto version = SchemaVersion(db);
  if (!version.has_value()) {
    return version.error();
  }
  const int64_t latest = LatestSchemaVersion();
  if (*version > latest) {
    return Status::FailedPrecondition("registry schema version " + std::to_string(*version) +
                                      " is newer than this modeld knows (" +
                                      std::to_string(latest) + "): upgrade modeld");
  }
  for (int64_t v = *version; v < latest; ++v) {
    if (Status s = db.Exec(MigrationSql(db.engine(), kMigrations[v])); !s.ok()) {
      return s.WithContext("migration " + std::to_string(v + 1));
    }
  }
  if (*version != latest) {
    if (Status s = db.SetSchemaVersion(latest); !s.ok()) {
      return s;
    }
  }
  return (*tx)->Commit();
}

}  // namespace modeld::store
