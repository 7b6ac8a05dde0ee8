// The generic /model-download API over a real server, store, job manager and engine.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "origin.h"
#include "server_harness.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ServerTest : public ServerHarness {
 protected:
  json Body(const std::string& name, const std::string& path, const std::string& data) {
    return {{"model_name", name},
            {"version", "v1.0"},
            {"download_url", origin_.Url(path)},
            {"checksum", "sha256:" + Sha256Hex(data)}};
  }
  TestOrigin origin_;
};

TEST_F(ServerTest, StartedThenProgressThenCompleted) {
  std::string data = RandomBytes(6 * kMiB, 1);
  origin_.Put("/resnet50.pth", {.content = data, .rate = 8 * kMiB});
  auto [code, started] = Post(Body("resnet50", "/resnet50.pth", data));
  ASSERT_EQ(code, 200) << started.dump();
  EXPECT_EQ(started["status"], "started");
  EXPECT_EQ(started["message"], "Model download started");
  EXPECT_EQ(started["model_name"], "resnet50");
  EXPECT_EQ(started["version"], "v1.0");
  EXPECT_NEAR(started["estimated_size_mb"].get<double>(), 6.29, 0.01);
  EXPECT_GE(started["estimated_duration_seconds"].get<int>(), 1);
  EXPECT_EQ(started["download_url"], origin_.Url("/resnet50.pth"));
  std::string id = started["download_id"];
  EXPECT_EQ(started["progress_endpoint"], "/model-download/" + id + "/progress");

  auto done = PollUntilDone(id);
  EXPECT_EQ(done["status"], "completed");
  for (const char* k :
       {"percentage", "downloaded_mb", "total_mb", "speed_mbps", "eta_seconds", "current_stage"}) {
    EXPECT_TRUE(done["progress"].contains(k)) << k;
  }
  EXPECT_EQ(done["progress"]["percentage"], 100.0);
  EXPECT_EQ(done["installation"]["status"], "success");
  EXPECT_EQ(done["installation"]["model_id"], "resnet50_v1.0");
  EXPECT_EQ(done["installation"]["ready_for_inference"], true);
  EXPECT_EQ(FileSha256(done["file_path"].get<std::string>()), Sha256Hex(data));

  auto [lc, list] = Get("/model-download");
  EXPECT_EQ(lc, 200);
  EXPECT_EQ(list["downloads"].size(), 1u);
}

TEST_F(ServerTest, WaitTrueAnswersWithTheCompletedShape) {
  std::string data = RandomBytes(3 * kMiB, 2);
  origin_.Put("/bert.bin", {.content = data});
  auto body = Body("bert-base", "/bert.bin", data);
  body["wait"] = true;
  auto [code, j] = Post(body);
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["message"], "Model downloaded and installed successfully");
  EXPECT_EQ(j["checksum_verified"], true);
  EXPECT_NEAR(j["file_size_mb"].get<double>(), 3.15, 0.01);
  EXPECT_TRUE(j.contains("download_duration_seconds"));
  EXPECT_EQ(j["installation"]["status"], "success");
  EXPECT_FALSE(j["installation"]["installed_at"].get<std::string>().empty());
  // ?wait=true works too, and a second identical request is a 409.
  auto [code2, j2] = Post(Body("bert-base", "/bert.bin", data), "?wait=true");
  EXPECT_EQ(code2, 409);
  EXPECT_EQ(
      j2["detail"],
      "Model 'bert-base' version 'v1.0' already exists. Use force_download=true to override.");
  auto forced = Body("bert-base", "/bert.bin", data);
  forced["force_download"] = true;
  EXPECT_EQ(Post(forced, "?wait=true").first, 200);
}

TEST_F(ServerTest, BadRequestsNameTheField) {
  struct Case {
    std::string body;
    std::string want;
  } cases[] = {
      {"not json", "Invalid JSON body"},
      {"[1,2]", "JSON object"},
      {"{}", "'model_name': required"},
      {R"({"model_name": 5})", "'model_name': must be a string"},
      {R"({"model_name": "a", "version": 1})", "'version': must be a string"},
      {R"({"model_name": "a", "force_download": "yes"})", "'force_download': must be a boolean"},
      {R"({"model_name": "a", "options": []})", "'options': must be an object"},
      {R"({"model_name": "a", "options": {"retry_count": "3"}})",
       "'options.retry_count': must be an integer"},
      {R"({"model_name": "a", "options": {"timeout": 0}})", "'options.timeout': must be between"},
      {R"({"model_name": "a", "options": {"verify_ssl": 1}})",
       "'options.verify_ssl': must be a boolean"},
      {R"({"model_name": "a", "metadata": "x"})", "'metadata': must be an object"},
      {R"({"model_name": "a", "priority": 1000})", "'priority': must be between"},
      {R"({"model_name": "../etc"})", "'model_name'"},
      {R"({"model_name": "a", "version": "../x"})", "'version'"},
      {R"({"model_name": "a", "checksum": "sha256:abc"})", "'checksum'"},
      {R"({"model_name": "a", "download_url": "ftp://x/y"})", "'download_url'"},
      // 100,000 levels in metadata (200 KB) overflowed the stack and killed the server.
      {R"({"model_name": "a", "metadata": {"x": )" + std::string(100000, '[') +
           std::string(100000, ']') + "}}",
       "nested deeper than 128 levels"},
  };
  for (const auto& c : cases) {
    auto r =
        HttpCall("POST", base_ + "/model-download", c.body, {"Content-Type: application/json"});
    EXPECT_EQ(r.status, 400) << c.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.contains("detail")) << r.body;
    EXPECT_NE(j["detail"].get<std::string>().find(c.want), std::string::npos)
        << c.body << " -> " << r.body;
  }
  EXPECT_EQ(Get("/healthz").first, 200) << "still alive";
  // A browser's simple POST (text/plain, no preflight) never reaches the parser.
  auto plain = HttpCall("POST", base_ + "/model-download", R"({"model_name": "a"})",
                        {"Content-Type: text/plain"});
  EXPECT_EQ(plain.status, 415);
  // Unknown fields are ignored.
  origin_.Put("/x", {.content = "x"});
  auto [code, j] =
      Post({{"model_name", "x"}, {"download_url", origin_.Url("/x")}, {"colour", "blue"}});
  EXPECT_EQ(code, 200) << j.dump();
}

TEST_F(ServerTest, NotFoundCases) {
  auto [c1, j1] = Post({{"model_name", "unknown-model"}});
  EXPECT_EQ(c1, 404);
  EXPECT_EQ(j1["detail"], "Model 'unknown-model' not found in repository");
  auto [c2, j2] = Post({{"model_name", "m"}, {"download_url", origin_.Url("/gone")}});
  EXPECT_EQ(c2, 404);
  EXPECT_EQ(Get("/model-download/dwnld_nope/progress").first, 404);
  EXPECT_EQ(HttpCall("POST", base_ + "/model-download/dwnld_nope/cancel").status, 404);
  EXPECT_EQ(Get("/models/none").first, 404);
  EXPECT_EQ(HttpCall("DELETE", base_ + "/models/none").status, 404);
}

TEST_F(ServerTest, InsufficientStorageIs413) {
  // The origin announces 100 TB: more than any disk here.
  origin_.Put("/huge", {.content = "x", .lie_extra = 100'000'000'000'000ull});
  auto [code, j] = Post({{"model_name", "huge"}, {"download_url", origin_.Url("/huge")}});
  EXPECT_EQ(code, 413);
  std::string detail = j["detail"];
  EXPECT_EQ(detail.rfind("Insufficient storage space. Required: 100000001MB, Available: ", 0), 0u)
      << detail;
}

TEST_F(ServerTest, FailedDownloadIs500WithTheCause) {
  std::string data = RandomBytes(kMiB, 3);
  origin_.Put("/bad", {.content = data, .corrupt_offsets = {100}});
  auto body = Body("bad", "/bad", data);
  auto [code, j] = Post(body, "?wait=true");
  EXPECT_EQ(code, 500);
  EXPECT_NE(j["detail"].get<std::string>().find("Download failed: checksum mismatch"),
            std::string::npos)
      << j.dump();
  auto [lc, list] = Get("/model-download");
  EXPECT_EQ(list["downloads"][0]["status"], "failed");
  EXPECT_EQ(list["downloads"][0]["error_code"], "Corrupt");
}

TEST_F(ServerTest, OptionsReachTheEngine) {
  std::string data = RandomBytes(2 * kMiB, 4);
  // retry_count 0: one 503 is fatal (the first 503 answers the API's size probe).
  origin_.Put("/flaky", {.content = data, .fail_status = 503, .fail_times = 2});
  json b = {{"model_name", "flaky"},
            {"download_url", origin_.Url("/flaky")},
            {"options", {{"retry_count", 0}}}};
  EXPECT_EQ(Post(b, "?wait=true").first, 503);
  // timeout: seconds without progress before a connection is replaced.
  origin_.Put("/stall", {.content = data, .stall_after = 100000, .stall_times = 1});
  json s = {{"model_name", "stall"},
            {"download_url", origin_.Url("/stall")},
            {"options",
             {{"timeout", 1},
              {"chunk_size", 8192},
              {"verify_ssl", true},
              {"extract_after_download", false},
              {"cleanup_temp_files", true}}},
            {"metadata",
             {{"description", "a stalled model"}, {"tags", {"nlp", "large"}}, {"author", "X"}}}};
  auto [code, j] = Post(s, "?wait=true");
  ASSERT_EQ(code, 200) << j.dump();
  auto [ic, info] = Get("/models/stall");
  ASSERT_EQ(ic, 200);
  auto v = info["versions"][0];
  EXPECT_EQ(v["description"], "a stalled model");
  EXPECT_EQ(v["tags"], json({"nlp", "large"}));
  EXPECT_EQ(v["metadata"]["author"], "X");
}

TEST_F(ServerTest, CancelPauseResume) {
  std::string data = RandomBytes(32 * kMiB, 5);
  origin_.Put("/big", {.content = data, .rate = 2 * kMiB});
  auto [code, started] = Post({{"model_name", "big"}, {"download_url", origin_.Url("/big")}});
  ASSERT_EQ(code, 200);
  std::string id = started["download_id"];
  ASSERT_TRUE(origin_.WaitForBodyBytes("/big", kMiB));
  auto p = HttpCall("POST", base_ + "/model-download/" + id + "/pause");
  EXPECT_EQ(p.status, 200) << p.body;
  // Paused: resume it, unthrottled.
  ASSERT_TRUE(WaitState(id, [](const std::string& st) { return st == "paused"; }));
  EXPECT_EQ(Get("/model-download/" + id + "/progress").second["state"], "paused");
  EXPECT_EQ(HttpCall("POST", base_ + "/model-download/" + id + "/pause").status, 409);
  origin_.Update("/big", [](FileSpec& f) { f.rate = 0; });
  EXPECT_EQ(HttpCall("POST", base_ + "/model-download/" + id + "/resume").status, 200);
  auto done = PollUntilDone(id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(HttpCall("POST", base_ + "/model-download/" + id + "/cancel").status, 409)
      << "a completed download cannot be cancelled";

  origin_.Put("/big2", {.content = data, .rate = 2 * kMiB});
  auto [c2, s2] = Post({{"model_name", "big2"}, {"download_url", origin_.Url("/big2")}});
  std::string id2 = s2["download_id"];
  ASSERT_TRUE(origin_.WaitForBodyBytes("/big2", kMiB));
  EXPECT_EQ(HttpCall("POST", base_ + "/model-download/" + id2 + "/cancel").status, 200);
  auto cancelled = PollUntilDone(id2);
  EXPECT_EQ(cancelled["status"], "failed") << "seed clients stop polling at failed";
  EXPECT_EQ(cancelled["state"], "cancelled");
}

// The limits, live: a job's own (PATCH /model-download/{id}) and the server's (GET and
// PATCH /settings), with 400s that name the field.
TEST_F(ServerTest, RateLimitsAreSetAndChangedLive) {
  const std::vector<std::string> json_type = {"Content-Type: application/json"};
  auto [sc, settings] = Get("/settings");
  ASSERT_EQ(sc, 200);
  EXPECT_EQ(settings["max_rate"], 0);
  EXPECT_EQ(settings["max_connections_per_host"], 16);
  auto patched = HttpCall("PATCH", base_ + "/settings",
                          R"({"max_rate": 3145728, "max_connections_per_host": 8})", json_type);
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(json::parse(patched.body)["max_rate"], 3145728);
  EXPECT_EQ(Get("/settings").second["max_connections_per_host"], 8);
  auto bad =
      HttpCall("PATCH", base_ + "/settings", R"({"max_connections_per_host": 0})", json_type);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["field"], "max_connections_per_host");
  EXPECT_EQ(HttpCall("PATCH", base_ + "/settings", "{}", json_type).status, 400);
  EXPECT_EQ(HttpCall("PATCH", base_ + "/settings", R"({"max_rate": 5})").status, 415)
      << "a JSON API takes JSON bodies only";

  // A download under the server's cap of 3 MiB/s, and its own of 1 MiB/s.
  std::string data = RandomBytes(12 * kMiB, 31);
  origin_.Put("/limited", {.content = data});
  auto body = Body("limited", "/limited", data);
  body["options"] = {{"max_rate", 1048576}};
  auto start = std::chrono::steady_clock::now();
  auto [code, started] = Post(body);
  ASSERT_EQ(code, 200) << started.dump();
  std::string id = started["download_id"];
  ASSERT_TRUE(WaitJob(id, [](const service::Job& j) { return j.last.bytes_done >= 2 * kMiB; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_EQ(Get("/model-download/" + id + "/progress").second["max_rate"], 1048576);
  auto job = HttpCall("PATCH", base_ + "/model-download/" + id, R"({"max_rate": 0})", json_type);
  ASSERT_EQ(job.status, 200) << job.body;
  EXPECT_EQ(json::parse(job.body)["max_rate"], 0);
  // Now only the server's cap: the last 10 MiB take about 3.3 s, not 10.
  auto lifted = std::chrono::steady_clock::now();
  EXPECT_EQ(PollUntilDone(id)["status"], "completed");
  auto rest = std::chrono::steady_clock::now() - lifted;
  EXPECT_GE(rest, std::chrono::milliseconds(2500)) << "the server's cap still holds";
  EXPECT_LT(rest, std::chrono::seconds(8) * kSanitizerSlowdown);

  auto wrong = HttpCall("PATCH", base_ + "/model-download/" + id,
                        R"({"max_rate": 1, "max_connections_per_host": 2})", json_type);
  EXPECT_EQ(wrong.status, 400) << "per host is the server's";
  auto tiny = HttpCall("PATCH", base_ + "/model-download/" + id, R"({"max_rate": 1})", json_type);
  EXPECT_EQ(tiny.status, 400) << "a limit is 0 or at least 1 KiB/s";
  EXPECT_EQ(json::parse(tiny.body)["field"], "max_rate");
  EXPECT_EQ(
      HttpCall("PATCH", base_ + "/model-download/" + id, R"({"max_rate": 2048})", json_type).status,
      409)
      << "a completed job has nothing to limit";
  EXPECT_EQ(HttpCall("PATCH", base_ + "/model-download/dwnld_000000000000", R"({"max_rate": 2048})",
                     json_type)
                .status,
            404);
}

TEST_F(ServerTest, ModelsInfoRemoveAndCache) {
  std::string data = RandomBytes(kMiB, 6);
  origin_.Put("/m.bin", {.content = data});
  ASSERT_EQ(Post(Body("org/m", "/m.bin", data), "?wait=true").first, 200);
  auto [c, models] = Get("/models");
  ASSERT_EQ(c, 200);
  ASSERT_EQ(models["models"].size(), 1u);
  EXPECT_EQ(models["models"][0]["name"], "org/m");
  EXPECT_EQ(models["models"][0]["version"], "v1.0");
  EXPECT_EQ(models["models"][0]["status"], "available");
  EXPECT_EQ(models["models"][0]["size"], data.size());
  auto [ic, info] = Get("/models/org/m");
  ASSERT_EQ(ic, 200) << "names with a slash work";
  EXPECT_EQ(info["versions"][0]["files"][0]["sha256"], Sha256Hex(data));
  auto [cc, cache] = Get("/cache");
  EXPECT_EQ(cache["blobs"], 1);
  auto del = HttpCall("DELETE", base_ + "/models/org/m?version=v1.0");
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(Get("/models").second["models"].size(), 0u);
  EXPECT_EQ(HttpCall("DELETE", base_ + "/models/org/m").status, 404);
}

TEST_F(ServerTest, TokenRequiredWhenSet) {
  Stop();
  Start("tok");
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz").status, 200);
  EXPECT_EQ(HttpCall("GET", base_ + "/models").status, 401);
  EXPECT_EQ(HttpCall("GET", base_ + "/models", "", {"Authorization: Bearer tok"}).status, 200);
  auto v = HttpCall("GET", base_ + "/version", "", {"Authorization: Bearer tok"});
  EXPECT_EQ(json::parse(v.body)["version"], "test");
}

// Reads an SSE stream until |stop_at| appears (or the stream ends); returns the text.
std::string ReadSse(const std::string& url, const std::string& stop_at) {
  struct Ctx {
    std::string text, stop;
  } ctx{"", stop_at};
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &ctx);
  curl_easy_setopt(
      e, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) -> size_t {
        auto& c = *static_cast<Ctx*>(u);
        c.text.append(d, s * n);
        return c.text.find(c.stop) != std::string::npos && c.text.size() > 2 &&
                       c.text.substr(c.text.find(c.stop)).find("\n\n") != std::string::npos
                   ? 0
                   : s * n;
      });
  curl_easy_perform(e);
  curl_easy_cleanup(e);
  return ctx.text;
}

TEST_F(ServerTest, SseStreamsStatesProgressAndDone) {
  std::string data = RandomBytes(16 * kMiB, 7);
  origin_.Put("/s.bin", {.content = data, .rate = 4 * kMiB});
  auto [code, started] = Post(Body("s", "/s.bin", data));
  ASSERT_EQ(code, 200);
  std::string id = started["download_id"];
  std::string text = ReadSse(base_ + "/model-download/" + id + "/events", "event: done");
  EXPECT_NE(text.find("event: progress"), std::string::npos) << text.substr(0, 500);
  for (const char* state : {"\"state\":\"verifying\"", "\"state\":\"installing\""}) {
    EXPECT_NE(text.find(state), std::string::npos) << "state changes are never dropped: " << state;
  }
  size_t done = text.find("event: done");
  ASSERT_NE(done, std::string::npos);
  auto last = json::parse(
      text.substr(text.find("data: ", done) + 6,
                  text.find('\n', text.find("data: ", done)) - text.find("data: ", done) - 6));
  EXPECT_EQ(last["status"], "completed");
  // A finished job: its done event at once. An unknown one: an error event.
  EXPECT_NE(ReadSse(base_ + "/model-download/" + id + "/events", "event: done").find("completed"),
            std::string::npos);
  EXPECT_NE(ReadSse(base_ + "/model-download/dwnld_none/events", "event: error").find("not found"),
            std::string::npos);
}

TEST_F(ServerTest, AStuckStreamReaderNeverSlowsADownload) {
  std::string data = RandomBytes(24 * kMiB, 8);
  origin_.Put("/s.bin", {.content = data});
  auto [code, started] = Post(Body("s", "/s.bin", data));
  std::string id = started["download_id"];
  // A client that asks for the stream and then never reads a byte.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->ports()[0]);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /model-download/" + id + "/events HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  auto done = PollUntilDone(id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(Get("/healthz").first, 200) << "the server still answers";
  ::close(fd);
}

TEST_F(ServerTest, WebSocketCarriesEveryJob) {
  namespace beast = boost::beast;
  namespace websocket = beast::websocket;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  websocket::stream<boost::asio::ip::tcp::socket> ws(ioc);
  boost::asio::connect(ws.next_layer(),
                       resolver.resolve("127.0.0.1", std::to_string(server_->ports()[0])));
  ws.handshake("127.0.0.1", "/ws");
  std::string data = RandomBytes(8 * kMiB, 9);
  origin_.Put("/w.bin", {.content = data, .rate = 8 * kMiB});
  auto [code, started] = Post(Body("w", "/w.bin", data));
  std::string id = started["download_id"];
  std::set<std::string> types;
  for (;;) {
    beast::flat_buffer buf;
    ws.read(buf);
    auto j = json::parse(beast::buffers_to_string(buf.data()));
    if (j["download_id"] != id) continue;
    types.insert(j["type"].get<std::string>());
    if (j["type"] == "done") {
      EXPECT_EQ(j["status"], "completed");
      break;
    }
  }
  EXPECT_TRUE(types.count("state"));
  EXPECT_TRUE(types.count("progress"));
  ws.close(websocket::close_code::normal);
  // Plain HTTP to the WebSocket endpoint is refused.
  EXPECT_EQ(HttpCall("GET", base_ + "/ws").status, 426);
}

TEST_F(ServerTest, StreamsTakeTheTokenInTheQuery) {
  Stop();
  Start("tok");
  EXPECT_EQ(HttpCall("GET", base_ + "/model-download/dwnld_x/events").status, 401);
  EXPECT_NE(
      ReadSse(base_ + "/model-download/dwnld_x/events?token=tok", "event: error").find("not found"),
      std::string::npos);
  EXPECT_EQ(HttpCall("GET", base_ + "/models?token=tok").status, 401)
      << "only streams take it there";
}

}  // namespace
}  // namespace modeld::testing
