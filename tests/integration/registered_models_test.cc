// ModelService's registered models (issue 13's custom models and delete-cache entries),
// against a real store and the test origin: a custom model downloads from its target; its
// files removed with the entry kept, it downloads again from where it came from; only
// custom models change; names, targets and duplicates are checked.
#include <gtest/gtest.h>

#include "engine_harness.h"
#include "origin.h"
#include "service/model_service.h"

namespace modeld::testing {
namespace {

class RegisteredModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = OpenTestStore(dir_.path());
    ASSERT_TRUE(st);
    svc_ = std::make_unique<service::ModelService>(std::move(st));
  }
  // Pulls registered |ref| as a client's download would.
  Result<service::PullResult> Download(const ModelRef& ref) {
    auto m = svc_->GetRegistered(ref);
    if (!m.has_value()) return m.error();
    auto req = svc_->PullRequestFor(*m);
    if (!req.has_value()) return req.error();
    req->options.max_backoff = std::chrono::milliseconds(100);
    return svc_->Pull(*req, [](const service::Progress&) {});
  }

  TestOrigin origin_;
  ScratchDir dir_;
  std::unique_ptr<service::ModelService> svc_;
};

TEST_F(RegisteredModelsTest, ACustomModelDownloadsFromItsTargetAndKeepsItsEntry) {
  const std::string data = RandomBytes(256 * 1024, 3);
  origin_.Put("/w.gguf", {.content = data});
  const ModelRef ref{"mine", "v1"};
  auto created = svc_->CreateCustom(ref, origin_.Url("/w.gguf"), {{"description", "my model"}});
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  EXPECT_TRUE(created->custom);
  EXPECT_EQ(created->fields["description"], "my model");
  EXPECT_GT(created->created_at, 0);

  auto pulled = Download(ref);
  ASSERT_TRUE(pulled.has_value()) << pulled.error().ToString();
  EXPECT_EQ(pulled->model.ref, ref);
  EXPECT_EQ(pulled->model.size, data.size());

  // Files removed, entry kept: downloaded again from the same place.
  auto removed = svc_->RemoveFilesKeepEntry(ref, {});
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(svc_->Info(ref).error().code(), Status::Code::kNotFound);
  auto kept = svc_->GetRegistered(ref);
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->custom) << "still the client's";
  EXPECT_EQ(kept->fields["description"], "my model");
  ASSERT_TRUE(Download(ref).has_value());
  EXPECT_TRUE(svc_->Info(ref).has_value());

  // Forgotten: no entry, the files stay.
  auto gone = svc_->Unregister(ref);
  ASSERT_TRUE(gone.has_value());
  EXPECT_TRUE(*gone);
  EXPECT_EQ(svc_->GetRegistered(ref).error().code(), Status::Code::kNotFound);
  EXPECT_TRUE(svc_->Info(ref).has_value());
  EXPECT_FALSE(*svc_->Unregister(ref));
}

TEST_F(RegisteredModelsTest, AnInstalledModelKeptWithoutItsFilesComesBackFromItsRecordedSource) {
  const std::string data = RandomBytes(128 * 1024, 4);
  origin_.Put("/plain.bin", {.content = data});
  service::PullRequest req;
  req.url = origin_.Url("/plain.bin");
  req.ref = {"plain", "v1"};
  ASSERT_TRUE(svc_->Pull(req, [](const service::Progress&) {}).has_value());
  ASSERT_TRUE(svc_->RemoveFilesKeepEntry(req.ref, {}).has_value());
  auto kept = svc_->GetRegistered(req.ref);
  ASSERT_TRUE(kept.has_value()) << kept.error().ToString();
  EXPECT_FALSE(kept->custom);
  EXPECT_TRUE(kept->has_recorded_source);
  auto again = svc_->PullRequestFor(*kept);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->url, origin_.Url("/plain.bin")) << "its recorded URL";
  ASSERT_TRUE(Download(req.ref).has_value());

  // Not custom: a client may not change it.
  auto update = svc_->UpdateCustom(req.ref, {{"description", "x"}});
  EXPECT_EQ(update.error().code(), Status::Code::kFailedPrecondition) << update.error().ToString();
  // Not installed: nothing to remove.
  EXPECT_EQ(svc_->RemoveFilesKeepEntry({"nope", "v1"}, {}).error().code(), Status::Code::kNotFound);
}

TEST_F(RegisteredModelsTest, CreateChecksNamesTargetsAndDuplicates) {
  origin_.Put("/w.bin", {.content = "w"});
  const std::string url = origin_.Url("/w.bin");
  EXPECT_EQ(svc_->CreateCustom({"../x", "v1"}, url, {}).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(svc_->CreateCustom({"x", "v1"}, "ftp://host/x", {}).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(svc_->CreateCustom({"x", "v1"}, url, nlohmann::json::array()).error().code(),
            Status::Code::kInvalidArgument);
  ASSERT_TRUE(svc_->CreateCustom({"x", "v1"}, url, {}).has_value());
  EXPECT_EQ(svc_->CreateCustom({"x", "v1"}, url, {}).error().code(), Status::Code::kAlreadyExists);
  service::PullRequest req;
  req.url = url;
  req.ref = {"installed", "v1"};
  ASSERT_TRUE(svc_->Pull(req, [](const service::Progress&) {}).has_value());
  EXPECT_EQ(svc_->CreateCustom(req.ref, url, {}).error().code(), Status::Code::kAlreadyExists);

  // A custom model changes (its fields, and its target when given).
  auto updated = svc_->UpdateCustom({"x", "v1"}, {{"description", "new"}}, origin_.Url("/y.bin"));
  ASSERT_TRUE(updated.has_value()) << updated.error().ToString();
  EXPECT_EQ(updated->fields["description"], "new");
  EXPECT_EQ(updated->target, origin_.Url("/y.bin"));
  EXPECT_EQ(svc_->UpdateCustom({"x", "v1"}, {}, std::string("htp://x")).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(svc_->UpdateCustom({"unknown", "v1"}, {}).error().code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->UpdateCustom(req.ref, {}).error().code(), Status::Code::kFailedPrecondition)
      << "installed, not custom";
  auto all = svc_->Registered();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].ref, (ModelRef{"x", "v1"}));
}

}  // namespace
}  // namespace modeld::testing
