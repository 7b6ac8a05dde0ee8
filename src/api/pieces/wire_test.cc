#include "api/pieces/wire.h"

#include <gtest/gtest.h>

#include <regex>

namespace modeld::api::pieces {
namespace {

using nlohmann::json;
using service::JobState;

// The fields every official client requires of a Model (dialects.md section 6), with the
// JSON types the strict SDKs (Python's pydantic) insist on.
void ExpectRequiredFields(const json& m) {
  ASSERT_TRUE(m.is_object());
  EXPECT_TRUE(m["id"].is_string());
  EXPECT_TRUE(m["version"].is_string());
  EXPECT_TRUE(m["name"].is_string());
  EXPECT_TRUE(m["cloud"].is_boolean());
  EXPECT_TRUE(m["type"].is_string());
  EXPECT_TRUE(m["usage"].is_string());
  ASSERT_TRUE(m["created"].is_object());
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  EXPECT_TRUE(std::regex_match(m["created"]["value"].get<std::string>(), iso)) << m.dump();
  EXPECT_TRUE(std::regex_match(m["updated"]["value"].get<std::string>(), iso)) << m.dump();
}

service::Model Installed(const std::string& name, const std::string& version) {
  service::Model m;
  m.ref = {name, version};
  m.status = "available";
  m.size = 4'370'000'000;
  m.created_at = 1'735'689'600;  // 2025-01-01
  m.installed_at = 1'735'689'700;
  m.source = "huggingface";
  service::ModelInspection in;
  in.format = "gguf";
  in.architecture = "llama";
  in.quantization = "Q4_K_M";
  in.parameter_count = 8'030'000'000;
  in.context_length = 131072;
  m.inspection = in;
  return m;
}

TEST(PiecesWireTest, AnInstalledModelCarriesEveryFieldAndWhatIsInsideIt) {
  Entry e;
  e.ref = {"org/Llama-3.1-8B-GGUF", "Q4_K_M"};
  e.installed = Installed(e.ref.name, e.ref.version);
  json m = ModelJson(e);
  ExpectRequiredFields(m);
  EXPECT_EQ(m["id"], ModelUuid(e.ref));
  EXPECT_EQ(m["unique"], "org/Llama-3.1-8B-GGUF:Q4_K_M");
  EXPECT_EQ(m["version"], "Q4_K_M");
  EXPECT_EQ(m["created"]["value"], "2025-01-01T00:00:00.000Z");
  EXPECT_EQ(m["cloud"], false);
  EXPECT_EQ(m["downloaded"], true);
  EXPECT_EQ(m["downloading"], false);
  EXPECT_EQ(m["loaded"], false);
  EXPECT_EQ(m["custom"], false);
  EXPECT_EQ(m["bytes"], (json{{"value", 4'370'000'000ULL}, {"readable", "4.37 GB"}}));
  EXPECT_EQ(m["quantization"], "Q4_K_M");
  EXPECT_DOUBLE_EQ(m["parameters"].get<double>(), 8.03);
  EXPECT_EQ(m["maxTokens"]["total"], 131072);
  EXPECT_EQ(m["foundation"], "LLAMA_LATEST");
  EXPECT_EQ(m["usage"], "CODE_CONVERSATION");
  EXPECT_EQ(m["provider"], "HUGGING_FACE");

  e.installed->loaded = service::LoadedState{};
  EXPECT_EQ(ModelJson(e)["loaded"], true);
  e.installed->status = "broken";
  EXPECT_EQ(ModelJson(e)["downloaded"], false) << "a broken model is not downloaded";
}

TEST(PiecesWireTest, DownloadingCatalogAndCustomModels) {
  Entry e;
  e.ref = {"whisper-tiny", "ggml"};
  service::CatalogModel c;
  c.name = "whisper-tiny";
  c.description = "speech";
  c.tags = {"whisper", "speech-to-text"};
  e.catalog = c;
  e.catalog_size = 77'691'713;
  json m = ModelJson(e);
  ExpectRequiredFields(m);
  EXPECT_EQ(m["downloaded"], false);
  EXPECT_EQ(m["downloading"], false);
  EXPECT_EQ(m["description"], "speech");
  EXPECT_EQ(m["bytes"]["value"], 77'691'713);
  EXPECT_EQ(m["usage"], "OCR");
  EXPECT_EQ(m["created"]["value"], "1970-01-01T00:00:00.000Z") << "a valid date all the same";

  service::Job job;
  job.id = "dwnld_1";
  job.last.state = JobState::kDownloading;
  job.last.bytes_total = 1000;
  job.created_at = 1'735'689'600;
  e.job = job;
  m = ModelJson(e);
  EXPECT_EQ(m["downloading"], true);
  EXPECT_EQ(m["bytes"]["value"], 1000) << "the download's total first";
  e.job->last.state = JobState::kPaused;
  EXPECT_EQ(ModelJson(e)["downloading"], false);

  // A custom model shows its client's fields, never over its identity or state.
  Entry custom;
  custom.ref = {"mine", "v1"};
  service::RegisteredModel r;
  r.ref = custom.ref;
  r.custom = true;
  r.created_at = 1'735'689'600;
  r.fields = {{"name", "My Model"},
              {"description", "mine"},
              {"type", "SPEED"},
              {"id", "not-this"},
              {"downloaded", true},
              {"cpu", "yes"},
              {"capabilities", {{"images", true}}}};
  custom.registered = r;
  m = ModelJson(custom);
  ExpectRequiredFields(m);
  EXPECT_EQ(m["name"], "My Model");
  EXPECT_EQ(m["description"], "mine");
  EXPECT_EQ(m["type"], "SPEED");
  EXPECT_EQ(m["id"], ModelUuid(custom.ref));
  EXPECT_EQ(m["downloaded"], false);
  EXPECT_EQ(m["cpu"], true) << "a field of the wrong type is not taken";
  EXPECT_EQ(m["capabilities"]["images"], true);
  EXPECT_EQ(m["custom"], true);
}

TEST(PiecesWireTest, EveryJobStateHasItsProgressStatus) {
  const std::pair<JobState, std::string_view> want[] = {
      {JobState::kQueued, "INITIALIZED"},      {JobState::kResolving, "INITIALIZED"},
      {JobState::kDownloading, "IN-PROGRESS"}, {JobState::kVerifying, "IN-PROGRESS"},
      {JobState::kInstalling, "IN-PROGRESS"},  {JobState::kPaused, "IN-PROGRESS"},
      {JobState::kCompleted, "COMPLETED"},     {JobState::kFailed, "FAILED"},
      {JobState::kCancelled, "CANCELED"}};
  for (const auto& [state, status] : want) {
    EXPECT_EQ(ProgressStatus(state), status) << service::JobStateName(state);
  }
  service::JobEvent ev;
  ev.state = JobState::kDownloading;
  EXPECT_FALSE(Percentage(ev)) << "no total: unknown";
  ev.bytes_total = 200;
  ev.bytes_done = 50;
  EXPECT_DOUBLE_EQ(*Percentage(ev), 25.0);
  ev.state = JobState::kCompleted;
  EXPECT_DOUBLE_EQ(*Percentage(ev), 100.0);
  EXPECT_EQ(ProgressJson("IN-PROGRESS", 12.5),
            (json{{"status", "IN-PROGRESS"}, {"percentage", 12.5}}));
  EXPECT_EQ(ProgressJson("UNKNOWN", std::nullopt), (json{{"status", "UNKNOWN"}}));
}

TEST(PiecesWireTest, SeededModelsAreReadAndChecked) {
  auto s = ParseSeededModel(
      R"json({"name": "Llama 3 8B (mine)", "version": "1.0.0", "cloud": false,
          "type": "BALANCED", "usage": "CODE_CONVERSATION",
          "created": {"value": "2025-01-01T00:00:00.000Z"},
          "unique": "https://example.com/m.gguf"})json");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(s->ref, (ModelRef{"Llama-3-8B-mine", "1.0.0"}));
  EXPECT_EQ(s->target, "https://example.com/m.gguf");
  EXPECT_EQ(s->fields["name"], "Llama 3 8B (mine)");

  const std::pair<const char*, const char*> bad[] = {
      {"", "Invalid JSON"},
      {"[]", "Invalid JSON"},
      {R"({"version": "1"})", "'name'"},
      {R"({"name": "x"})", "'version'"},
      {R"({"name": 5, "version": "1"})", "'name'"},
      {R"({"name": "!!!", "version": "1"})", "'name'"},
      {R"({"name": "x", "version": "1", "type": "FAST"})", "ModelTypeEnum"},
      {R"({"name": "x", "version": "1", "usage": "CHAT"})", "ModelUsageEnum"},
  };
  for (const auto& [body, says] : bad) {
    auto r = ParseSeededModel(body);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << body;
    EXPECT_NE(r.error().message().find(says), std::string::npos) << r.error().message();
  }
}

TEST(PiecesWireTest, DisplayNamesBecomeModelNames) {
  EXPECT_EQ(NameFromDisplayName("Llama 3 8B"), "Llama-3-8B");
  EXPECT_EQ(NameFromDisplayName("  -.x  y!!"), "x-y");
  EXPECT_EQ(NameFromDisplayName("org/name"), "org/name");
  EXPECT_EQ(NameFromDisplayName("日本語"), "");
}

TEST(PiecesWireTest, ErrorsHaveTheirStatusesAndSayWhy) {
  const std::pair<Status, http::status> want[] = {
      {Status::NotFound("x"), http::status::gone},
      {Status::InvalidArgument("x"), http::status::bad_request},
      {Status::AlreadyExists("x"), http::status::conflict},
      {Status::FailedPrecondition("x"), http::status::conflict},
      {Status::NoSpace("x"), http::status::insufficient_storage},
      {Status::Unavailable("x"), http::status::service_unavailable},
      {Status::Internal("x"), http::status::internal_server_error}};
  for (const auto& [s, code] : want) EXPECT_EQ(HttpStatusFor(s), code) << s.ToString();
  Response r = ErrorFor(Status::NotFound("model 'x' was not found"));
  EXPECT_EQ(r.result(), http::status::gone);
  json body = json::parse(r.body());
  EXPECT_EQ(body["status"], 410);
  EXPECT_EQ(body["message"], "model 'x' was not found");
  EXPECT_EQ(body["error_code"], "NotFound");
}

TEST(PiecesWireTest, BytesAreDecimalAsPiecesWritesThem) {
  EXPECT_EQ(ByteDescriptor(999)["readable"], "999 B");
  EXPECT_EQ(ByteDescriptor(1500)["readable"], "1.50 KB");
  EXPECT_EQ(ByteDescriptor(77'691'713)["readable"], "77.69 MB");
  EXPECT_EQ(FoundationFor("TinyLlama-1.1B", ""), "TINYLLAMA_LATEST");
  EXPECT_EQ(FoundationFor("Qwen2.5-Coder-7B", "qwen2"), "QWEN_CODER_LATEST");
  EXPECT_EQ(FoundationFor("something", ""), "UNKNOWN");
  EXPECT_EQ(UsageFor("all-MiniLM-L6-v2", "", {}), "TEXT_EMBEDDING");
  EXPECT_EQ(UsageFor("w", "", {}), "UNKNOWN");
}

}  // namespace
}  // namespace modeld::api::pieces
