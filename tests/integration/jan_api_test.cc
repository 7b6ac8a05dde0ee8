// Jan's API (0.4) and cortex's (Jan 0.5) (issue 14) on a real `modeld serve` over the test
// origin and the Hub mimic: Jan's download-then-progress flow to "end", cortex's pull with
// the /events WebSocket through to DownloadSuccess and through a cancel to DownloadStopped,
// model.json posted and dropped into the catalogs folder then downloaded, start and stop,
// both the /v1 and the un-prefixed routes, every error in Jan's shape, and the bearer token
// Jan sends with and without a token configured. No sleeps: every wait is an answer or a
// frame. The client tests (tests/clients/jan.test.mjs) drive the same as Jan's app does.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "engine_harness.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "origin.h"
#include "serve_child.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// HF_ENDPOINT for the server children started meanwhile (they inherit it).
class JanHubEnv {
 public:
  explicit JanHubEnv(const std::string& endpoint) { ::setenv("HF_ENDPOINT", endpoint.c_str(), 1); }
  ~JanHubEnv() { ::unsetenv("HF_ENDPOINT"); }
};

// cortex's /events WebSocket, read frame by frame (the client sends nothing).
class JanEvents {
 public:
  JanEvents(uint16_t port, const std::string& path = "/events") : ws_(ioc_) {
    boost::asio::ip::tcp::resolver resolver(ioc_);
    boost::asio::connect(ws_.next_layer().socket(),
                         resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.next_layer().expires_after(std::chrono::seconds(60));
    ws_.handshake("localhost", path);
  }
  json Next() {
    boost::beast::flat_buffer buf;
    ws_.next_layer().expires_after(std::chrono::seconds(60));
    ws_.read(buf);
    return json::parse(boost::beast::buffers_to_string(buf.data()));
  }
  // The frames of task |id| until one of |types| (the last one returned); other tasks'
  // frames are skipped.
  std::vector<json> Until(const std::string& id, const std::set<std::string>& types) {
    std::vector<json> frames;
    for (;;) {
      json f = Next();
      if (f["task"]["id"] != id) continue;
      frames.push_back(f);
      if (types.count(f.value("type", ""))) return frames;
    }
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
};

// One request with any method and a body (HttpCall sends a body with POST only; Jan sends
// DELETE and PUT with JSON bodies).
HttpReply JanHttp(const std::string& method, const std::string& url, const std::string& body,
                  const std::vector<std::string>& headers) {
  if (method == "GET" || method == "POST" || body.empty()) {
    return HttpCall(method, url, body, headers, nullptr, 60);
  }
  HttpReply r;
  CURL* e = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  auto append = +[](char* d, size_t s, size_t n, void* u) {
    static_cast<std::string*>(u)->append(d, s * n);
    return s * n;
  };
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &r.body);
  r.rc = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(e);
  return r;
}

const std::set<std::string> kJanFinal = {"DownloadSuccess", "DownloadError", "DownloadStopped"};

// Every frame carries the whole task with its items (Jan reduces them on every frame).
void ExpectJanTaskFrames(const std::vector<json>& frames, const std::string& id) {
  for (const auto& f : frames) {
    ASSERT_TRUE(f["type"].is_string()) << f.dump();
    EXPECT_EQ(f["task"]["id"], id) << f.dump();
    EXPECT_EQ(f["task"]["type"], "Model") << f.dump();
    ASSERT_TRUE(f["task"]["items"].is_array()) << f.dump();
    for (const auto& item : f["task"]["items"]) {
      EXPECT_TRUE(item["id"].is_string()) << f.dump();
      EXPECT_TRUE(item["bytes"].is_number_unsigned()) << f.dump();
      EXPECT_TRUE(item["downloadedBytes"].is_number_unsigned()) << f.dump();
      EXPECT_EQ(item["checksum"], "N/A");
    }
  }
}

class JanApiTest : public ::testing::Test {
 protected:
  struct Reply {
    long status;
    json body;
    std::string text;
  };
  // As Jan sends them: JSON bodies, and a bearer token whether or not the server wants one.
  Reply Call(const std::string& base, const std::string& method, const std::string& path,
             const std::string& body = "", const std::string& token = "jan-app-key") {
    std::vector<std::string> headers;
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    auto r = JanHttp(method, base + path, body, headers);
    return {r.status, json::parse(r.body, nullptr, false), r.body};
  }
  Reply Call(const ServeChild& s, const std::string& method, const std::string& path,
             const std::string& body = "") {
    return Call(s.base(), method, path, body);
  }
  // A model.json whose one source is |path| on the origin.
  json ModelJson(const std::string& id, const std::string& path) {
    return {{"id", id},
            {"object", "model"},
            {"name", "Test " + id},
            {"version", "1.0"},
            {"format", "gguf"},
            {"sources", {{{"filename", id + ".gguf"}, {"url", origin_.Url(path)}}}},
            {"settings", {{"ctx_len", 2048}}},
            {"parameters", {{"temperature", 0.7}}},
            {"metadata", {{"author", "Tester"}, {"tags", {"Test"}}, {"size", 0}}},
            {"engine", "llama-cpp"},
            {"created", 0},
            {"description", "a test model"}};
  }
  // The model |id| of GET |prefix|/models.
  json Listed(const ServeChild& s, const std::string& prefix, const std::string& id) {
    auto list = Call(s, "GET", prefix + "/models");
    EXPECT_EQ(list.status, 200) << list.text;
    EXPECT_EQ(list.body["object"], "list") << list.text;
    for (const auto& m : list.body["data"]) {
      if (m["id"] == id) return m;
    }
    return nullptr;
  }
  // The port of the second listener (`--listen 127.0.0.1:0=jan`) from the log.
  static std::string SecondBase(ServeChild& s) {
    const std::string log = s.Log();
    const size_t at = log.find(", 127.0.0.1:", log.find("listening on"));
    if (at == std::string::npos) return "";
    return "http://127.0.0.1:" + std::to_string(std::atoi(log.c_str() + at + 12));
  }

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  TestOrigin origin_;
};

// Jan 0.4: a model.json posted, GET /models/download/{id}, then getDownloadProgress until
// it says "end" (the events socket tells when to look).
TEST_F(JanApiTest, JansDownloadThenProgressFlowEndsInEnd) {
  const std::string data = RandomBytes(2 * kMiB, 41);
  origin_.Put("/t.gguf", {.content = data, .rate = 4 * kMiB});
  ServeChild s(data_);
  auto saved = Call(s, "POST", "/v1/models", ModelJson("tiny-jan", "/t.gguf").dump());
  ASSERT_EQ(saved.status, 200) << saved.text;
  EXPECT_EQ(saved.body["id"], "tiny-jan");
  EXPECT_EQ(saved.body["state"], "not_downloaded");
  EXPECT_EQ(saved.body["engine"], "llama-cpp") << "the model.json as given";
  EXPECT_TRUE(fs::exists(data_ / "catalogs" / "tiny-jan" / "model.json"));
  // An id holding '/' is saved as one folder (org--name) and read back as a catalog entry.
  auto nested = Call(s, "POST", "/v1/models", ModelJson("org/tiny-jan", "/t.gguf").dump());
  ASSERT_EQ(nested.status, 200) << nested.text;
  EXPECT_EQ(nested.body["id"], "org/tiny-jan");
  EXPECT_TRUE(fs::exists(data_ / "catalogs" / "org--tiny-jan" / "model.json"));
  EXPECT_EQ(Listed(s, "/v1", "org/tiny-jan")["status"], "not_downloaded");
  EXPECT_EQ(Listed(s, "/v1", "tiny-jan")["status"], "not_downloaded");
  EXPECT_EQ(Call(s, "GET", "/v1/download/getDownloadProgress/tiny-jan").status, 404)
      << "no download yet";

  JanEvents events(s.port());
  auto started = Call(s, "GET", "/v1/models/download/tiny-jan");
  ASSERT_EQ(started.status, 200) << started.text;
  EXPECT_EQ(started.body["message"], "Starting download tiny-jan");
  // While it runs: Jan's DownloadState says downloading, percent a fraction.
  auto first = events.Until("tiny-jan", {"DownloadUpdated", "DownloadSuccess"});
  if (first.back()["type"] == "DownloadUpdated") {
    auto mid = Call(s, "GET", "/v1/download/getDownloadProgress/tiny-jan");
    ASSERT_EQ(mid.status, 200) << mid.text;
    EXPECT_EQ(mid.body["modelId"], "tiny-jan");
    EXPECT_TRUE(mid.body["downloadState"] == "downloading" || mid.body["downloadState"] == "end")
        << mid.text;
    EXPECT_GE(mid.body["percent"].get<double>(), 0.0);
    EXPECT_LE(mid.body["percent"].get<double>(), 1.0);
    events.Until("tiny-jan", kJanFinal);
  }
  auto end = Call(s, "GET", "/download/getDownloadProgress/tiny-jan");  // un-prefixed too
  ASSERT_EQ(end.status, 200) << end.text;
  EXPECT_EQ(end.body["downloadState"], "end") << end.text;
  EXPECT_EQ(end.body["percent"], 1.0);
  EXPECT_EQ(end.body["size"]["total"], data.size());
  EXPECT_EQ(end.body["size"]["transferred"], data.size());
  EXPECT_EQ(end.body["fileName"], "tiny-jan.gguf");

  json m = Listed(s, "/v1", "tiny-jan");
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m["status"], "downloaded");
  EXPECT_EQ(m["metadata"]["size"], data.size());
  EXPECT_EQ(m["settings"]["llama_model_path"],
            (data_ / "models" / "tiny-jan" / "latest" / "tiny-jan.gguf").string());
  EXPECT_EQ(m["settings"]["ctx_len"], 2048);
  EXPECT_EQ(m["name"], "Test tiny-jan");
  // Again: already there.
  auto again = Call(s, "GET", "/v1/models/download/tiny-jan");
  EXPECT_EQ(again.status, 200);
  EXPECT_NE(again.body["message"].get<std::string>().find("already downloaded"), std::string::npos);
}

// cortex: "author:repo:file.gguf" from the Hub, followed on /events to DownloadSuccess.
TEST_F(JanApiTest, ACortexPullFromTheHubEndsInDownloadSuccess) {
  TestOrigin api;
  HubMimic hub(api);
  const std::string weights = RandomBytes(kMiB, 42);
  hub.AddRepo("TheBloke/Tiny-GGUF", std::string(40, 'a'), {"main"},
              {{"tiny.Q4_K_M.gguf", weights, true},
               {"tiny.Q8_0.gguf", "other", true},
               {"README.md", "readme", false}});
  JanHubEnv env(hub.Endpoint());
  ServeChild s(data_);
  JanEvents events(s.port());
  auto pulled =
      Call(s, "POST", "/v1/models/pull", R"({"model": "TheBloke:Tiny-GGUF:tiny.Q4_K_M.gguf"})");
  ASSERT_EQ(pulled.status, 200) << pulled.text;
  EXPECT_EQ(pulled.body["message"], "Model start downloading!");
  const std::string id = pulled.body["task"]["id"];
  EXPECT_EQ(id, "TheBloke/Tiny-GGUF:tiny.Q4_K_M.gguf");
  EXPECT_EQ(pulled.body["task"]["type"], "Model");
  ASSERT_EQ(pulled.body["task"]["items"].size(), 1u) << pulled.text;
  EXPECT_EQ(pulled.body["task"]["items"][0]["id"], "tiny.Q4_K_M.gguf");
  EXPECT_EQ(pulled.body["task"]["items"][0]["bytes"], weights.size());
  EXPECT_EQ(pulled.body["task"]["items"][0]["checksum"], "N/A");

  auto frames = events.Until(id, kJanFinal);
  ExpectJanTaskFrames(frames, id);
  EXPECT_EQ(frames.front()["type"], "DownloadStarted");
  ASSERT_EQ(frames.back()["type"], "DownloadSuccess") << frames.back().dump();
  const json& item = frames.back()["task"]["items"][0];
  EXPECT_EQ(item["downloadedBytes"], weights.size());
  EXPECT_EQ(item["bytes"], weights.size());
  EXPECT_EQ(
      item["localPath"],
      (data_ / "models" / "TheBloke/Tiny-GGUF" / "tiny.Q4_K_M.gguf" / "tiny.Q4_K_M.gguf").string());
  // The id names it everywhere: the listing (un-prefixed, merged with the other
  // dialects' answers), one model, its progress.
  auto merged = Call(s, "GET", "/models");
  EXPECT_TRUE(merged.body["data"].is_array()) << merged.text;
  EXPECT_TRUE(merged.body["models"].is_array()) << "the generic listing beside Jan's";
  EXPECT_EQ(Listed(s, "", id)["status"], "downloaded");
  auto one = Call(s, "GET", "/v1/models/TheBloke/Tiny-GGUF:tiny.Q4_K_M.gguf");
  EXPECT_EQ(one.status, 200) << one.text;
  EXPECT_EQ(one.body["id"], id);
  EXPECT_EQ(Call(s, "GET", "/v1/models/TheBloke%2FTiny-GGUF:tiny.Q4_K_M.gguf").body["id"], id);
  EXPECT_EQ(Call(s, "GET", "/v1/download/getDownloadProgress/TheBloke/Tiny-GGUF:tiny.Q4_K_M.gguf")
                .body["downloadState"],
            "end");
  // Pulled again: it is there.
  auto twice =
      Call(s, "POST", "/v1/models/pull", R"({"model": "TheBloke:Tiny-GGUF:tiny.Q4_K_M.gguf"})");
  EXPECT_EQ(twice.status, 409) << twice.text;
  EXPECT_FALSE(twice.body.value("message", "").empty());
}

// cortex: a slow download cancelled mid-way with DELETE /v1/models/pull {"taskId"}.
TEST_F(JanApiTest, ACancelledPullEndsInDownloadStopped) {
  origin_.Put("/slow.gguf", {.content = RandomBytes(8 * kMiB, 43), .rate = 256 * 1024});
  ServeChild s(data_);
  JanEvents events(s.port());
  auto pulled = Call(s, "POST", "/v1/models/pull",
                     json{{"model", origin_.Url("/slow.gguf")}, {"id", "slow-one"}}.dump());
  ASSERT_EQ(pulled.status, 200) << pulled.text;
  ASSERT_EQ(pulled.body["task"]["id"], "slow-one");
  auto early = events.Until("slow-one", {"DownloadUpdated"});
  ExpectJanTaskFrames(early, "slow-one");
  EXPECT_EQ(early.front()["type"], "DownloadStarted");
  auto cancelled = Call(s, "DELETE", "/v1/models/pull", R"({"taskId": "slow-one"})");
  ASSERT_EQ(cancelled.status, 200) << cancelled.text;
  EXPECT_EQ(cancelled.body,
            (json{{"message", "Download stopped successfully"}, {"taskId", "slow-one"}}));
  auto frames = events.Until("slow-one", kJanFinal);
  ExpectJanTaskFrames(frames, "slow-one");
  EXPECT_EQ(frames.back()["type"], "DownloadStopped");
  EXPECT_EQ(frames.back()["task"]["items"].size(), 1u) << "items even when stopped";
  auto state = Call(s, "GET", "/v1/download/getDownloadProgress/slow-one");
  EXPECT_EQ(state.body["downloadState"], "error") << state.text;
  // Nothing left to cancel (un-prefixed, as some Jan builds call it).
  auto none = Call(s, "DELETE", "/models/pull", R"({"taskId": "slow-one"})");
  EXPECT_EQ(none.status, 404) << none.text;
  EXPECT_FALSE(none.body.value("message", "").empty());
}

// A model.json dropped into <data dir>/catalogs/ while the server runs is a model at once.
TEST_F(JanApiTest, AModelJsonDroppedIntoTheFolderDownloadsStartsAndStops) {
  const std::string data = RandomBytes(kMiB, 44);
  origin_.Put("/d.gguf", {.content = data});
  ServeChild s(data_);
  EXPECT_TRUE(Listed(s, "/v1", "dropped").is_null());
  fs::create_directories(data_ / "catalogs" / "dropped");
  std::ofstream(data_ / "catalogs" / "dropped" / "model.json")
      << ModelJson("dropped", "/d.gguf").dump(2);
  json listed = Listed(s, "/v1", "dropped");
  ASSERT_TRUE(listed.is_object()) << "seen without a restart";
  EXPECT_EQ(listed["state"], "not_downloaded");
  EXPECT_EQ(listed["sources"][0]["url"], origin_.Url("/d.gguf"));
  // A loose *.json whose object is "model" is one too.
  std::ofstream(data_ / "catalogs" / "loose.json") << json{
      {"id", "loose"},
      {"object", "model"},
      {"sources", {{{"url", origin_.Url("/d.gguf")}}}}}.dump();
  EXPECT_EQ(Call(s, "GET", "/v1/models/loose").status, 200);

  JanEvents events(s.port());
  auto started = Call(s, "GET", "/models/download/dropped");
  ASSERT_EQ(started.status, 200) << started.text;
  EXPECT_EQ(started.body["message"], "Starting download dropped");
  EXPECT_EQ(events.Until("dropped", kJanFinal).back()["type"], "DownloadSuccess");
  auto one = Call(s, "GET", "/v1/models/dropped");
  ASSERT_EQ(one.status, 200) << one.text;
  EXPECT_EQ(one.body["state"], "downloaded");

  // Start (PUT with the settings, as Jan 0.4) and stop (POST, as cortex).
  auto start = Call(s, "PUT", "/v1/models/dropped/start", R"({"ctx_len": 2048, "ngl": 100})");
  ASSERT_EQ(start.status, 200) << start.text;
  EXPECT_EQ(start.body["message"], "Started successfully!");
  EXPECT_EQ(Call(s, "GET", "/v1/models/dropped").body["state"], "running");
  auto resident = Call(s, "GET", "/loaded").body["models"];
  ASSERT_EQ(resident.size(), 1u);
  EXPECT_EQ(resident[0]["resident_bytes"], data.size());
  auto stop = Call(s, "POST", "/v1/models/stop", R"({"model": "dropped"})");
  ASSERT_EQ(stop.status, 200) << stop.text;
  EXPECT_EQ(stop.body["message"], "Stopped successfully!");
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
  auto post_start = Call(s, "POST", "/models/start",
                         R"({"model": "dropped", "engine": "llama-cpp", "ctx_len": 2048})");
  EXPECT_EQ(post_start.status, 200) << post_start.text;
  EXPECT_EQ(Call(s, "PUT", "/models/dropped/stop").body["message"], "Stopped successfully!");

  // Deleted: its files go, its model.json stays (not downloaded).
  auto del = Call(s, "DELETE", "/v1/models/dropped");
  ASSERT_EQ(del.status, 200) << del.text;
  EXPECT_EQ(del.body["deleted"], true);
  EXPECT_FALSE(fs::exists(data_ / "models" / "dropped" / "latest"));
  EXPECT_EQ(Call(s, "GET", "/v1/models/dropped").body["state"], "not_downloaded");
}

TEST_F(JanApiTest, ErrorsAreJansMessagesWithTheRightStatus) {
  ServeChild s(data_);
  for (const std::string prefix : {"", "/v1"}) {
    SCOPED_TRACE(prefix);
    // Jan's own words for an unknown model: a 200.
    auto unknown = Call(s, "GET", prefix + "/models/download/no-such-model");
    EXPECT_EQ(unknown.status, 200) << unknown.text;
    EXPECT_EQ(unknown.body, (json{{"message", "Model not found"}}));
    auto progress = Call(s, "GET", prefix + "/download/getDownloadProgress/no-such-model");
    EXPECT_EQ(progress.status, 404);
    EXPECT_EQ(progress.body["message"], "Download progress not found");
    for (const auto& [method, path, body, status] :
         std::vector<std::tuple<std::string, std::string, std::string, int>>{
             {"POST", "/models/pull", "", 400},
             {"POST", "/models/pull", "[1]", 400},
             {"POST", "/models/pull", R"({"model": 5})", 400},
             {"POST", "/models/pull", R"({"model": "ftp://h/x"})", 400},
             {"POST", "/models/pull", R"({"model": "no-such-model"})", 404},
             {"DELETE", "/models/pull", "{}", 400},
             {"DELETE", "/models/pull", R"({"taskId": "nothing"})", 404},
             {"POST", "/models/start", "{}", 400},
             {"POST", "/models/start", R"({"model": "no-such-model"})", 404},
             {"POST", "/models/stop", R"({"model": "no-such-model"})", 404},
             {"PUT", "/models/no-such-model/start", "", 404},
             {"PUT", "/models/no-such-model/jump", "", 404},
             {"POST", "/models", R"({"id": "x"})", 400},
             {"POST", "/models", R"({"id": "../x", "sources": [{"url": "http://h/x"}]})", 400},
         }) {
      auto r = Call(s, method, prefix + path, body);
      EXPECT_EQ(r.status, status) << method << " " << prefix << path << " " << body << ": "
                                  << r.text;
      EXPECT_TRUE(r.body.is_object() && r.body["message"].is_string())
          << method << " " << path << ": " << r.text;
    }
  }
  // /v1/models/{id} is Jan's alone (un-prefixed, the generic API answers first).
  auto missing = Call(s, "GET", "/v1/models/no-such-model");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["message"], "Model 'no-such-model' not found");
  EXPECT_EQ(missing.body["error_code"], "NotFound") << missing.text;
  EXPECT_EQ(Call(s, "DELETE", "/v1/models/no-such-model").status, 404);
  // A download whose file is missing upstream: DownloadError on the socket.
  auto saved = Call(s, "POST", "/v1/models", ModelJson("gone", "/nothing-here.gguf").dump());
  ASSERT_EQ(saved.status, 200) << saved.text;
  JanEvents events(s.port());
  auto started = Call(s, "GET", "/v1/models/download/gone");
  ASSERT_EQ(started.status, 200) << started.text;
  auto frames = events.Until("gone", kJanFinal);
  ExpectJanTaskFrames(frames, "gone");
  EXPECT_EQ(frames.back()["type"], "DownloadError");
  EXPECT_EQ(Call(s, "GET", "/v1/download/getDownloadProgress/gone").body["downloadState"], "error");
}

// Jan's own listener: only Jan's routes, the server's own errors in Jan's shape; the bearer
// token Jan always sends is ignored when modeld has none, and checked when it has one.
TEST_F(JanApiTest, AJanListenerAndTheBearerTokenWithAndWithout) {
  {
    ServeChild s(data_, {"--listen", "127.0.0.1:0=jan"});
    const std::string base = SecondBase(s);
    ASSERT_FALSE(base.empty()) << s.Log();
    auto list = Call(base, "GET", "/v1/models", "", "some-key-jan-made-up");
    EXPECT_EQ(list.status, 200) << "no token configured: any bearer is fine";
    EXPECT_EQ(list.body["object"], "list");
    EXPECT_FALSE(list.body.contains("models")) << "not the generic API's listing";
    EXPECT_EQ(Call(base, "GET", "/models", "", "").status, 200) << "and none is fine";
    auto generic = Call(base, "GET", "/model-download");
    EXPECT_EQ(generic.status, 404);
    EXPECT_TRUE(generic.body["message"].is_string()) << generic.text;
    // A WebSocket route asked without the upgrade.
    EXPECT_EQ(Call(base, "GET", "/events").status, 426);
  }
  ServeChild s(data_, {"--listen", "127.0.0.1:0=jan", "--token", "s3cret"});
  const std::string base = SecondBase(s);
  ASSERT_FALSE(base.empty()) << s.Log();
  auto none = Call(base, "GET", "/v1/models", "", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(none.body["message"].is_string()) << none.text;
  EXPECT_EQ(Call(base, "GET", "/v1/models", "", "wrong").status, 401);
  EXPECT_EQ(Call(base, "GET", "/v1/models", "", "s3cret").status, 200);
  JanEvents events(s.port(), "/events?token=s3cret");  // (the default listener: all dialects)
}

}  // namespace
}  // namespace modeld::testing
