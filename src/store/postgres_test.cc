#include "store/postgres.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "registries.h"
#include "store/registry_db.h"
#include "store/schema.h"

namespace modeld::store {
namespace {

TEST(PostgresTest, PlaceholdersBecomeNumberedDollarsOutsideQuotes) {
  int n = -1;
  EXPECT_EQ(PgPlaceholders("SELECT 1", &n), "SELECT 1");
  EXPECT_EQ(n, 0);
  EXPECT_EQ(PgPlaceholders("VALUES (?1,?2,?8,?8,?10)", &n), "VALUES ($1,$2,$8,$8,$10)");
  EXPECT_EQ(n, 10);
  EXPECT_EQ(PgPlaceholders("a=? AND b=? AND c=?7 AND d=?", &n), "a=$1 AND b=$2 AND c=$7 AND d=$8");
  EXPECT_EQ(n, 8);
  EXPECT_EQ(PgPlaceholders("x='?1 it''s ?' AND \"we?ird\"=?1", &n),
            "x='?1 it''s ?' AND \"we?ird\"=$1");
  EXPECT_EQ(n, 1);
}

TEST(PostgresTest, ConnectionDefaultsYieldToTheUrlsOwn) {
  EXPECT_EQ(WithConnectionDefaults("postgresql://h/db"),
            "postgresql://h/db?connect_timeout=10&application_name=modeld");
  EXPECT_EQ(WithConnectionDefaults("postgresql://h/db?sslmode=require&connect_timeout=3"),
            "postgresql://h/db?sslmode=require&connect_timeout=3&application_name=modeld");
  EXPECT_EQ(WithConnectionDefaults("postgres://h/db?application_name=a"),
            "postgres://h/db?application_name=a&connect_timeout=10");
}

TEST(PostgresTest, ErrorsMapToTheCodesSqliteGives) {
  using C = Status::Code;
  const std::pair<const char*, C> cases[] = {
      {"23505", C::kAlreadyExists},    {"23503", C::kAlreadyExists},
      {"40001", C::kUnavailable},      {"40P01", C::kUnavailable},
      {"08006", C::kUnavailable},      {"", C::kUnavailable},
      {"53300", C::kUnavailable},      {"57P01", C::kUnavailable},
      {"55P03", C::kUnavailable},      {"53100", C::kNoSpace},
      {"42501", C::kPermissionDenied}, {"28P01", C::kPermissionDenied},
      {"25006", C::kPermissionDenied}, {"XX001", C::kCorrupt},
      {"42601", C::kIoError},          {"42P01", C::kIoError},
  };
  for (const auto& [state, code] : cases) {
    EXPECT_EQ(PgStatus(state, "m").code(), code) << state;
  }
  EXPECT_EQ(PgStatus("08006", "see https://u:secret@h/x").message().find("secret"),
            std::string::npos);
  std::string m =
      PgStatus("", "bad \"postgresql://u:secret@h:5432/d?x=1\" or postgres://v:pw2@h").message();
  EXPECT_EQ(m.find("secret"), std::string::npos) << m;
  EXPECT_EQ(m.find("pw2"), std::string::npos) << m;
  EXPECT_NE(m.find("@h:5432/d"), std::string::npos) << m;
}

TEST(PostgresTest, AnUnreachableServerIsUnavailableAndThePasswordStaysOut) {
  if (!PostgresSupported()) GTEST_SKIP() << "built without libpqxx";
  // Port 1 on loopback: nothing listens there.
  auto db = OpenPostgres("postgresql://user:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=5");
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), Status::Code::kUnavailable) << db.error().ToString();
  EXPECT_EQ(db.error().ToString().find("s3cr3t-pw"), std::string::npos) << db.error().ToString();
  EXPECT_NE(db.error().ToString().find("127.0.0.1"), std::string::npos) << db.error().ToString();
}

class PostgresDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MODELD_PG_DATABASE_OR_SKIP(url);
    url_ = url;
    db_ = Open();
    ASSERT_NE(db_, nullptr);
  }
  std::unique_ptr<Db> Open() {
    auto db = OpenPostgres(url_);
    EXPECT_TRUE(db.has_value()) << db.error().ToString();
    return db.has_value() ? std::move(db.value()) : nullptr;
  }
  std::string url_;
  std::unique_ptr<Db> db_;
};

TEST_F(PostgresDbTest, StatementsBindReadAndMapErrors) {
  ASSERT_TRUE(Migrate(*db_).ok());
  EXPECT_EQ(*SchemaVersion(*db_), LatestSchemaVersion());
  // 64-bit integers (PostgreSQL's INTEGER is 32 bits: the migrations say BIGINT there).
  const int64_t big = (int64_t{1} << 40) + 7;
  auto ins = db_->Prepare("INSERT INTO url_blobs(url, path, size, sha256) VALUES (?1, ?2, ?3, ?4)");
  ASSERT_TRUE(ins.has_value());
  ASSERT_TRUE(ins->Bind(1, "u").Bind(2, "p").Bind(3, big).Bind(4, "h").Run().ok());
  EXPECT_EQ(db_->Changes(), 1);
  ins->Reset();
  Status dup = ins->Bind(1, "u").Bind(2, "p").Bind(3, big).Bind(4, "h").Run();
  EXPECT_EQ(dup.code(), Status::Code::kAlreadyExists) << dup.ToString();
  auto q = db_->Prepare("SELECT size, path, NULL, 'x' || ?1 FROM url_blobs WHERE url=?2");
  ASSERT_TRUE(q.has_value());
  auto row = q->Bind(1, "y").Bind(2, "u").Step();
  ASSERT_TRUE(row.has_value() && *row) << (row.has_value() ? "" : row.error().ToString());
  EXPECT_EQ(q->Int(0), big);
  EXPECT_EQ(q->Text(1), "p");
  EXPECT_TRUE(q->IsNull(2));
  EXPECT_EQ(q->Int(2), 0);
  EXPECT_EQ(q->Text(3), "xy");
  EXPECT_FALSE(*q->Step());
  EXPECT_EQ(db_->Exec("SELEC nonsense").code(), Status::Code::kIoError);
  auto app =
      db_->Prepare("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(app.has_value() && *app->Step());
  EXPECT_EQ(app->Text(0), "modeld");
  // A transaction rolled back leaves nothing.
  {
    auto tx = Transaction::Begin(*db_);
    ASSERT_TRUE(tx.has_value());
    ASSERT_TRUE(db_->Exec("DELETE FROM url_blobs").ok());
  }
  auto count = db_->Prepare("SELECT count(*) FROM url_blobs");
  ASSERT_TRUE(count.has_value() && *count->Step());
  EXPECT_EQ(count->Int(0), 1);
}

// Several instances starting at once on a new database: one migrates, the others find
// nothing to do (the advisory lock), and none fails.
TEST_F(PostgresDbTest, InstancesStartingAtOnceMigrateOnce) {
  constexpr int kInstances = 6;
  std::vector<std::unique_ptr<Db>> dbs;
  for (int i = 0; i < kInstances; ++i) {
    dbs.push_back(Open());
    ASSERT_NE(dbs.back(), nullptr);
  }
  std::latch start(kInstances);
  std::vector<Status> results(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = Migrate(*dbs[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*SchemaVersion(*db_), LatestSchemaVersion());
  auto q = db_->Prepare("SELECT count(*) FROM modeld_schema_version");
  ASSERT_TRUE(q.has_value() && *q->Step());
  EXPECT_EQ(q->Int(0), 1);
}

// Rows of |sql|, each as its columns joined by '|' (NULL for null).
std::vector<std::string> PgRows(Db& db, const std::string& sql) {
  std::vector<std::string> out;
  auto q = db.Prepare(sql);
  EXPECT_TRUE(q.has_value()) << sql;
  if (!q.has_value()) return out;
  for (;;) {
    auto r = q->Step();
    EXPECT_TRUE(r.has_value()) << sql << ": " << (r.has_value() ? "" : r.error().ToString());
    if (!r.has_value() || !*r) break;
    std::string row;
    for (int c = 0;; ++c) {
      // The queries below name their column count in their first column.
      if (c >= q->Int(0)) break;
      row += (c ? "|" : "") + (q->IsNull(c + 1) ? std::string("NULL") : q->Text(c + 1));
    }
    out.push_back(row);
  }
  return out;
}

// The schema as PostgreSQL describes it: equal schemas were made by equal statements.
std::vector<std::string> PgSchema(Db& db) {
  return PgRows(db,
                "SELECT 4, table_name, column_name, data_type, COALESCE(column_default, '') FROM "
                "information_schema.columns WHERE table_schema = current_schema() ORDER BY "
                "table_name, column_name");
}

// A registry that a modeld knowing the first |version| migrations would leave, upgraded
// with its rows: the same migrations PostgreSQL will run when later ones are added.
TEST_F(PostgresDbTest, MigratesARegistryAtEachOlderVersionWithItsRows) {
  ASSERT_TRUE(Migrate(*db_).ok());
  const auto want = PgSchema(*db_);
  EXPECT_NE(std::find(want.begin(), want.end(), "files|size|bigint|"), want.end())
      << "64-bit sizes";
  for (int64_t version = 1; version < LatestSchemaVersion(); ++version) {
    SCOPED_TRACE("from version " + std::to_string(version));
    MODELD_PG_DATABASE_OR_SKIP(url);
    auto opened = OpenPostgres(url);
    ASSERT_TRUE(opened.has_value());
    Db& db = **opened;
    {
      auto tx = Transaction::Begin(db);
      ASSERT_TRUE(tx.has_value());
      for (int64_t v = 0; v < version; ++v) {
        ASSERT_TRUE(db.Exec(MigrationSql(Engine::kPostgres, Migrations()[v])).ok());
      }
      ASSERT_TRUE(db.SetSchemaVersion(version).ok());
      ASSERT_TRUE((*tx)->Commit().ok());
    }
    ASSERT_TRUE(db.Exec("INSERT INTO models(name, version, status, content_dir, created_at, "
                        "installed_at) VALUES ('m', 'v1', 'available', 'c1', 1, 2), "
                        "('empty', 'v1', 'broken', 'c2', 1, 2)")
                    .ok());
    ASSERT_TRUE(db.Exec("INSERT INTO files(model_id, path, size, sha256) SELECT id, 'a.bin', "
                        "3, 'x' FROM models WHERE name = 'm'")
                    .ok());
    ASSERT_TRUE(db.Exec("INSERT INTO files(model_id, path, size, sha256) SELECT id, "
                        "'b/c.json', 5000000000, 'y' FROM models WHERE name = 'm'")
                    .ok());
    ASSERT_TRUE(db.Exec("INSERT INTO jobs(id, model, request, state, bytes_done, created_at, "
                        "updated_at) VALUES ('j1', 'm:v1', '{}', 'downloading', 7, 1, 2)")
                    .ok());
    ASSERT_TRUE(Migrate(db).ok());
    EXPECT_EQ(*SchemaVersion(db), LatestSchemaVersion());
    EXPECT_EQ(PgSchema(db), want) << "the same schema as a new registry's";
    if (version < 2) {
      EXPECT_EQ(PgRows(db, "SELECT 2, name, size FROM models ORDER BY id"),
                (std::vector<std::string>{"m|5000000003", "empty|0"}));
    }
    EXPECT_EQ(PgRows(db, "SELECT 4, id, state, bytes_done, interrupted_runs FROM jobs"),
              (std::vector<std::string>{"j1|downloading|7|0"}));
    // A new model's id still comes from the identity column.
    auto ins = db.Prepare(
        "INSERT INTO models(name, version, status, content_dir, created_at, installed_at) "
        "VALUES ('n', 'v1', 'available', 'c3', 1, 2) RETURNING id");
    ASSERT_TRUE(ins.has_value());
    auto row = ins->Step();
    ASSERT_TRUE(row.has_value() && *row);
    EXPECT_GT(ins->Int(0), 2);
  }
}

TEST_F(PostgresDbTest, RefusesARegistryNewerThanThisModeld) {
  ASSERT_TRUE(Migrate(*db_).ok());
  ASSERT_TRUE(db_->Exec("UPDATE modeld_schema_version SET version = version + 1").ok());
  Status s = Migrate(*db_);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
}

// A connection the server dropped (a restart, a failover) is made again: a write
// transaction retries, a statement outside one reconnects.
TEST_F(PostgresDbTest, ALostConnectionIsRetriedAndReopened) {
  auto registry = RegistryDb::OpenPostgres(url_);
  ASSERT_TRUE(registry.has_value()) << registry.error().ToString();
  RegistryDb& r = **registry;
  ASSERT_TRUE(Migrate(r.db()).ok());
  auto kill_others = [&] {
    ASSERT_TRUE(db_->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND pid <> pg_backend_pid()")
                    .ok());
  };
  kill_others();
  int runs = 0;
  Status s = r.WriteTx([&] {
    ++runs;
    return r.db().Exec("INSERT INTO leases VALUES ('n', 'h', 1, 0)");
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(runs, 1);
  kill_others();
  // The first statement may meet the dead connection (Unavailable); the next reconnects.
  Status first = r.db().Exec("SELECT 1");
  if (!first.ok()) {
    EXPECT_EQ(first.code(), Status::Code::kUnavailable) << first.ToString();
  }
  auto q = r.db().Prepare("SELECT count(*) FROM leases");
  ASSERT_TRUE(q.has_value());
  auto row = q->Step();
  ASSERT_TRUE(row.has_value() && *row) << (row.has_value() ? "" : row.error().ToString());
  EXPECT_EQ(q->Int(0), 1);
}

}  // namespace
}  // namespace modeld::store
