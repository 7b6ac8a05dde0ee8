#include "api/jan/wire.h"

#include <gtest/gtest.h>

#include <tuple>

namespace modeld::api::jan {
namespace {

using nlohmann::json;
using service::JobState;

service::Model JanInstalled(const std::string& name, const std::string& version) {
  service::Model m;
  m.ref = {name, version};
  m.status = "available";
  m.size = 669'000'000;
  m.created_at = 1'735'689'600;
  m.installed_at = 1'735'689'700;
  m.path = "/data/models/" + name + "/" + version;
  m.files = {
      {"README.md", 10, ""}, {"m-00002-of-00002.gguf", 5, ""}, {"m-00001-of-00002.gguf", 5, ""}};
  m.tags = {"chat"};
  service::ModelInspection in;
  in.format = "gguf";
  in.context_length = 4096;
  m.inspection = in;
  return m;
}

// The fields Jan's model.json has (dialects.md section 6), with their JSON types.
void ExpectJanModelJson(const json& j) {
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(j["id"].is_string());
  EXPECT_EQ(j["object"], "model");
  EXPECT_TRUE(j["name"].is_string());
  EXPECT_TRUE(j["version"].is_string());
  EXPECT_TRUE(j["format"].is_string());
  ASSERT_TRUE(j["sources"].is_array());
  for (const auto& s : j["sources"]) {
    EXPECT_TRUE(s["filename"].is_string());
    EXPECT_TRUE(s["url"].is_string());
  }
  EXPECT_TRUE(j["settings"].is_object());
  EXPECT_TRUE(j["parameters"].is_object());
  ASSERT_TRUE(j["metadata"].is_object());
  EXPECT_TRUE(j["metadata"]["author"].is_string());
  EXPECT_TRUE(j["metadata"]["tags"].is_array());
  EXPECT_TRUE(j["metadata"]["size"].is_number());
  EXPECT_TRUE(j["engine"].is_string());
  EXPECT_TRUE(j["created"].is_number());
  EXPECT_TRUE(j["description"].is_string());
}

TEST(JanWireTest, IdsDropLatest) {
  EXPECT_EQ(JanId({"tinyllama", "latest"}), "tinyllama");
  EXPECT_EQ(JanId({"org/m-GGUF", "Q4_K_M"}), "org/m-GGUF:Q4_K_M");
  auto ref = ParseJanId("org/m-GGUF:Q4_K_M");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(*ref, (ModelRef{"org/m-GGUF", "Q4_K_M"}));
  EXPECT_EQ(ParseJanId("tinyllama")->version, "latest");
  EXPECT_FALSE(ParseJanId("../x").has_value());
  EXPECT_FALSE(ParseJanId("").has_value());
}

TEST(JanWireTest, AnInstalledModelIsAModelJsonWithItsFileAndContext) {
  Entry e;
  e.ref = {"org/tiny", "Q4_K_M"};
  e.installed = JanInstalled(e.ref.name, e.ref.version);
  json j = ModelJson(e);
  ExpectJanModelJson(j);
  EXPECT_EQ(j["id"], "org/tiny:Q4_K_M");
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["engine"], "llama-cpp");
  EXPECT_EQ(j["settings"]["ctx_len"], 4096);
  EXPECT_EQ(j["settings"]["llama_model_path"], "/data/models/org/tiny/Q4_K_M/m-00001-of-00002.gguf")
      << "the first part of a split GGUF";
  EXPECT_EQ(j["sources"].size(), 3u);
  EXPECT_EQ(j["sources"][0]["url"], "file:///data/models/org/tiny/Q4_K_M/README.md");
  EXPECT_EQ(j["metadata"]["author"], "org");
  EXPECT_EQ(j["metadata"]["size"], 669'000'000);
  EXPECT_EQ(j["metadata"]["tags"], json::array({"chat"}));
  EXPECT_EQ(j["created"], 1'735'689'600);
  EXPECT_EQ(j["state"], "downloaded");
  EXPECT_EQ(j["status"], "downloaded");
  e.installed->loaded = service::LoadedState{};
  EXPECT_EQ(ModelJson(e)["state"], "running");
  EXPECT_EQ(ModelJson(e)["status"], "downloaded");
}

TEST(JanWireTest, ACatalogEntryKeepsItsModelJsonUnderWhatModeldKnows) {
  Entry e;
  e.ref = {"tinyllama-1.1b", "latest"};
  service::CatalogModel c;
  c.catalog = "jan";
  c.name = "tinyllama-1.1b";
  c.description = "TinyLlama Chat 1.1B Q4";
  c.jan = json::parse(R"({"id": "tinyllama-1.1b", "object": "model", "name": "TinyLlama Chat",
      "version": "1.0", "format": "gguf", "sources": [{"filename": "t.gguf", "url": "https://h/t.gguf"}],
      "created": 0, "description": "", "settings": {"ctx_len": 2048, "prompt_template": "{prompt}"},
      "parameters": {"temperature": 0.7}, "metadata": {"author": "TinyLlama", "tags": ["Tiny"],
      "size": 669000000}, "engine": "nitro", "extra": "kept"})");
  e.catalog = c;
  json j = ModelJson(e);
  ExpectJanModelJson(j);
  EXPECT_EQ(j["name"], "TinyLlama Chat");
  EXPECT_EQ(j["engine"], "nitro");
  EXPECT_EQ(j["extra"], "kept");
  EXPECT_EQ(j["sources"][0]["url"], "https://h/t.gguf");
  EXPECT_EQ(j["settings"]["prompt_template"], "{prompt}");
  EXPECT_EQ(j["metadata"]["author"], "TinyLlama");
  EXPECT_EQ(j["metadata"]["size"], 669000000);
  EXPECT_EQ(j["state"], "not_downloaded");
  EXPECT_EQ(j["status"], "not_downloaded");
  EXPECT_FALSE(j["settings"].contains("llama_model_path")) << "not downloaded";

  // Installed from it: its file's path, its real size, its own context when Jan gave none.
  e.installed = JanInstalled(e.ref.name, e.ref.version);
  e.installed->files = {{"t.gguf", 7, ""}};
  j = ModelJson(e);
  EXPECT_EQ(j["settings"]["ctx_len"], 2048) << "the model.json's own setting stays";
  EXPECT_EQ(j["settings"]["llama_model_path"], "/data/models/tinyllama-1.1b/latest/t.gguf");
  EXPECT_EQ(j["metadata"]["size"], 669'000'000);
  EXPECT_EQ(j["state"], "downloaded");
}

TEST(JanWireTest, DownloadingModelsSayDownloading) {
  Entry e;
  e.ref = {"m", "latest"};
  service::Job job;
  job.request.ref = e.ref;
  job.last.state = JobState::kDownloading;
  job.last.bytes_total = 100;
  job.plan.file_list = {{"m.gguf", "http://u:p@h/m.gguf?token=secret", 100}};
  e.job = job;
  json j = ModelJson(e);
  ExpectJanModelJson(j);
  EXPECT_EQ(j["state"], "downloading");
  EXPECT_EQ(j["metadata"]["size"], 100);
  EXPECT_EQ(j["sources"][0]["filename"], "m.gguf");
  EXPECT_EQ(j["sources"][0]["url"].get<std::string>().find("secret"), std::string::npos)
      << "redacted";
}

TEST(JanWireTest, DownloadStateIsJansWithAFractionAndChildren) {
  service::Job job;
  job.request.ref = {"org/m", "Q8_0"};
  job.created_at = 100;
  job.started_at = 110;
  job.last.state = JobState::kDownloading;
  job.last.bytes_done = 250;
  job.last.bytes_total = 1000;
  job.last.bytes_per_second = 50;
  job.last.eta_seconds = 14.2;
  service::FileProgress a;
  a.path = "a.gguf";
  a.done = 200;
  a.total = 200;
  a.state = JobState::kCompleted;
  service::FileProgress b;
  b.path = "b.gguf";
  b.done = 50;
  b.total = 800;
  b.state = JobState::kDownloading;
  job.last.files = {a, b};
  json d = DownloadState(job, 130);
  EXPECT_EQ(d["modelId"], "org/m:Q8_0");
  EXPECT_EQ(d["fileName"], "a.gguf");
  EXPECT_EQ(d["time"]["elapsed"], 20);
  EXPECT_EQ(d["time"]["remaining"], 15);
  EXPECT_EQ(d["speed"], 50);
  EXPECT_DOUBLE_EQ(d["percent"].get<double>(), 0.25);
  EXPECT_EQ(d["size"], (json{{"total", 1000}, {"transferred", 250}}));
  EXPECT_EQ(d["downloadState"], "downloading");
  ASSERT_EQ(d["children"].size(), 2u);
  EXPECT_EQ(d["children"][0]["downloadState"], "end");
  EXPECT_DOUBLE_EQ(d["children"][1]["percent"].get<double>(), 50.0 / 800);
  EXPECT_FALSE(d.contains("error"));

  job.last.state = JobState::kCompleted;
  job.last.bytes_total.reset();
  job.finished_at = 140;
  d = DownloadState(job, 999);
  EXPECT_EQ(d["downloadState"], "end");
  EXPECT_EQ(d["percent"], 1.0);
  EXPECT_EQ(d["time"]["elapsed"], 30) << "until it ended";
  EXPECT_EQ(d["size"]["total"], 250) << "what it came to, when no total was known";

  job.last.state = JobState::kFailed;
  job.last.status = Status::NotFound("HTTP 404 from http://h/a.gguf");
  d = DownloadState(job, 999);
  EXPECT_EQ(d["downloadState"], "error");
  EXPECT_NE(d["error"].get<std::string>().find("404"), std::string::npos);
  job.last.state = JobState::kCancelled;
  job.last.status = Status::OK();
  EXPECT_EQ(DownloadState(job, 999)["error"], "cancelled");
}

TEST(JanWireTest, StatesMapToJansAndCortexsWords) {
  const std::vector<std::tuple<JobState, std::string, std::string, std::string>> cases = {
      {JobState::kQueued, "downloading", "DownloadStarted", "DownloadUpdated"},
      {JobState::kResolving, "downloading", "DownloadStarted", "DownloadUpdated"},
      {JobState::kDownloading, "downloading", "DownloadStarted", "DownloadUpdated"},
      {JobState::kVerifying, "downloading", "DownloadStarted", "DownloadUpdated"},
      {JobState::kInstalling, "downloading", "DownloadStarted", "DownloadUpdated"},
      {JobState::kPaused, "downloading", "DownloadStarted", "DownloadUpdated"},
      {JobState::kCompleted, "end", "DownloadSuccess", "DownloadSuccess"},
      {JobState::kFailed, "error", "DownloadError", "DownloadError"},
      {JobState::kCancelled, "error", "DownloadStopped", "DownloadStopped"},
  };
  for (const auto& [state, word, first, later] : cases) {
    EXPECT_EQ(DownloadStateWord(state), word);
    EXPECT_EQ(EventType(state, true), first);
    EXPECT_EQ(EventType(state, false), later);
  }
}

TEST(JanWireTest, TaskItemsComeFromThePlanAndTheEvents) {
  service::PlanSummary plan;
  plan.first_url = "http://h/a.gguf";
  plan.file_list = {{"a.gguf", "http://h/a.gguf", 100}, {"sub/b.json", "http://h/b.json", {}}};
  service::FileProgress b;
  b.path = "sub/b.json";
  b.done = 3;
  b.total = 10;
  auto items = TaskItems(plan, {b}, false, "/d/models/m/latest");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].id, "a.gguf");
  EXPECT_EQ(items[0].download_url, "http://h/a.gguf");
  EXPECT_EQ(items[0].local_path, "/d/models/m/latest/a.gguf");
  EXPECT_EQ(items[0].bytes, 100u);
  EXPECT_EQ(items[0].downloaded, 0u);
  EXPECT_EQ(items[1].bytes, 10u);
  EXPECT_EQ(items[1].downloaded, 3u);
  items = TaskItems(plan, {b}, true, "/d");
  EXPECT_EQ(items[0].downloaded, 100u) << "completed: every byte";
  EXPECT_EQ(items[1].downloaded, 10u);

  json t = TaskJson("m", items);
  EXPECT_EQ(t["id"], "m");
  EXPECT_EQ(t["type"], "Model");
  ASSERT_EQ(t["items"].size(), 2u);
  EXPECT_EQ(t["items"][0]["checksum"], "N/A");
  EXPECT_EQ(t["items"][0]["downloadUrl"], "http://h/a.gguf");
  EXPECT_EQ(t["items"][0]["bytes"], 100);
  EXPECT_EQ(t["items"][0]["downloadedBytes"], 100);
  EXPECT_EQ(TaskJson("m", {})["items"], json::array()) << "items is always there";
}

TEST(JanWireTest, PullBodiesNameWhatToDownload) {
  auto body = ParsePullBody(R"({"model": "TheBloke:TinyLlama-GGUF:tiny.Q4_K_M.gguf"})");
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(CortexHubTarget(body->model), "hf://TheBloke/TinyLlama-GGUF/tiny.Q4_K_M.gguf");
  auto req = PullRequestFor(*body, false);
  ASSERT_TRUE(req.has_value()) << req.error().ToString();
  EXPECT_EQ(req->ref.name, "TheBloke/TinyLlama-GGUF");
  EXPECT_EQ(req->ref.version, "tiny.Q4_K_M.gguf");
  EXPECT_EQ(req->source, "huggingface");

  req = PullRequestFor({"tinyllama-1.1b", "", ""}, true);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->ref, (ModelRef{"tinyllama-1.1b", "latest"}));
  EXPECT_EQ(req->source, "jan");

  req = PullRequestFor({"http://h/x/m.gguf", "mine", ""}, false);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->url, "http://h/x/m.gguf");
  EXPECT_EQ(req->ref, (ModelRef{"mine", "latest"})) << "installed as its id";

  EXPECT_FALSE(CortexHubTarget("name:version").has_value());
  EXPECT_FALSE(CortexHubTarget("a:b:c:d").has_value());
  EXPECT_FALSE(CortexHubTarget("https://h/a:b:c").has_value());
  EXPECT_FALSE(CortexHubTarget("a/b:c:d").has_value());

  for (const char* bad :
       {"", "[]", "{}", R"({"model": 5})", R"({"model": ""})", R"({"model": "m", "id": 3})"}) {
    auto r = ParsePullBody(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << bad;
  }
  auto bad_target = PullRequestFor({"ftp://h/m", "", ""}, false);
  ASSERT_FALSE(bad_target.has_value());
  EXPECT_NE(bad_target.error().message().find("'model'"), std::string::npos);
  EXPECT_FALSE(PullRequestFor({"m", "../bad", ""}, false).has_value());
}

TEST(JanWireTest, CancelAndStartBodies) {
  EXPECT_EQ(ParseCancelBody(R"({"taskId": "m"})").value(), "m");
  EXPECT_FALSE(ParseCancelBody("{}").has_value());
  EXPECT_FALSE(ParseCancelBody(R"({"taskId": ""})").has_value());
  EXPECT_FALSE(ParseCancelBody("").has_value());
  EXPECT_EQ(ParseStartBody(R"({"model": "m", "ctx_len": 2048, "engine": "llama-cpp"})", "").value(),
            "m");
  EXPECT_FALSE(ParseStartBody("{}", "").has_value());
  EXPECT_EQ(ParseStartBody("", "p").value(), "p") << "PUT: the path names it; no body needed";
  EXPECT_EQ(ParseStartBody(R"({"ctx_len": 1})", "p").value(), "p");
  EXPECT_FALSE(ParseStartBody("[1]", "p").has_value());
}

TEST(JanWireTest, ErrorsAreMessagesWithTheRightStatus) {
  const std::vector<std::pair<Status, int>> cases = {
      {Status::InvalidArgument("x"), 400},  {Status::NotFound("x"), 404},
      {Status::AlreadyExists("x"), 409},    {Status::FailedPrecondition("x"), 409},
      {Status::PermissionDenied("x"), 403}, {Status::NoSpace("x"), 507},
      {Status::Unavailable("x"), 503},      {Status::Internal("x"), 500},
  };
  for (const auto& [s, code] : cases) {
    Response r = ErrorFor(s);
    EXPECT_EQ(r.result_int(), code) << s.ToString();
    json j = json::parse(r.body());
    EXPECT_EQ(j["message"], "x");
    EXPECT_EQ(j["error_code"].get<std::string>(), std::string(Status::CodeName(s.code())));
  }
  Response r = ErrorBody(http::status::unauthorized, "token https://u:secret@h/x");
  EXPECT_EQ(r.result_int(), 401);
  EXPECT_EQ(json::parse(r.body())["message"].get<std::string>().find("secret"), std::string::npos);
}

}  // namespace
}  // namespace modeld::api::jan
