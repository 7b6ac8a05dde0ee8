// The registry engines a test runs on, for value-parameterised tests of the store:
//   INSTANTIATE_TEST_SUITE_P(Registries, StoreTest, MODELD_REGISTRIES);
// names the instances ".../sqlite" and ".../postgres". A PostgreSQL instance takes a new
// database of the throwaway cluster (throwaway_pg.h), or skips saying why there is none.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/postgres.h"
#include "store/sqlite.h"
#include "throwaway_pg.h"

namespace modeld::testing_pg {

enum class Registry { kSqlite, kPostgres };

inline std::string RegistryName(const ::testing::TestParamInfo<Registry>& info) {
  return info.param == Registry::kSqlite ? "sqlite" : "postgres";
}

// An empty temporary directory named after |prefix|, this process and the running test.
inline std::filesystem::path FreshTestRoot(const std::string& prefix) {
  auto root = std::filesystem::temp_directory_path() /
              (prefix + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(root);
  return root;
}

}  // namespace modeld::testing_pg

#define MODELD_REGISTRIES                                       \
  ::testing::Values(::modeld::testing_pg::Registry::kSqlite,    \
                    ::modeld::testing_pg::Registry::kPostgres), \
      ::modeld::testing_pg::RegistryName

// In SetUp of a fixture parameterised by Registry: declares std::unique_ptr<store::Db>
// |var|, an empty database of the engine (SQLite in memory, or a new PostgreSQL database),
// or skips the test.
#define MODELD_EMPTY_REGISTRY_OR_SKIP(var)                          \
  std::unique_ptr<::modeld::store::Db> var;                         \
  if (GetParam() == ::modeld::testing_pg::Registry::kSqlite) {      \
    auto opened_ = ::modeld::store::SqliteDb::Open(":memory:");     \
    ASSERT_TRUE(opened_.has_value()) << opened_.error().ToString(); \
    var = std::move(opened_.value());                               \
  } else {                                                          \
    MODELD_PG_DATABASE_OR_SKIP(url_);                               \
    auto opened_ = ::modeld::store::OpenPostgres(url_);             \
    ASSERT_TRUE(opened_.has_value()) << opened_.error().ToString(); \
    var = std::move(opened_.value());                               \
  }

// In SetUp of a fixture parameterised by Registry: |root| a fresh temporary directory
// (FreshTestRoot(prefix)) and |opts| (store::StoreOptions) a store under it, its registry
// the engine's (SQLite in the data dir, or a new PostgreSQL database), or skips the test.
#define MODELD_STORE_OPTIONS_OR_SKIP(root, opts, prefix)         \
  root = ::modeld::testing_pg::FreshTestRoot(prefix);            \
  opts.data_dir = root / "data";                                 \
  opts.hf_cache = root / "hf";                                   \
  if (GetParam() == ::modeld::testing_pg::Registry::kPostgres) { \
    MODELD_PG_DATABASE_OR_SKIP(url_);                            \
    opts.registry = url_;                                        \
  }
