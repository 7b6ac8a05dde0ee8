#include "api/lmstudio/wire.h"

#include <gtest/gtest.h>

#include "core/error_reasons.h"

namespace modeld::api::lmstudio {
namespace {

using nlohmann::json;
using service::JobState;

constexpr int64_t kLmsNow = 1'735'689'600;  // 2025-01-01T00:00:00Z

service::Model LmsInstalled(const std::string& name, const std::string& version) {
  service::Model m;
  m.ref = {name, version};
  m.status = "available";
  m.size = 4'370'000'000;
  m.source = "huggingface";
  service::ModelInspection in;
  in.format = "gguf";
  in.architecture = "llama";
  in.name = "Llama 3.1 8B Instruct";
  in.quantization = "Q4_K_M";
  in.parameters = "8B";
  in.bits_per_weight = 4.8912;
  in.context_length = 131072;
  m.inspection = in;
  return m;
}

service::Job LmsJob(JobState state) {
  service::Job job;
  job.id = "dwnld_0123abcd";
  job.created_at = kLmsNow - 20;
  job.started_at = kLmsNow - 10;
  job.last.state = state;
  job.last.bytes_done = 250;
  job.last.bytes_total = 1000;
  job.last.bytes_per_second = 25.123;
  job.last.eta_seconds = 29.5;
  return job;
}

TEST(LmStudioWireTest, ParsesTheDownloadBody) {
  auto d = ParseDownloadRequest(R"({"model": "https://huggingface.co/org/repo",
                                    "quantization": "Q8_0"})");
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->model, "https://huggingface.co/org/repo");
  EXPECT_EQ(d->quantization, "Q8_0");
  d = ParseDownloadRequest(R"({"model": "ibm/granite-4-micro", "quantization": null})");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->quantization, "");
  for (const char* bad : {"", "{", "[]", "{}", R"({"model": ""})", R"({"model": 7})",
                          R"({"model": "a/b", "quantization": 4})"}) {
    auto r = ParseDownloadRequest(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ParseDownloadRequest("{}").error().message(), "Invalid parameter 'model': required");
}

TEST(LmStudioWireTest, ParsesTheLoadAndUnloadBodies) {
  auto l = ParseLoadRequest(R"({"model": "org/m:Q4_K_M", "context_length": 8192,
      "flash_attention": true, "echo_load_config": true, "eval_batch_size": 512})");
  ASSERT_TRUE(l.has_value()) << l.error().ToString();
  EXPECT_EQ(l->model, "org/m:Q4_K_M");
  EXPECT_EQ(l->context_length, 8192);
  EXPECT_EQ(l->eval_batch_size, 512);
  EXPECT_EQ(l->flash_attention, true);
  EXPECT_FALSE(l->num_experts.has_value());
  EXPECT_FALSE(l->offload_kv_cache_to_gpu.has_value());
  EXPECT_TRUE(l->echo_load_config);
  EXPECT_EQ(ParseLoadRequest(R"({"model": "m", "context_length": 0})").error().message(),
            "Invalid parameter 'context_length': must be between 1 and 2147483648");
  EXPECT_FALSE(ParseLoadRequest(R"({"model": "m", "flash_attention": "yes"})").has_value());
  EXPECT_FALSE(ParseLoadRequest(R"({"context_length": 5})").has_value());
  auto u = ParseUnloadRequest(R"({"instance_id": "org/m:Q4_K_M"})");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(*u, "org/m:Q4_K_M");
  EXPECT_EQ(ParseUnloadRequest(R"({"model": "m"})").error().message(),
            "Invalid parameter 'instance_id': required");
}

TEST(LmStudioWireTest, KeysAreReferencesWithoutLatest) {
  EXPECT_EQ(KeyFor({"org/m", "latest"}), "org/m");
  EXPECT_EQ(KeyFor({"org/m", "Q4_K_M"}), "org/m:Q4_K_M");
  EXPECT_EQ(RefForKey("org/m")->ToString(), "org/m:latest");
  EXPECT_EQ(RefForKey("org/m:Q4_K_M")->ToString(), "org/m:Q4_K_M");
  EXPECT_EQ(RefForKey("../x").error().code(), Status::Code::kNotFound);
}

TEST(LmStudioWireTest, EveryJobStateHasAStatus) {
  EXPECT_EQ(DownloadStatus(JobState::kQueued), "downloading");
  EXPECT_EQ(DownloadStatus(JobState::kResolving), "downloading");
  EXPECT_EQ(DownloadStatus(JobState::kDownloading), "downloading");
  EXPECT_EQ(DownloadStatus(JobState::kVerifying), "downloading");
  EXPECT_EQ(DownloadStatus(JobState::kInstalling), "downloading");
  EXPECT_EQ(DownloadStatus(JobState::kPaused), "paused");
  EXPECT_EQ(DownloadStatus(JobState::kCompleted), "completed");
  EXPECT_EQ(DownloadStatus(JobState::kFailed), "failed");
  EXPECT_EQ(DownloadStatus(JobState::kCancelled), "failed");
}

TEST(LmStudioWireTest, ADownloadingJobSaysItsRateAndEstimate) {
  service::Job job = LmsJob(JobState::kDownloading);
  job.request.quantization = "Q4_K_M";
  EXPECT_EQ(JobJson(job, kLmsNow), (json{{"job_id", "dwnld_0123abcd"},
                                         {"status", "downloading"},
                                         {"total_size_bytes", 1000},
                                         {"downloaded_bytes", 250},
                                         {"bytes_per_second", 25.12},
                                         {"estimated_completion", "2025-01-01T00:00:30.000Z"},
                                         {"started_at", "2024-12-31T23:59:50.000Z"},
                                         {"quantization", "Q4_K_M"}}));
  job.last.eta_seconds.reset();
  job.started_at = 0;  // queued: not started yet
  json j = JobJson(job, kLmsNow);
  EXPECT_FALSE(j.contains("estimated_completion")) << "unknown, so not said";
  EXPECT_EQ(j["started_at"], "2024-12-31T23:59:40.000Z") << "its creation";
}

TEST(LmStudioWireTest, ACompletedJobSaysWhenAndNoRate) {
  service::Job job = LmsJob(JobState::kCompleted);
  job.last.bytes_done = 1000;
  job.finished_at = kLmsNow;
  json j = JobJson(job, kLmsNow + 100);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["downloaded_bytes"], 1000);
  EXPECT_EQ(j["completed_at"], "2025-01-01T00:00:00.000Z");
  EXPECT_FALSE(j.contains("bytes_per_second"));
  EXPECT_FALSE(j.contains("estimated_completion"));
  EXPECT_FALSE(j.contains("error"));
  EXPECT_FALSE(j.contains("quantization")) << "none was chosen";
}

TEST(LmStudioWireTest, FailedAndCancelledJobsAreFailedWithTheirReason) {
  service::Job job = LmsJob(JobState::kFailed);
  job.error = Status::NotFound("HTTP 404 for https://user:pw@example.com/m.gguf");
  json j = JobJson(job, kLmsNow);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_FALSE(j.contains("completed_at"));
  EXPECT_FALSE(j.contains("bytes_per_second"));
  EXPECT_EQ(j["error"].get<std::string>().find("pw@"), std::string::npos) << "redacted";
  job = LmsJob(JobState::kCancelled);
  EXPECT_EQ(JobJson(job, kLmsNow)["status"], "failed");
  EXPECT_EQ(JobJson(job, kLmsNow)["error"], "cancelled");
  job = LmsJob(JobState::kPaused);
  j = JobJson(job, kLmsNow);
  EXPECT_EQ(j["status"], "paused");
  EXPECT_FALSE(j.contains("bytes_per_second"));
}

TEST(LmStudioWireTest, AlreadyDownloadedHasNoJobFields) {
  EXPECT_EQ(AlreadyDownloadedJson(""), (json{{"status", "already_downloaded"}}));
  EXPECT_EQ(AlreadyDownloadedJson("Q4_K_M"),
            (json{{"status", "already_downloaded"}, {"quantization", "Q4_K_M"}}));
}

TEST(LmStudioWireTest, AnEntryCarriesWhatIsInsideTheModel) {
  service::Model m = LmsInstalled("lmstudio-community/Llama-3.1-8B-GGUF", "Q4_K_M");
  EXPECT_EQ(ModelEntryJson(m),
            (json{{"type", "llm"},
                  {"publisher", "lmstudio-community"},
                  {"key", "lmstudio-community/Llama-3.1-8B-GGUF:Q4_K_M"},
                  {"display_name", "Llama 3.1 8B Instruct"},
                  {"architecture", "llama"},
                  {"quantization", {{"name", "Q4_K_M"}, {"bits_per_weight", 4.89}}},
                  {"size_bytes", 4'370'000'000ull},
                  {"params_string", "8B"},
                  {"loaded_instances", json::array()},
                  {"max_context_length", 131072},
                  {"format", "gguf"}}));
  m.loaded = service::LoadedState{};
  json j = ModelEntryJson(m);
  EXPECT_EQ(j["loaded_instances"], (json{{{"id", "lmstudio-community/Llama-3.1-8B-GGUF:Q4_K_M"},
                                          {"config", {{"context_length", 131072}}}}}));
  EXPECT_EQ(LegacyModelJson(m), (json{{"id", "lmstudio-community/Llama-3.1-8B-GGUF:Q4_K_M"},
                                      {"object", "model"},
                                      {"type", "llm"},
                                      {"publisher", "lmstudio-community"},
                                      {"arch", "llama"},
                                      {"compatibility_type", "gguf"},
                                      {"quantization", "Q4_K_M"},
                                      {"state", "loaded"},
                                      {"max_context_length", 131072}}));
}

TEST(LmStudioWireTest, UnknownsAreNullAndEmbeddingsHaveNoArchitecture) {
  service::Model plain;
  plain.ref = {"notes", "latest"};
  plain.status = "available";
  plain.source = "url";
  plain.size = 5;
  json j = ModelEntryJson(plain);
  EXPECT_EQ(j["key"], "notes");
  EXPECT_EQ(j["display_name"], "notes");
  EXPECT_EQ(j["publisher"], "url");
  EXPECT_EQ(j["type"], "llm");
  EXPECT_TRUE(j["architecture"].is_null());
  EXPECT_EQ(j["quantization"], (json{{"name", nullptr}, {"bits_per_weight", nullptr}}));
  EXPECT_TRUE(j["params_string"].is_null());
  EXPECT_TRUE(j["max_context_length"].is_null());
  EXPECT_TRUE(j["format"].is_null());
  EXPECT_EQ(LegacyModelJson(plain)["state"], "not-loaded");

  service::Model bert = LmsInstalled("nomic-ai/nomic-embed-text-v1.5-GGUF", "Q8_0");
  bert.inspection->architecture = "nomic-bert";
  EXPECT_EQ(ModelType(bert), "embedding");
  EXPECT_FALSE(ModelEntryJson(bert).contains("architecture"));
  bert.inspection->architecture = "bert";
  bert.ref.name = "bge-small";
  EXPECT_EQ(ModelType(bert), "embedding");
  // An inspection that failed says nothing.
  service::Model broken = LmsInstalled("org/m", "v1");
  broken.inspection->error = "m.gguf: truncated";
  EXPECT_TRUE(ModelEntryJson(broken)["format"].is_null());
}

TEST(LmStudioWireTest, ErrorsAreInLmStudioShapeWithTheRightStatus) {
  auto body = [](const Response& r) { return json::parse(r.body()); };
  Response r = ErrorFor(Status::InvalidArgument("Invalid parameter 'model': required"));
  EXPECT_EQ(r.result(), http::status::bad_request);
  json j = body(r);
  EXPECT_EQ(j["error"]["message"], "Invalid parameter 'model': required");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["code"], "invalid_request");
  EXPECT_EQ(j["error"]["error_code"], "InvalidArgument");
  r = ErrorFor(Status::NotFound("no job"), "job_not_found");
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(body(r)["error"]["code"], "job_not_found");
  r = ErrorFor(Status::NotFound("m").WithInfo({reason::kModelNotInstalled, {{"model", "m:v"}}}));
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(body(r)["error"]["code"], "model_not_found");
  EXPECT_EQ(body(r)["error"]["error_detail"]["reason"], "MODEL_NOT_INSTALLED");
  EXPECT_EQ(ErrorFor(Status::FailedPrecondition("busy")).result(), http::status::conflict);
  EXPECT_EQ(ErrorFor(Status::NoSpace("full")).result(), http::status::insufficient_storage);
  EXPECT_EQ(ErrorFor(Status::PermissionDenied("gated")).result(), http::status::forbidden);
  EXPECT_EQ(ErrorFor(Status::Unavailable("down")).result(), http::status::service_unavailable);
  r = ErrorFor(Status::IoError("disk"));
  EXPECT_EQ(r.result(), http::status::internal_server_error);
  EXPECT_EQ(body(r)["error"]["type"], "server_error");
  r = ErrorBody(http::status::unauthorized, "a bearer token is required");
  EXPECT_EQ(body(r), (json{{"error",
                            {{"message", "a bearer token is required"},
                             {"type", "authentication_error"},
                             {"code", "unauthorized"}}}}));
  EXPECT_EQ(body(ErrorBody(http::status::not_found, "no route"))["error"]["code"], "not_found");
  // A parse error quoting bytes that are not UTF-8 (found by the lmstudio_request fuzzer)
  // is still a JSON reply.
  auto bad = ParseDownloadRequest("{}\xff\xff\xff\xff\n");
  ASSERT_FALSE(bad.has_value());
  r = ErrorFor(bad.error());
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_TRUE(body(r)["error"]["message"].is_string()) << r.body();
}

}  // namespace
}  // namespace modeld::api::lmstudio
