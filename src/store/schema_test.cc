#include "store/schema.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "store/sqlite.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

// Rows of a query, each as its columns joined by '|'.
std::vector<std::string> Rows(SqliteDb& db, const std::string& sql) {
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db.raw(), sql.c_str(), -1, &q, nullptr), SQLITE_OK) << sql;
  std::vector<std::string> out;
  while (q && sqlite3_step(q) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(q); ++c) {
      const auto* text = sqlite3_column_text(q, c);
      row += (c ? "|" : "") + std::string(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    out.push_back(row);
  }
  sqlite3_finalize(q);
  return out;
}

std::unique_ptr<SqliteDb> MemoryDb() {
  auto db = SqliteDb::Open(":memory:");
  EXPECT_TRUE(db.has_value()) << db.error().ToString();
  return std::move(db.value());
}

// A registry as the modeld that knew only the first |version| migrations left it.
std::unique_ptr<SqliteDb> DbAtVersion(int64_t version) {
  auto db = MemoryDb();
  for (int64_t v = 0; v < version; ++v) {
    EXPECT_TRUE(db->Exec(MigrationSql(Engine::kSqlite, Migrations()[v])).ok())
        << "migration " << v + 1;
  }
  EXPECT_TRUE(db->Exec("PRAGMA user_version = " + std::to_string(version)).ok());
  return db;
}

// The schema, as SQLite records it: equal schemas were made by equal statements.
std::vector<std::string> Schema(SqliteDb& db) {
  return Rows(db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name");
}

TEST(SchemaTest, MigratesAnEmptyRegistryToTheLatestVersion) {
  auto db = MemoryDb();
  EXPECT_EQ(*SchemaVersion(*db), 0);
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(*SchemaVersion(*db), LatestSchemaVersion());
  EXPECT_EQ(LatestSchemaVersion(), static_cast<int64_t>(Migrations().size()));
  EXPECT_EQ(Rows(*db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"),
            (std::vector<std::string>{"blobs", "files", "hub_blobs", "hub_listings", "hub_refs",
                                      "jobs", "leases", "models", "pending_links",
                                      "registered_models", "url_blobs"}));
  // The columns later migrations added are there.
  ASSERT_TRUE(db->Exec("SELECT size FROM models").ok());
  ASSERT_TRUE(db->Exec("SELECT mtime_ns, ino, dev FROM files").ok());
  ASSERT_TRUE(db->Exec("SELECT interrupted_runs, run_start_bytes FROM jobs").ok());
}

TEST(SchemaTest, MigratesARegistryAtEachOlderVersionWithItsRows) {
  auto fresh = MemoryDb();
  ASSERT_TRUE(Migrate(*fresh).ok());
  const auto want = Schema(*fresh);
  for (int64_t version = 1; version < LatestSchemaVersion(); ++version) {
    SCOPED_TRACE("from version " + std::to_string(version));
    auto db = DbAtVersion(version);
    // Rows every version has (the first migration's columns only).
    ASSERT_TRUE(db->Exec("INSERT INTO models(id, name, version, status, content_dir, created_at, "
                         "installed_at) VALUES (1, 'm', 'v1', 'available', 'c1', 1, 2), "
                         "(2, 'empty', 'v1', 'broken', 'c2', 1, 2)")
                    .ok());
    ASSERT_TRUE(db->Exec("INSERT INTO files(model_id, path, size, sha256) VALUES "
                         "(1, 'a.bin', 3, 'x'), (1, 'b/c.json', 5, 'y')")
                    .ok());
    ASSERT_TRUE(db->Exec("INSERT INTO jobs(id, model, request, state, bytes_done, created_at, "
                         "updated_at) VALUES ('j1', 'm:v1', '{}', 'downloading', 7, 1, 2)")
                    .ok());
    ASSERT_TRUE(Migrate(*db).ok());
    EXPECT_EQ(*SchemaVersion(*db), LatestSchemaVersion());
    EXPECT_EQ(Schema(*db), want) << "the same schema as a new registry's";
    // Version 2 summed each model's files into its size (models installed before it).
    if (version < 2) {
      EXPECT_EQ(Rows(*db, "SELECT name, size FROM models ORDER BY id"),
                (std::vector<std::string>{"m|8", "empty|0"}));
    }
    EXPECT_EQ(
        Rows(*db, "SELECT id, state, bytes_done, interrupted_runs, run_start_bytes FROM jobs"),
        (std::vector<std::string>{"j1|downloading|7|0|0"}));
    EXPECT_EQ(Rows(*db, "SELECT count(*) FROM files"), (std::vector<std::string>{"2"}));
    // Version 7: the jobs' insertion order, from SQLite's rowid.
    EXPECT_EQ(Rows(*db, "SELECT id, seq FROM jobs"), (std::vector<std::string>{"j1|1"}));
    // Version 4: files installed before have no stamp (a size check until verified).
    EXPECT_EQ(Rows(*db, "SELECT path, mtime_ns, ino, dev FROM files ORDER BY path"),
              (std::vector<std::string>{"a.bin|NULL|NULL|NULL", "b/c.json|NULL|NULL|NULL"}));
  }
}

TEST(SchemaTest, AnUpToDateRegistryIsLeftAlone) {
  auto db = MemoryDb();
  ASSERT_TRUE(Migrate(*db).ok());
  ASSERT_TRUE(db->Exec("INSERT INTO jobs(id, model, request, state, created_at, updated_at) "
                       "VALUES ('j1', 'm:v1', '{}', 'queued', 1, 1)")
                  .ok());
  const auto before = Schema(*db);
  const int changes = sqlite3_total_changes(db->raw());
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(Schema(*db), before);
  EXPECT_EQ(sqlite3_total_changes(db->raw()), changes);
}

TEST(SchemaTest, ReadsTheVersionOfARegistryOpenReadOnly) {
  fs::path dir = fs::temp_directory_path() / ("modeld_schema_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto db = SqliteDb::Open(dir / "registry.sqlite");
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(Migrate(**db).ok());
  }
  {
    auto ro = SqliteDb::OpenReadOnly(dir / "registry.sqlite");
    ASSERT_TRUE(ro.has_value()) << ro.error().ToString();
    auto v = SchemaVersion(**ro);
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    EXPECT_EQ(*v, LatestSchemaVersion());
  }
  fs::remove_all(dir);
}

TEST(SchemaTest, RefusesARegistryNewerThanThisModeld) {
  auto db = DbAtVersion(LatestSchemaVersion());
  ASSERT_TRUE(db->Exec("PRAGMA user_version = " + std::to_string(LatestSchemaVersion() + 1)).ok());
  Status s = Migrate(*db);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("upgrade modeld"), std::string::npos) << s.ToString();
  EXPECT_EQ(*SchemaVersion(*db), LatestSchemaVersion() + 1);
}

TEST(SchemaTest, PostgresGets64BitIntegersAndIdentityColumns) {
  EXPECT_EQ(MigrationSql(Engine::kPostgres,
                         "CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, t TEXT); "
                         "UPDATE m SET n = {ROWID};"),
            "CREATE TABLE m (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT "
            "NULL, t TEXT); UPDATE m SET n = 0;");
  EXPECT_EQ(MigrationSql(Engine::kSqlite, "CREATE TABLE m (id INTEGER PRIMARY KEY); {ROWID}"),
            "CREATE TABLE m (id INTEGER PRIMARY KEY); rowid");
  // Every migration, as PostgreSQL gets it, has no 32-bit INTEGER left.
  for (const char* sql : Migrations()) {
    std::string pg = MigrationSql(Engine::kPostgres, sql);
    EXPECT_EQ(pg.find("INTEGER"), std::string::npos) << pg;
    EXPECT_EQ(pg.find("{ROWID}"), std::string::npos) << pg;
  }
}

TEST(SchemaTest, AFailingMigrationChangesNothing) {
  auto db = DbAtVersion(1);
  // Migration 2 creates pending_links: make it fail there.
  ASSERT_TRUE(db->Exec("CREATE TABLE pending_links (x)").ok());
  const auto before = Schema(*db);
  Status s = Migrate(*db);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("migration 2"), std::string::npos) << s.ToString();
  EXPECT_EQ(*SchemaVersion(*db), 1);
  EXPECT_EQ(Schema(*db), before);
  EXPECT_FALSE(Migrate(*db).ok()) << "still failing, still not half-done";
}

}  // namespace
}  // namespace modeld::store
