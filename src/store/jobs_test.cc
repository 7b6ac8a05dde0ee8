#include "store/jobs.h"

#include <gtest/gtest.h>

#include "registries.h"
#include "store/schema.h"

namespace modeld::store {
namespace {

class JobsTest : public ::testing::TestWithParam<testing_pg::Registry> {
 protected:
  void SetUp() override {
    MODELD_EMPTY_REGISTRY_OR_SKIP(db);
    db_ = std::move(db);
    ASSERT_TRUE(Migrate(*db_).ok());
  }
  static JobRecord Job(const std::string& id, const std::string& state) {
    JobRecord j;
    j.id = id;
    j.model = "resnet50:v1.0";
    j.request = {{"model_name", "resnet50"}, {"version", "v1.0"}};
    j.state = state;
    return j;
  }
  std::vector<std::string> Ids(bool unfinished_only) {
    auto jobs = ListJobRows(*db_, unfinished_only);
    EXPECT_TRUE(jobs.has_value()) << jobs.error().ToString();
    std::vector<std::string> ids;
    for (const auto& j : *jobs) {
      ids.push_back(j.id);
    }
    return ids;
  }

  std::unique_ptr<Db> db_;
};

TEST_P(JobsTest, ReadsBackEveryField) {
  JobRecord a = Job("dwnld_1", "downloading");
  a.bytes_done = 10;
  a.bytes_total = 100;
  a.error = "";
  a.interrupted_runs = 2;
  a.run_start_bytes = 4;
  ASSERT_TRUE(SaveJobRow(*db_, a, 1000).ok());
  auto got = GetJobRow(*db_, "dwnld_1");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_EQ(got->model, "resnet50:v1.0");
  EXPECT_EQ(got->request, a.request);
  EXPECT_EQ(got->state, "downloading");
  EXPECT_EQ(got->bytes_done, 10u);
  EXPECT_EQ(got->bytes_total, 100u);
  EXPECT_EQ(got->error, "");
  EXPECT_EQ(got->created_at, 1000);
  EXPECT_EQ(got->updated_at, 1000);
  EXPECT_EQ(got->interrupted_runs, 2);
  EXPECT_EQ(got->run_start_bytes, 4u);

  JobRecord b = Job("dwnld_2", "failed");
  b.error = "NotFound: no such file";
  ASSERT_TRUE(SaveJobRow(*db_, b, 1000).ok());
  got = GetJobRow(*db_, "dwnld_2");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->bytes_total.has_value()) << "an unknown total stays unknown";
  EXPECT_EQ(got->error, "NotFound: no such file");
}

TEST_P(JobsTest, AnUpdateReplacesTheRowButKeepsItsCreationTime) {
  JobRecord a = Job("dwnld_1", "queued");
  ASSERT_TRUE(SaveJobRow(*db_, a, 1000).ok());
  a.state = "completed";
  a.bytes_done = 50;
  a.bytes_total = 50;
  a.error = "";
  ASSERT_TRUE(SaveJobRow(*db_, a, 2000).ok());
  EXPECT_EQ(Ids(false), std::vector<std::string>{"dwnld_1"}) << "an update, not a second row";
  auto got = GetJobRow(*db_, "dwnld_1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, "completed");
  EXPECT_EQ(got->bytes_done, 50u);
  EXPECT_EQ(got->created_at, 1000);
  EXPECT_EQ(got->updated_at, 2000);
  // An error cleared by an update reads as none.
  a.error = "Cancelled";
  ASSERT_TRUE(SaveJobRow(*db_, a, 3000).ok());
  a.error = "";
  ASSERT_TRUE(SaveJobRow(*db_, a, 4000).ok());
  EXPECT_EQ(GetJobRow(*db_, "dwnld_1")->error, "");
}

TEST_P(JobsTest, ListsOldestFirstAndCanLeaveOutFinishedJobs) {
  // Saved out of order; two created in the same second keep their insertion order.
  ASSERT_TRUE(SaveJobRow(*db_, Job("c", "completed"), 30).ok());
  ASSERT_TRUE(SaveJobRow(*db_, Job("a", "queued"), 10).ok());
  ASSERT_TRUE(SaveJobRow(*db_, Job("f", "failed"), 20).ok());
  ASSERT_TRUE(SaveJobRow(*db_, Job("p", "paused"), 20).ok());
  ASSERT_TRUE(SaveJobRow(*db_, Job("x", "cancelled"), 40).ok());
  ASSERT_TRUE(SaveJobRow(*db_, Job("d", "downloading"), 40).ok());
  EXPECT_EQ(Ids(false), (std::vector<std::string>{"a", "f", "p", "c", "x", "d"}));
  EXPECT_EQ(Ids(true), (std::vector<std::string>{"a", "p", "d"}));
}

TEST_P(JobsTest, GetsAndDeletesByIdAndSurvivesABadRequestColumn) {
  EXPECT_EQ(GetJobRow(*db_, "nope").error().code(), Status::Code::kNotFound);
  ASSERT_TRUE(SaveJobRow(*db_, Job("a", "queued"), 10).ok());
  ASSERT_TRUE(DeleteJobRow(*db_, "a").ok());
  EXPECT_EQ(GetJobRow(*db_, "a").error().code(), Status::Code::kNotFound);
  EXPECT_TRUE(DeleteJobRow(*db_, "a").ok()) << "deleting what is gone is fine";
  // A row some other writer garbled: its request reads as an empty object, not an error.
  ASSERT_TRUE(db_->Exec("INSERT INTO jobs(id, model, request, state, created_at, updated_at) "
                        "VALUES ('g', 'm:v1', '{not json', 'queued', 1, 1)")
                  .ok());
  auto got = GetJobRow(*db_, "g");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_EQ(got->request, nlohmann::json::object());
}

INSTANTIATE_TEST_SUITE_P(Registries, JobsTest, MODELD_REGISTRIES);

}  // namespace
}  // namespace modeld::store
