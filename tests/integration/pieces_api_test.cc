// Pieces OS's ModelApi and ModelsApi (issue 13) on a real `modeld serve` over the test
// origin: the wire as the official client sends it (POSTs with no body, a doubled slash,
// X-Application-ID), custom models downloaded through the progress WebSocket to
// COMPLETED and through a cancel to CANCELED, load and unload, delete and delete/cache, ids
// stable across a restart, and every error path in Pieces' error shape. The official npm
// client's own tests are in tests/clients. No sleeps: every wait is an answer or a frame.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "http_client.h"
#include "origin.h"
#include "serve_child.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class PiecesApiTest : public ::testing::Test {
 protected:
  struct Reply {
    long status;
    json body;
    std::string text;
  };
  // |body| empty: no body and no Content-Type, as the client's POSTs without one.
  Reply Call(const ServeChild& s, const std::string& method, const std::string& path,
             const std::string& body = "") {
    std::vector<std::string> headers = {"X-Application-ID: test-app"};
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    auto r = HttpCall(method, s.base() + path, body, headers, nullptr, 60);
    return {r.status, json::parse(r.body, nullptr, false), r.body};
  }
  // POST /models/create with a SeededModel for |path| of the origin.
  json Create(const ServeChild& s, const std::string& name, const std::string& path) {
    json seeded = {{"name", name},
                   {"version", "v1"},
                   {"cloud", false},
                   {"type", "BALANCED"},
                   {"usage", "CODE_CONVERSATION"},
                   {"created", {{"value", "2025-01-01T00:00:00.000Z"}}},
                   {"unique", origin_.Url(path)}};
    auto r = Call(s, "POST", "/models/create", seeded.dump());
    EXPECT_EQ(r.status, 200) << r.text;
    return r.body;
  }

  // A WebSocket on /model/{id}/download/progress, read frame by frame.
  class Progress {
   public:
    Progress(const ServeChild& s, const std::string& id) : ws_(ioc_) {
      boost::asio::ip::tcp::resolver resolver(ioc_);
      boost::asio::connect(ws_.next_layer().socket(),
                           resolver.resolve("127.0.0.1", std::to_string(s.port())));
      ws_.next_layer().expires_after(std::chrono::seconds(60));
      ws_.handshake("localhost", "/model/" + id + "/download/progress");
    }
    json Next() {
      boost::beast::flat_buffer buf;
      ws_.next_layer().expires_after(std::chrono::seconds(60));
      ws_.read(buf);
      return json::parse(boost::beast::buffers_to_string(buf.data()));
    }
    // Frames until a final one (COMPLETED, FAILED, CANCELED), which is the last.
    std::vector<json> UntilFinal() {
      std::vector<json> frames;
      for (;;) {
        frames.push_back(Next());
        std::string st = frames.back().value("status", "");
        if (st == "COMPLETED" || st == "FAILED" || st == "CANCELED") return frames;
      }
    }

   private:
    boost::asio::io_context ioc_;
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  };

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  TestOrigin origin_;
};

TEST_F(PiecesApiTest, ACustomModelDownloadsThroughTheWebSocketLoadsAndUnloads) {
  const std::string data = RandomBytes(2 * kMiB, 1);
  origin_.Put("/m.gguf", {.content = data, .rate = 4 * kMiB});
  ServeChild s(data_);
  json model = Create(s, "My Model", "/m.gguf");
  const std::string id = model["id"];
  EXPECT_EQ(model["custom"], true);
  EXPECT_EQ(model["downloaded"], false);
  EXPECT_EQ(model["unique"], "My-Model:v1");

  // A socket opened before the download sees it from the start.
  Progress ws(s, id);
  EXPECT_EQ(ws.Next()["status"], "UNKNOWN") << "the state now, at once";
  auto started = Call(s, "POST", "/model/" + id + "/download");
  ASSERT_EQ(started.status, 200) << started.text;
  EXPECT_EQ(started.body["id"], id);
  auto frames = ws.UntilFinal();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames.front()["status"], "INITIALIZED");
  double last = 0;
  for (const auto& f : frames) {
    if (f["status"] != "IN-PROGRESS") continue;
    double pct = f["percentage"];
    EXPECT_GE(pct, last) << "never goes back";
    last = pct;
  }
  EXPECT_EQ(frames.back(), (json{{"status", "COMPLETED"}, {"percentage", 100.0}}));

  auto snap = Call(s, "GET", "/model/" + id);
  EXPECT_EQ(snap.body["downloaded"], true) << snap.text;
  EXPECT_EQ(snap.body["bytes"]["value"], data.size());
  // Downloading an installed model answers its Model at once.
  EXPECT_EQ(Call(s, "POST", "/model/" + id + "/download").body["downloaded"], true);
  // The plain GET of the progress path answers one ModelDownloadProgress.
  EXPECT_EQ(Call(s, "GET", "/model/" + id + "/download/progress").body["status"], "COMPLETED");

  auto loaded = Call(s, "POST", "/model/" + id + "/load");
  ASSERT_EQ(loaded.status, 200) << loaded.text;
  EXPECT_EQ(loaded.body["loaded"], true);
  auto resident = Call(s, "GET", "/loaded").body["models"];
  ASSERT_EQ(resident.size(), 1u);
  EXPECT_EQ(resident[0]["resident_bytes"], data.size());
  auto unloaded = Call(s, "POST", "/model/" + id + "/unload");
  EXPECT_EQ(unloaded.body["loaded"], false) << unloaded.text;
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());

  ASSERT_EQ(Call(s, "POST", "/model/" + id + "/load").status, 200);
  EXPECT_EQ(Call(s, "POST", "/models/unload").status, 200);
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
}

TEST_F(PiecesApiTest, ACancelledDownloadEndsInCanceled) {
  origin_.Put("/slow.gguf", {.content = RandomBytes(8 * kMiB, 2), .rate = 256 * 1024});
  ServeChild s(data_);
  const std::string id = Create(s, "slow", "/slow.gguf")["id"];
  Progress ws(s, id);
  ws.Next();
  ASSERT_EQ(Call(s, "POST", "/model/" + id + "/download").status, 200);
  // A second download while it runs joins it.
  auto again = Call(s, "POST", "/model/" + id + "/download");
  EXPECT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.body["downloading"], true);
  for (json f = ws.Next(); f["status"] != "IN-PROGRESS"; f = ws.Next()) {
  }
  auto cancelled = Call(s, "POST", "/model/" + id + "/download/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.text;
  EXPECT_EQ(cancelled.body["downloading"], false);
  EXPECT_EQ(cancelled.body["downloaded"], false);
  auto frames = ws.UntilFinal();
  EXPECT_EQ(frames.back()["status"], "CANCELED");
}

TEST_F(PiecesApiTest, EveryModelIsListedWithAStableId) {
  origin_.Put("/a.gguf", {.content = RandomBytes(kMiB, 3)});
  std::string id;
  {
    ServeChild s(data_);
    auto list = Call(s, "GET", "//models");  // a basePath ending in '/'
    ASSERT_EQ(list.status, 200) << list.text;
    ASSERT_TRUE(list.body["iterable"].is_array());
    bool catalog = false;
    for (const auto& m : list.body["iterable"]) catalog |= m["unique"] == "whisper-tiny:ggml";
    EXPECT_TRUE(catalog) << "catalog models are models too";
    id = Create(s, "a", "/a.gguf")["id"];
    Progress ws(s, id);
    ws.Next();
    ASSERT_EQ(Call(s, "POST", "/model/" + id + "/download").status, 200);
    ws.UntilFinal();
  }
  ServeChild s(data_);  // restarted on the same data dir
  auto snap = Call(s, "GET", "/model/" + id);
  ASSERT_EQ(snap.status, 200) << snap.text;
  EXPECT_EQ(snap.body["unique"], "a:v1");
  EXPECT_EQ(snap.body["downloaded"], true);
  // The reference works as well as the id.
  EXPECT_EQ(Call(s, "GET", "/model/a:v1").body["id"], id);
  // The generic API's listing is still there on the same path.
  auto both = Call(s, "GET", "/models");
  EXPECT_TRUE(both.body["models"].is_array()) << both.text;
  EXPECT_TRUE(both.body["iterable"].is_array());
}

TEST_F(PiecesApiTest, DeleteCacheKeepsTheEntryAndDeleteRemovesIt) {
  origin_.Put("/d.gguf", {.content = RandomBytes(kMiB, 4)});
  ServeChild s(data_);
  const std::string id = Create(s, "d", "/d.gguf")["id"];
  {
    Progress ws(s, id);
    ws.Next();
    ASSERT_EQ(Call(s, "POST", "/model/" + id + "/download").status, 200);
    ws.UntilFinal();
  }
  auto cache = Call(s, "POST", "/models/" + id + "/delete/cache");
  ASSERT_EQ(cache.status, 200) << cache.text;
  EXPECT_EQ(cache.body["model"]["id"], id);
  EXPECT_EQ(cache.body["model"]["reference"]["downloaded"], false);
  EXPECT_FALSE(fs::exists(data_ / "models" / "d" / "v1"));
  auto snap = Call(s, "GET", "/model/" + id);
  EXPECT_EQ(snap.status, 200) << "the entry stays";
  EXPECT_EQ(snap.body["custom"], true);
  {  // and downloads again
    Progress ws(s, id);
    ws.Next();
    ASSERT_EQ(Call(s, "POST", "/model/" + id + "/download").status, 200);
    EXPECT_EQ(ws.UntilFinal().back()["status"], "COMPLETED");
  }
  auto del = Call(s, "POST", "/models/" + id + "/delete");
  ASSERT_EQ(del.status, 200) << del.text;
  EXPECT_TRUE(del.body.is_object());
  EXPECT_EQ(Call(s, "GET", "/model/" + id).status, 410);
  EXPECT_FALSE(fs::exists(data_ / "models" / "d" / "v1"));
}

TEST_F(PiecesApiTest, OnlyCustomModelsChange) {
  origin_.Put("/u.gguf", {.content = "u"});
  ServeChild s(data_);
  json model = Create(s, "u", "/u.gguf");
  model["description"] = "changed";
  model["name"] = "Renamed";
  auto updated = Call(s, "POST", "/model/update", model.dump());
  ASSERT_EQ(updated.status, 200) << updated.text;
  EXPECT_EQ(updated.body["description"], "changed");
  EXPECT_EQ(updated.body["name"], "Renamed");
  EXPECT_EQ(updated.body["id"], model["id"]) << "its identity stays";

  json catalog = Call(s, "GET", "/model/whisper-tiny:ggml").body;
  ASSERT_TRUE(catalog.contains("id")) << catalog.dump();
  catalog["description"] = "mine now";
  auto refused = Call(s, "POST", "/model/update", catalog.dump());
  EXPECT_EQ(refused.status, 409) << refused.text;
  EXPECT_NE(refused.body.value("message", "").find("custom"), std::string::npos);
}

// Pieces' own listener (`--listen 127.0.0.1:1000=pieces`, here on port 0): only Pieces'
// routes, and the server's own errors in Pieces' shape.
TEST_F(PiecesApiTest, APiecesOnlyListenerSpeaksOnlyPieces) {
  ServeChild s(data_, {"--listen", "127.0.0.1:0=pieces"});
  const std::string log = s.Log();
  const size_t at = log.find(", 127.0.0.1:", log.find("listening on"));
  ASSERT_NE(at, std::string::npos) << log;
  const std::string base = "http://127.0.0.1:" + std::to_string(std::atoi(log.c_str() + at + 12));
  auto models = HttpCall("GET", base + "/models");
  json list = json::parse(models.body, nullptr, false);
  EXPECT_TRUE(list["iterable"].is_array()) << models.body;
  EXPECT_FALSE(list.contains("models")) << "not the generic API's listing";
  auto generic = HttpCall("GET", base + "/model-download");
  EXPECT_EQ(generic.status, 404);
  EXPECT_EQ(json::parse(generic.body, nullptr, false)["status"], 404) << generic.body;
  EXPECT_EQ(HttpCall("GET", base + "/.well-known/health").body, "ok");
}

TEST_F(PiecesApiTest, ErrorsAreInPiecesShapeWithTheRightStatus) {
  ServeChild s(data_);
  const std::string unknown = "/model/00000000-0000-4000-8000-000000000000";
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", unknown},
           {"POST", unknown + "/download"},
           {"POST", unknown + "/download/cancel"},
           {"POST", unknown + "/load"},
           {"POST", unknown + "/unload"},
           {"GET", unknown + "/download/progress"},
           {"POST", "/models/00000000-0000-4000-8000-000000000000/delete"},
           {"POST", "/models/00000000-0000-4000-8000-000000000000/delete/cache"}}) {
    auto r = Call(s, method, path);
    EXPECT_EQ(r.status, 410) << method << " " << path << ": " << r.text;
    EXPECT_EQ(r.body["status"], 410);
    EXPECT_FALSE(r.body.value("message", "").empty());
  }
  // A SeededModel without a name, with a bad enum, or twice.
  EXPECT_EQ(Call(s, "POST", "/models/create", R"({"version": "v1"})").status, 400);
  // Bytes that are not UTF-8, which the parse error quotes: a 400 whose JSON says so (a
  // writer that throws on them answered 500).
  auto bad_utf8 = Call(s, "POST", "/models/create", "{}\xff\xff\xff\xff");
  EXPECT_EQ(bad_utf8.status, 400) << bad_utf8.text;
  EXPECT_NE(bad_utf8.body.value("message", "").find("Invalid JSON body"), std::string::npos)
      << bad_utf8.text;
  EXPECT_EQ(
      Call(s, "POST", "/models/create", R"({"name": "x", "version": "v1", "type": "X"})").status,
      400);
  EXPECT_EQ(Call(s, "POST", "/models/create", R"({"name": "x", "version": "v1",
                 "unique": "ftp://x/y"})")
                .status,
            400);
  origin_.Put("/x.gguf", {.content = "x"});
  Create(s, "x", "/x.gguf");
  auto twice =
      Call(s, "POST", "/models/create",
           json{{"name", "x"}, {"version", "v1"}, {"unique", origin_.Url("/x.gguf")}}.dump());
  EXPECT_EQ(twice.status, 409) << twice.text;
  // Loading a model that is not downloaded: a conflict, not "gone".
  auto load = Call(s, "POST", "/model/x:v1/load");
  EXPECT_EQ(load.status, 409) << load.text;
  EXPECT_EQ(Call(s, "POST", "/model/update", "{}").status, 400);
  // A download whose upstream is missing fails the job; the WebSocket says FAILED.
  json missing = Create(s, "gone", "/nothing-here.gguf");
  Progress ws(s, missing["id"]);
  ws.Next();
  auto started = Call(s, "POST", "/model/" + missing["id"].get<std::string>() + "/download");
  if (started.status == 200) {
    EXPECT_EQ(ws.UntilFinal().back()["status"], "FAILED");
  } else {
    EXPECT_EQ(started.status, 410) << "refused up front: " << started.text;
  }
  auto health = HttpCall("GET", s.base() + "/.well-known/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");
}

}  // namespace
}  // namespace modeld::testing
