#include "store/registry_db.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "store/sqlite.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

class RegistryDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("modeld_registrydb_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path Path() const { return root_ / "registry.sqlite"; }
  static int64_t Count(RegistryDb& r) {
    auto q = r.db().Prepare("SELECT count(*) FROM t");
    EXPECT_TRUE(q.has_value()) << q.error().ToString();
    auto row = q->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return q->Int(0);
  }
  static Status Insert(RegistryDb& r) { return r.db().Exec("INSERT INTO t VALUES (1)"); }

  fs::path root_;
};

TEST_F(RegistryDbTest, OpensANewRegistryReadWriteAndCommits) {
  auto r = RegistryDb::Open(Path(), /*existing=*/false);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_FALSE((*r)->read_only());
  ASSERT_TRUE((*r)->WriteTx([&] { return (*r)->db().Exec("CREATE TABLE t (x)"); }).ok());
  ASSERT_TRUE((*r)->WriteTx([&] { return Insert(**r); }).ok());
  EXPECT_EQ(Count(**r), 1);
  EXPECT_FALSE(RegistryDb::Open(root_ / "no" / "such" / "registry.sqlite", false).has_value());
  EXPECT_FALSE(RegistryDb::Open(root_ / "no" / "such" / "registry.sqlite", true).has_value());
}

TEST_F(RegistryDbTest, AFailedBodyRollsBackAndRunsOnce) {
  auto r = RegistryDb::Open(Path(), false);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE((*r)->WriteTx([&] { return (*r)->db().Exec("CREATE TABLE t (x)"); }).ok());
  int runs = 0;
  Status s = (*r)->WriteTx([&] {
    ++runs;
    EXPECT_TRUE(Insert(**r).ok());
    return Status::Corrupt("no");
  });
  EXPECT_EQ(s.code(), Status::Code::kCorrupt);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(Count(**r), 0) << "rolled back";
}

TEST_F(RegistryDbTest, AWriteOutOfSpaceIsRetriedOnceAfterACheckpoint) {
  auto r = RegistryDb::Open(Path(), false);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE((*r)->WriteTx([&] { return (*r)->db().Exec("CREATE TABLE t (x)"); }).ok());
  int runs = 0;
  Status s = (*r)->WriteTx([&] {
    EXPECT_TRUE(Insert(**r).ok());
    return ++runs == 1 ? Status::NoSpace("full") : Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(Count(**r), 1) << "the first run rolled back, the second committed";
  runs = 0;
  s = (*r)->WriteTx([&] {
    ++runs;
    EXPECT_TRUE(Insert(**r).ok());
    return Status::NoSpace("still full");
  });
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_EQ(runs, 2) << "once more, not for ever";
  EXPECT_EQ(Count(**r), 1);
}

TEST_F(RegistryDbTest, AReadOnlyRegistryIsReadAndHealsOnTheNextWrite) {
  {
    auto r = RegistryDb::Open(Path(), false);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE((*r)->WriteTx([&] { return (*r)->db().Exec("CREATE TABLE t (x)"); }).ok());
    ASSERT_TRUE((*r)->WriteTx([&] { return Insert(**r); }).ok());
  }
  // As Open leaves it on a full disk (the disk here has room again).
  auto ro = SqliteDb::OpenReadOnly(Path());
  ASSERT_TRUE(ro.has_value()) << ro.error().ToString();
  RegistryDb r(Path(), std::move(ro.value()), Status::NoSpace("full"));
  EXPECT_TRUE(r.read_only());
  EXPECT_EQ(Count(r), 1);
  EXPECT_FALSE(Insert(r).ok()) << "the connection itself cannot write";
  ASSERT_TRUE(r.WriteTx([&] { return Insert(r); }).ok());
  EXPECT_FALSE(r.read_only());
  EXPECT_EQ(Count(r), 2);
}

}  // namespace
}  // namespace modeld::store
