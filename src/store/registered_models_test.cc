#include "store/registered_models.h"

#include <gtest/gtest.h>

#include "registries.h"
#include "store/schema.h"

namespace modeld::store {
namespace {

class RegisteredModelsTest : public ::testing::TestWithParam<testing_pg::Registry> {
 protected:
  void SetUp() override {
    MODELD_EMPTY_REGISTRY_OR_SKIP(db);
    db_ = std::move(db);
    ASSERT_TRUE(Migrate(*db_).ok());
  }
  std::unique_ptr<Db> db_;
};

TEST_P(RegisteredModelsTest, ReadsBackEveryFieldAndReplacesByRef) {
  RegisteredModel m;
  m.ref = "custom:v1";
  m.custom = true;
  m.target = "https://example.com/w.gguf";
  m.fields = {{"description", "mine"}};
  ASSERT_TRUE(PutRegisteredRow(*db_, m, 1000).ok());
  auto got = GetRegisteredRow(*db_, "custom:v1");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_TRUE((*got)->custom);
  EXPECT_EQ((*got)->target, m.target);
  EXPECT_EQ((*got)->fields, m.fields);
  EXPECT_EQ((*got)->recorded, nlohmann::json::object());
  EXPECT_EQ((*got)->created_at, 1000);
  EXPECT_EQ((*got)->updated_at, 1000);

  // Written again: the same row, created_at kept.
  m.fields["description"] = "changed";
  m.recorded = {{"source", "url"}, {"metadata", {{"url", "https://example.com/w.gguf"}}}};
  ASSERT_TRUE(PutRegisteredRow(*db_, m, 2000).ok());
  got = GetRegisteredRow(*db_, "custom:v1");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->fields["description"], "changed");
  EXPECT_EQ((*got)->recorded["source"], "url");
  EXPECT_EQ((*got)->created_at, 1000);
  EXPECT_EQ((*got)->updated_at, 2000);
  auto all = ListRegisteredRows(*db_);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 1u);
}

TEST_P(RegisteredModelsTest, UnknownRefsAndDeletes) {
  auto none = GetRegisteredRow(*db_, "nope:v1");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  RegisteredModel m;
  m.ref = "a:v1";
  ASSERT_TRUE(PutRegisteredRow(*db_, m, 1).ok());
  m.ref = "b:v1";
  ASSERT_TRUE(PutRegisteredRow(*db_, m, 1).ok());
  auto all = ListRegisteredRows(*db_);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].ref, "a:v1");
  auto deleted = DeleteRegisteredRow(*db_, "a:v1");
  ASSERT_TRUE(deleted.has_value());
  EXPECT_TRUE(*deleted);
  deleted = DeleteRegisteredRow(*db_, "a:v1");
  ASSERT_TRUE(deleted.has_value());
  EXPECT_FALSE(*deleted);
  m.ref = "";
  EXPECT_EQ(PutRegisteredRow(*db_, m, 1).code(), Status::Code::kInvalidArgument);
}

TEST_P(RegisteredModelsTest, ColumnsThatAreNotObjectsReadAsEmpty) {
  ASSERT_TRUE(db_->Exec("INSERT INTO registered_models(ref, recorded, fields, created_at, "
                        "updated_at) VALUES ('x:v1', 'not json', '[1,2]', 1, 1)")
                  .ok());
  auto got = GetRegisteredRow(*db_, "x:v1");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->recorded, nlohmann::json::object());
  EXPECT_EQ((*got)->fields, nlohmann::json::object());
}

INSTANTIATE_TEST_SUITE_P(Registries, RegisteredModelsTest, MODELD_REGISTRIES);

}  // namespace
}  // namespace modeld::store
