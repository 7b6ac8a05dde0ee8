// The Hugging Face source against the Hub mimic: revision to commit, the paginated tree,
// selection, errors a user can act on, and the resolve links through the engine.
#include <gtest/gtest.h>

#include "api/http_server.h"
#include "api/hub/routes.h"
#include "engine_harness.h"
#include "hub_mimic.h"
#include "origin.h"
#include "service/hub_mirror.h"
#include "service/model_service.h"
#include "sources/huggingface.h"

namespace modeld::testing {
namespace {

using sources::HubConfig;
using sources::HubSelect;
const std::string kHubCommit = "0123456789abcdef0123456789abcdef01234567";

// Each test runs twice: against the Hub mimic, and against modeld's Hub mirror
// (service/hub_mirror.h) in front of it (conformance: the source cannot tell them apart).
class HubSourceTest : public ::testing::TestWithParam<bool>, protected HubFixture {
 protected:
  void SetUp() override {
    AddTinyRepos(hub_, kHubCommit);
    hub_.SetPageSize(2);
    config_.endpoint = api_.Url("");  // http://127.0.0.1:PORT, no trailing slash
    config_.max_backoff = std::chrono::milliseconds(100);
    if (mirrored()) StartMirror();
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(5));
    mirror_.reset();  // while the stopped server's executors still exist
    server_.reset();
    models_.reset();
  }
  bool mirrored() const { return GetParam(); }
  // modeld's mirror between the source and the mimic: it holds the mimic's token and lets
  // clients presenting the same one read the gated repository.
  void StartMirror() {
    auto st = OpenTestStore(dir_.path());
    ASSERT_TRUE(st);
    models_ = std::make_unique<service::ModelService>(std::move(st));
    service::MirrorOptions o;
    o.upstream = api_.Url("");
    o.upstream_token = kGatedToken;
    o.client_tokens = {kGatedToken};
    o.upstream_retry_for = std::chrono::seconds(5);
    mirror_ = models_->MakeHubMirror(o);
    ctx_ = std::make_unique<api::hub::Context>(api::hub::Context{*mirror_, 2});
    api::ServerOptions opts;
    opts.listen = {"127.0.0.1:0"};
    opts.access_log = false;
    std::vector<api::Dialect> dialects;
    dialects.push_back(api::hub::HubDialect(*ctx_));
    server_ = std::make_unique<api::HttpServer>(opts, std::move(dialects));
    ASSERT_TRUE(server_->Start().ok());
    config_.endpoint = "http://127.0.0.1:" + std::to_string(server_->ports()[0]);
  }
  HubConfig config_;
  ScratchDir dir_;
  std::unique_ptr<service::ModelService> models_;
  std::unique_ptr<service::HubMirror> mirror_;
  std::unique_ptr<api::hub::Context> ctx_;
  std::unique_ptr<api::HttpServer> server_;
};

INSTANTIATE_TEST_SUITE_P(DirectAndThroughTheMirror, HubSourceTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Mirror" : "Hub"; });

TEST_P(HubSourceTest, ResolvesTheRevisionAndListsEveryPage) {
  auto plan = sources::ResolveHub("org/tiny", "main", {}, config_);
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  EXPECT_EQ(plan->commit, kHubCommit);
  ASSERT_EQ(plan->files.size(), 6u) << "all pages of 2 followed";
  const auto& cfg = plan->files[0];
  EXPECT_EQ(cfg.path, "config.json");
  EXPECT_FALSE(cfg.lfs());
  EXPECT_EQ(cfg.git_sha1, HubMimic::GitBlobSha1(kTinyConfig));
  EXPECT_EQ(cfg.url, config_.endpoint + "/org/tiny/resolve/" + kHubCommit + "/config.json");
  auto st = std::find_if(plan->files.begin(), plan->files.end(),
                         [](const auto& f) { return f.path == "model.safetensors"; });
  ASSERT_NE(st, plan->files.end());
  EXPECT_EQ(st->sha256, Sha256Hex(TinyWeights()));
  EXPECT_EQ(st->size, 300000u);
  // A tag resolves to the same commit.
  EXPECT_EQ(sources::ResolveHub("org/tiny", "v1.0", {}, config_)->commit, kHubCommit);
}

TEST_P(HubSourceTest, SelectsByGlobAndQuantization) {
  HubSelect sel;
  sel.include = {"*.json", "tokenizer/*"};
  auto plan = sources::ResolveHub("org/tiny", "main", sel, config_);
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->files.size(), 2u);
  sel = {};
  sel.exclude = {"*.gguf"};
  EXPECT_EQ(sources::ResolveHub("org/tiny", "main", sel, config_)->files.size(), 3u);
  sel = {};
  sel.quantization = "q4_k_m";
  plan = sources::ResolveHub("org/tiny", "main", sel, config_);
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->files.size(), 2u) << "both parts of the split GGUF";
  EXPECT_EQ(plan->total_size, 300000u);
  sel.quantization = "Q2_K";
  auto none = sources::ResolveHub("org/tiny", "main", sel, config_);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), Status::Code::kNotFound);
  EXPECT_NE(none.error().message().find("tiny-Q8_0.gguf"), std::string::npos)
      << "lists what exists";
}

TEST_P(HubSourceTest, ErrorsSayWhatToDo) {
  auto gated = sources::ResolveHub("org/gated", "main", {}, config_);
  ASSERT_FALSE(gated.has_value());
  EXPECT_EQ(gated.error().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(gated.error().message().find("accept its licence"), std::string::npos);
  EXPECT_NE(gated.error().message().find("HF_TOKEN"), std::string::npos);
  config_.token = "hf_secret";
  EXPECT_TRUE(sources::ResolveHub("org/gated", "main", {}, config_).has_value());
  EXPECT_EQ(hub_.AuthSeen().back(), "Bearer hf_secret");
  auto repo = sources::ResolveHub("org/none", "main", {}, config_);
  EXPECT_EQ(repo.error().code(), Status::Code::kNotFound);
  EXPECT_NE(repo.error().message().find("repository 'org/none' not found"), std::string::npos);
  auto rev = sources::ResolveHub("org/tiny", "nobranch", {}, config_);
  EXPECT_EQ(rev.error().code(), Status::Code::kNotFound);
  EXPECT_NE(rev.error().message().find("revision 'nobranch'"), std::string::npos);
  EXPECT_EQ(sources::ResolveHub("../x", "main", {}, config_).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(sources::ResolveHub("org/tiny", "a/../b", {}, config_).error().code(),
            Status::Code::kInvalidArgument);
  config_.offline = true;
  EXPECT_EQ(sources::ResolveHub("org/tiny", "main", {}, config_).error().code(),
            Status::Code::kUnavailable);
}

TEST_P(HubSourceTest, RateLimitsBackOffAndRetry) {
  hub_.RateLimitNext(2, 0);
  auto plan = sources::ResolveHub("org/tiny", "main", {}, config_);
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  hub_.RateLimitNext(100, 0);
  config_.max_retries = 2;
  if (mirrored()) {
    // A mirror serves what it has while its upstream is rate-limiting.
    auto cached = sources::ResolveHub("org/tiny", "main", {}, config_);
    EXPECT_TRUE(cached.has_value()) << cached.error().ToString();
    EXPECT_EQ(cached->files.size(), plan->files.size());
    hub_.RateLimitNext(0, 0);
    return;
  }
  auto gave_up = sources::ResolveHub("org/tiny", "main", {}, config_);
  ASSERT_FALSE(gave_up.has_value());
  EXPECT_EQ(gave_up.error().code(), Status::Code::kUnavailable);
  hub_.RateLimitNext(0, 0);
}

// The budget is a time, not five tries: a dozen refusals in a row (more than the old
// five retries) are waited out; once retry_for has passed it gives up, saying so.
TEST_P(HubSourceTest, TheApiIsRetriedForATimeNotACount) {
  if (mirrored()) {
    GTEST_SKIP() << "through a mirror the upstream's 429s are the mirror's to wait out, "
                    "within its own budget (RateLimitsBackOffAndRetry: what it has is served)";
  }
  EXPECT_EQ(config_.max_retries, -1);
  EXPECT_EQ(config_.retry_for, std::chrono::minutes(2));
  hub_.RateLimitNext(12, 0);
  auto plan = sources::ResolveHub("org/tiny", "main", {}, config_);
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  hub_.RateLimitNext(1000, 0);
  config_.retry_for = std::chrono::milliseconds(500);
  auto start = std::chrono::steady_clock::now();
  auto gave_up = sources::ResolveHub("org/tiny", "main", {}, config_);
  ASSERT_FALSE(gave_up.has_value());
  EXPECT_EQ(gave_up.error().code(), Status::Code::kUnavailable);
  EXPECT_NE(gave_up.error().message().find("HTTP 429"), std::string::npos);
  EXPECT_NE(gave_up.error().message().find("giving up after retrying for 0.5 s"), std::string::npos)
      << gave_up.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  hub_.RateLimitNext(0, 0);
}

TEST_P(HubSourceTest, ResolveLinksDownloadFromTheCdnWithoutTheToken) {
  config_.token = "hf_secret";
  auto plan = sources::ResolveHub("org/gated", "main", {}, config_);
  ASSERT_TRUE(plan.has_value());
  const auto& f = plan->files[0];
  ScratchDir dir;
  engine::DownloadRequest req;
  req.url = f.url;
  req.dest = dir / "w.bin";
  req.checksum = Checksum{HashAlgorithm::kSha256, f.sha256};
  req.expected_size = f.size;
  req.headers = {"Authorization: Bearer " + config_.token};
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, engine::Stage::kCompleted) << ev.status.ToString();
  EXPECT_EQ(ev.sha256, f.sha256);
  for (const auto& r : cdn_.Requests()) EXPECT_EQ(r.authorization, "") << "token sent to the CDN";
  EXPECT_FALSE(cdn_.Requests().empty());
}

TEST(HubReferenceTest, ParsesTheFormsUsersPaste) {
  auto r = sources::ParseHubReference("Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo_id, "Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(r->revision, "main");
  r = sources::ParseHubReference(
      "https://huggingface.co/org/repo/resolve/v1.0/sub/model.gguf?download=true");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo_id, "org/repo");
  EXPECT_EQ(r->revision, "v1.0");
  EXPECT_EQ(r->file, "sub/model.gguf");
  r = sources::ParseHubReference("hf://org/repo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo_id, "org/repo");
  EXPECT_FALSE(sources::ParseHubReference("justone"));
  EXPECT_FALSE(sources::ParseHubReference("org/repo/extra"));
  EXPECT_FALSE(sources::ParseHubReference("../../etc/passwd"));
}

}  // namespace
}  // namespace modeld::testing
