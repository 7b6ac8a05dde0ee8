#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "http_client.h"
#include "tcp_relay.h"

namespace modeld::api {
namespace {

using modeld::testing::HttpCall;
using modeld::testing::RawHttp;

// A file whose bytes arrive when the test says (as a mirror's download lands): none are
// readable until Release. Its destruction is seen through |gone|.
class HeldSource : public FileSource {
 public:
  HeldSource(const std::string& bytes, std::shared_ptr<std::promise<void>> gone)
      : fd_(::memfd_create("held", MFD_CLOEXEC)), size_(bytes.size()), gone_(std::move(gone)) {
    EXPECT_EQ(::write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  ~HeldSource() override {
    ::close(fd_);
    gone_->set_value();
  }
  int fd() const override { return fd_; }
  uint64_t size() const override { return size_; }
  uint64_t Readable(uint64_t offset, uint64_t end) override {
    std::lock_guard<std::mutex> lock(mu_);
    return released_ && end > offset ? end - offset : 0;
  }
  void WhenReadable(uint64_t, uint64_t, std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!released_) {
        waiters_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }
  bool failed() const override { return false; }
  void Release() {
    std::vector<std::function<void()>> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
      waiters.swap(waiters_);
    }
    for (auto& fn : waiters) fn();
  }

 private:
  int fd_;
  uint64_t size_;
  std::shared_ptr<std::promise<void>> gone_;
  std::mutex mu_;
  bool released_ = false;                       // GUARDED_BY(mu_)
  std::vector<std::function<void()>> waiters_;  // GUARDED_BY(mu_)
};

struct Hooks {
  std::promise<Responder>* parked = nullptr;
  std::atomic<int> deletes{0};
  std::promise<void> slow_started;
  std::shared_future<void> slow_release;
  // GET /held: the file's bytes, and the source the last request got.
  std::string held_bytes = "held file bytes";
  std::shared_ptr<std::promise<void>> held_gone = std::make_shared<std::promise<void>>();
  std::weak_ptr<HeldSource> held;
};

std::vector<Route> TestRoutes(Hooks* hooks = nullptr) {
  std::vector<Route> routes;
  routes.push_back({http::verb::get, "/healthz", "test",
                    [](const Request&, const Params&, Responder r) {
                      r(JsonResponse(http::status::ok, "{\"status\":\"ok\"}"));
                    },
                    nullptr, StreamKind::kSse, Lane::kInline, true});
  routes.push_back({http::verb::get, "/items/:id/detail", "test",
                    [](const Request&, const Params& p, Responder r) {
                      r(JsonResponse(http::status::ok, "{\"id\":\"" + p.Path("id") + "\",\"q\":\"" +
                                                           p.Query("q") + "\"}"));
                    }});
  routes.push_back(
      {http::verb::get, "/models/*name", "test", [](const Request&, const Params& p, Responder r) {
         r(JsonResponse(http::status::ok, "{\"name\":\"" + p.Path("name") + "\"}"));
       }});
  routes.push_back(
      {http::verb::post, "/echo", "test", [](const Request& req, const Params&, Responder r) {
         r(JsonResponse(http::status::ok, req.body().empty() ? "{}" : req.body()));
       }});
  // A route that reads forms too (the Hub's paths-info): it answers the body's type.
  Route form{
      http::verb::post, "/form", "test", [](const Request& req, const Params&, Responder r) {
        r(JsonResponse(http::status::ok,
                       "{\"type\":\"" + std::string(req[http::field::content_type]) + "\"}"));
      }};
  form.form_body = true;
  routes.push_back(std::move(form));
  routes.push_back({http::verb::delete_, "/models/*name", "test",
                    [hooks](const Request&, const Params&, Responder r) {
                      if (hooks) ++hooks->deletes;
                      r(JsonResponse(http::status::ok, "{\"deleted\":true}"));
                    }});
  routes.push_back(
      {http::verb::get, "/later", "test", [hooks](const Request&, const Params&, Responder r) {
         if (hooks && hooks->parked) hooks->parked->set_value(r);  // answered by the test
       }});
  // A handler that blocks its thread (a removal of 100,000 files, say): on a pool lane.
  routes.push_back({http::verb::get, "/slow", "test",
                    [hooks](const Request&, const Params&, Responder r) {
                      hooks->slow_started.set_value();
                      hooks->slow_release.wait();
                      r(JsonResponse(http::status::ok, "{\"slow\":true}"));
                    },
                    nullptr, StreamKind::kSse, Lane::kStore});
  Route held{http::verb::get, "/held", "test", nullptr};
  held.file_handler = [hooks](const Request&, const Params&, FileResponder respond) {
    auto source = std::make_shared<HeldSource>(hooks->held_bytes, hooks->held_gone);
    hooks->held = source;
    FileReply reply{Response(http::status::ok, 11), source, 0, hooks->held_bytes.size()};
    respond(std::move(reply));
  };
  routes.push_back(std::move(held));
  routes.push_back({http::verb::get, "/events", "test", nullptr,
                    [](const Request&, const Params&, StreamReply& reply) {
                      auto s = reply.Start();
                      s->Send("", "data: hello\n\n");
                      s->Close();
                    }});
  return routes;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions opts, Hooks* hooks = nullptr) {
    opts.listen = {"127.0.0.1:0"};
    opts.access_log = false;
    server_ = std::make_unique<HttpServer>(opts, TestRoutes(hooks));
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->ports().at(0);
    base_ = "http://127.0.0.1:" + std::to_string(port_);
  }
  // The status code of the first response in |raw|, or 0.
  static int StatusOf(const std::string& raw) {
    if (raw.rfind("HTTP/1.1 ", 0) != 0) return 0;
    return std::atoi(raw.c_str() + 9);
  }
  static int CountResponses(const std::string& raw) {
    int n = 0;
    for (size_t pos = 0; (pos = raw.find("HTTP/1.1 ", pos)) != std::string::npos; pos += 9) ++n;
    return n;
  }
  std::string Host() const { return "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n"; }
  // A connection that has asked for GET /held; -1 if it could not.
  int OpenHeldFile() const {
    int fd = modeld::testing::ConnectTcp("127.0.0.1", port_);
    std::string req = "GET /held HTTP/1.1\r\n" + Host() + "\r\n";
    if (fd >= 0 && !modeld::testing::SendAll(fd, req.data(), req.size())) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::string base_;
};

TEST_F(HttpServerTest, RoutesWithParamsAndJsonErrors) {
  Start({});
  auto r = HttpCall("GET", base_ + "/items/42/detail?q=a%20b");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"id\":\"42\",\"q\":\"a b\"}");
  EXPECT_TRUE(r.HasHeader("Content-Type: application/json"));
  r = HttpCall("GET", base_ + "/models/Qwen/Qwen2.5-0.5B");
  EXPECT_EQ(r.body, "{\"name\":\"Qwen/Qwen2.5-0.5B\"}") << "a catch-all keeps the slash";
  r = HttpCall("GET", base_ + "//items//7/detail");
  EXPECT_EQ(r.status, 200) << "a doubled slash is tolerated";
  r = HttpCall("GET", base_ + "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"detail\":\"Not Found\"}");
  r = HttpCall("PUT", base_ + "/echo", "{}", {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 405);
  r = HttpCall("POST", base_ + "/echo", "{\"a\":1}", {"Content-Type: application/json"});
  EXPECT_EQ(r.body, "{\"a\":1}");
}

TEST_F(HttpServerTest, KeepAliveReusesTheConnection) {
  Start({});
  CURL* h = curl_easy_init();
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz", "", {}, h).status, 200);
  EXPECT_EQ(HttpCall("GET", base_ + "/nope", "", {}, h).status, 404);
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz", "", {}, h).status, 200);
  long connects = -1;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0) << "later requests used the same connection, a 404 included";
  curl_easy_cleanup(h);
}

TEST_F(HttpServerTest, BearerTokenGuardsEveryRouteButPublicOnes) {
  ServerOptions opts;
  opts.token = "s3cret";
  Start(opts);
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz").status, 200);
  auto r = HttpCall("POST", base_ + "/echo", "{}", {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(r.HasHeader("WWW-Authenticate: Bearer"));
  EXPECT_EQ(HttpCall("GET", base_ + "/nope").status, 401) << "unknown paths reveal nothing";
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}",
                     {"Content-Type: application/json", "Authorization: Bearer wrong"})
                .status,
            401);
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}",
                     {"Content-Type: application/json", "Authorization: Bearer s3cret"})
                .status,
            200);
  EXPECT_EQ(HttpCall("GET", base_ + "/events").status, 401);
  EXPECT_EQ(HttpCall("GET", base_ + "/events?token=s3cret").status, 200) << "streams take ?token=";
  EXPECT_EQ(HttpCall("GET", base_ + "/items/1/detail?token=s3cret").status, 401)
      << "only streams take the token in the URL";
}

// DNS rebinding: a page at http://evil.example:PORT whose name now resolves to 127.0.0.1.
TEST_F(HttpServerTest, ForeignHostNamesAreRefused) {
  ServerOptions opts;
  opts.allowed_hosts = {"models.lan"};
  Hooks hooks;
  Start(opts, &hooks);
  std::string port = std::to_string(port_);
  auto r = HttpCall("GET", base_ + "/items/1/detail", "", {"Host: evil.example:" + port});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("--allowed-host"), std::string::npos) << r.body;
  EXPECT_EQ(HttpCall("DELETE", base_ + "/models/m", "", {"Host: evil.example"}).status, 403);
  EXPECT_EQ(HttpCall("GET", base_ + "/events", "", {"Host: evil.example"}).status, 403);
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz", "", {"Host: evil.example"}).status, 403);
  EXPECT_EQ(hooks.deletes, 0);
  EXPECT_EQ(HttpCall("GET", base_ + "/items/1/detail", "", {"Host: localhost:" + port}).status,
            200);
  EXPECT_EQ(HttpCall("GET", base_ + "/items/1/detail", "", {"Host: LOCALHOST"}).status, 200);
  EXPECT_EQ(HttpCall("GET", base_ + "/items/1/detail", "", {"Host: models.lan:" + port}).status,
            200);
  EXPECT_EQ(HttpCall("GET", base_ + "/items/1/detail", "", {"Host: 127.0.0.2:" + port}).status, 403)
      << "an address it does not listen on";
  EXPECT_EQ(HttpCall("GET", base_ + "/items/1/detail", "", {"Host: localhost.evil.example"}).status,
            403);
  // The WebSocket handshake and SSE streams are requests like the others.
  std::string ws = RawHttp(port_,
                           "GET /events HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(StatusOf(ws), 403);
}

// A page on another site can send simple requests (no preflight) from the user's browser.
TEST_F(HttpServerTest, CrossSiteRequestsCannotChangeAnything) {
  ServerOptions opts;
  opts.allowed_origins = {"http://localhost:5173"};
  Hooks hooks;
  Start(opts, &hooks);
  const std::string own = "Origin: http://127.0.0.1:" + std::to_string(port_);
  // A form or text/plain POST: refused on its Origin, and on its type without one.
  auto r = HttpCall("POST", base_ + "/echo", "{\"a\":1}",
                    {"Origin: https://evil.example", "Content-Type: text/plain"});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("--allowed-origin"), std::string::npos) << r.body;
  r = HttpCall("POST", base_ + "/echo", "a=1", {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("application/json"), std::string::npos);
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}", {"Content-Type: text/plain"}).status, 415);
  EXPECT_EQ(HttpCall("DELETE", base_ + "/models/m", "", {"Origin: https://evil.example"}).status,
            403);
  EXPECT_EQ(HttpCall("DELETE", base_ + "/models/m", "", {"Origin: null"}).status, 403);
  EXPECT_EQ(hooks.deletes, 0);
  EXPECT_EQ(HttpCall("GET", base_ + "/events", "", {"Origin: https://evil.example"}).status, 403)
      << "an EventSource from another site";
  // Reading is allowed (it changes nothing) but the answer carries no CORS header, so a
  // page cannot read it.
  r = HttpCall("GET", base_ + "/items/1/detail", "", {"Origin: https://evil.example"});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.HasHeader("Access-Control-Allow-Origin"));
  // modeld's own pages, and the configured origin, may do all of it.
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}", {own, "Content-Type: application/json"}).status,
            200);
  EXPECT_EQ(HttpCall("DELETE", base_ + "/models/m", "", {own}).status, 200);
  r = HttpCall("POST", base_ + "/echo", "{}",
               {"Origin: http://localhost:5173", "Content-Type: application/json; charset=utf-8"});
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.HasHeader("Access-Control-Allow-Origin: http://localhost:5173"));
  EXPECT_TRUE(r.HasHeader("Vary: Origin"));
  EXPECT_EQ(hooks.deletes, 1);
  // No body, no type needed (the Pieces client posts like this).
  EXPECT_EQ(HttpCall("POST", base_ + "/echo").status, 200);
}

// A route that reads forms (Route::form_body) takes one without an Origin, as a
// program posts it, but a page on another site still cannot send it; other types stay 415.
TEST_F(HttpServerTest, AFormRouteTakesFormsButNotFromOtherSites) {
  Start(ServerOptions{});
  const std::string form = "Content-Type: application/x-www-form-urlencoded";
  auto r = HttpCall("POST", base_ + "/form", "paths=a&expand=True", {form});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("x-www-form-urlencoded"), std::string::npos);
  EXPECT_EQ(HttpCall("POST", base_ + "/form", "{}", {"Content-Type: application/json"}).status,
            200);
  EXPECT_EQ(HttpCall("POST", base_ + "/form", "a", {"Content-Type: text/plain"}).status, 415);
  EXPECT_EQ(
      HttpCall("POST", base_ + "/form", "paths=a", {form, "Origin: https://evil.example"}).status,
      403);
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "a=1", {form}).status, 415) << "only where asked";
}

TEST_F(HttpServerTest, PreflightOnlyForConfiguredOrigins) {
  ServerOptions opts;
  opts.token = "t";
  opts.allowed_origins = {"http://app.local:3000"};
  Start(opts);
  auto pre = HttpCall("OPTIONS", base_ + "/echo", "",
                      {"Origin: http://app.local:3000", "Access-Control-Request-Method: POST",
                       "Access-Control-Request-Private-Network: true"});
  EXPECT_EQ(pre.status, 204) << "preflight needs no token";
  EXPECT_TRUE(pre.HasHeader("Access-Control-Allow-Origin: http://app.local:3000"));
  EXPECT_TRUE(pre.HasHeader("Access-Control-Allow-Headers: Authorization, Content-Type"));
  EXPECT_TRUE(pre.HasHeader("Access-Control-Allow-Private-Network: true"));
  pre = HttpCall("OPTIONS", base_ + "/echo", "",
                 {"Origin: http://evil.example", "Access-Control-Request-Method: DELETE"});
  EXPECT_EQ(pre.status, 403);
  EXPECT_FALSE(pre.HasHeader("Access-Control-Allow-Origin"));
  auto r = HttpCall("GET", base_ + "/healthz", "", {"Origin: http://evil.example"});
  EXPECT_FALSE(r.HasHeader("Access-Control-Allow-Origin")) << "never *";
}

// A body a proxy would frame one way and modeld another was run as a second request.
TEST_F(HttpServerTest, SmugglingAttemptsAre400AndClose) {
  Hooks hooks;
  Start({}, &hooks);
  const std::string smuggled = "DELETE /models/victim HTTP/1.1\r\n" + Host() + "\r\n";
  for (std::string te : {"chunked", "identity", "gzip", "x-chunked", "chunked, identity"}) {
    std::string body = "0\r\n\r\n" + smuggled;
    std::string raw = RawHttp(port_, "POST /echo HTTP/1.1\r\n" + Host() +
                                         "Content-Type: application/json\r\nContent-Length: " +
                                         std::to_string(body.size()) +
                                         "\r\nTransfer-Encoding: " + te + "\r\n\r\n" + body);
    EXPECT_EQ(StatusOf(raw), 400) << te << ": " << raw;
    EXPECT_EQ(CountResponses(raw), 1) << te;
    EXPECT_NE(raw.find("Connection: close"), std::string::npos) << te;
    // TE alone, other than chunked: the body's length is unknown. (Chunked alone is a
    // well-framed body, and what follows it a pipelined request like any other.)
    if (te == "chunked") continue;
    raw = RawHttp(port_, "POST /echo HTTP/1.1\r\n" + Host() +
                             "Content-Type: application/json\r\n"
                             "Transfer-Encoding: " +
                             te + "\r\n\r\n0\r\n\r\n" + smuggled);
    EXPECT_EQ(StatusOf(raw), 400) << "TE " << te << " alone: " << raw;
    EXPECT_EQ(CountResponses(raw), 1) << te;
  }
  // Content-Length first, then Transfer-Encoding (Beast's own check), and two lengths.
  std::string raw = RawHttp(
      port_, "POST /echo HTTP/1.1\r\n" + Host() +
                 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled);
  EXPECT_EQ(StatusOf(raw), 400) << raw;
  raw = RawHttp(
      port_,
      "POST /echo HTTP/1.1\r\n" + Host() +
          "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}" +
          smuggled);
  EXPECT_EQ(StatusOf(raw), 400) << "duplicate Content-Length: " << raw;
  EXPECT_EQ(CountResponses(raw), 1);
  EXPECT_EQ(hooks.deletes, 0) << "no smuggled request ran";
}

TEST_F(HttpServerTest, FramingErrorsAre400BeforeClosing) {
  Start({});
  for (std::string bad : {
           std::string("POST /echo HTTP/1.1\r\n") + "Content-Length: -1\r\n\r\n",
           std::string("POST /echo HTTP/1.1\r\n") +
               "Content-Length: 99999999999999999999999\r\n\r\n",
           std::string("POST /echo HTTP/1.1\r\nContent-Type: application/json\r\n") +
               "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
           std::string("POST /echo HTTP/1.1\r\nContent-Type: application/json\r\n") +
               "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n",
           std::string("GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"),
           std::string("GET /healthz HTTP/9.9\r\n\r\n"),
       }) {
    std::string raw = RawHttp(port_, bad);
    EXPECT_EQ(StatusOf(raw), 400) << bad << "\n--> " << raw;
  }
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413EvenWithoutExpect) {
  ServerOptions opts;
  opts.body_limit = 1024;
  Start(opts);
  // The client sends the whole body before reading (as Python's requests does).
  std::string body(256 * 1024, 'x');
  std::string raw = RawHttp(port_, "POST /echo HTTP/1.1\r\n" + Host() +
                                       "Content-Type: application/json\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(StatusOf(raw), 413) << raw.substr(0, 200);
  EXPECT_NE(raw.find("too large"), std::string::npos);
  // Chunked, with no length up front: answered once the limit is passed.
  std::string chunks;
  for (int i = 0; i < 64; ++i) chunks += "400\r\n" + std::string(1024, 'y') + "\r\n";
  raw = RawHttp(port_, "POST /echo HTTP/1.1\r\n" + Host() +
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           chunks + "0\r\n\r\n");
  EXPECT_EQ(StatusOf(raw), 413) << raw.substr(0, 200);
  auto r =
      HttpCall("POST", base_ + "/echo", std::string(4096, 'x'), {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}", {"Content-Type: application/json"}).status, 200)
      << "the server is fine after";
}

TEST_F(HttpServerTest, ABlockingHandlerNeverHoldsUpTheIoThread) {
  Hooks hooks;
  std::promise<void> release;
  hooks.slow_release = release.get_future().share();
  ServerOptions opts;
  opts.threads = 1;  // one I/O thread: a handler blocking it would stop everything
  Start(opts, &hooks);
  auto slow = std::async(std::launch::async, [&] { return HttpCall("GET", base_ + "/slow"); });
  hooks.slow_started.get_future().wait();
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz", "", {}, nullptr, 5).status, 200);
  EXPECT_EQ(HttpCall("GET", base_ + "/items/3/detail", "", {}, nullptr, 5).status, 200);
  release.set_value();
  EXPECT_EQ(slow.get().status, 200);
}

TEST_F(HttpServerTest, ConnectionsPastTheCapGetA503AndHealthzStillAnswers) {
  ServerOptions opts;
  opts.max_connections = 3;
  Start(opts);
  EXPECT_EQ(server_->max_connections(), 3);
  std::vector<CURL*> held;
  for (int i = 0; i < 3; ++i) {  // three keep-alive connections, left open
    CURL* h = curl_easy_init();
    ASSERT_EQ(HttpCall("GET", base_ + "/items/1/detail", "", {}, h).status, 200);
    held.push_back(h);
  }
  auto r = HttpCall("GET", base_ + "/items/1/detail");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("Too many connections (limit 3)"), std::string::npos) << r.body;
  EXPECT_TRUE(r.HasHeader("Retry-After: 1"));
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz").status, 200) << "health checks still answer";
  curl_easy_cleanup(held.back());
  held.pop_back();
  // The slot frees when the server sees the close: the next request gets through.
  bool ok = false;
  for (int i = 0; i < 200 && !ok; ++i)
    ok = HttpCall("GET", base_ + "/items/1/detail").status == 200;
  EXPECT_TRUE(ok);
  for (CURL* h : held) curl_easy_cleanup(h);
}

// Reads from |fd| until |what| has arrived; what came.
std::string ReadUntil(int fd, const std::string& what) {
  std::string got;
  char buf[4096];
  while (got.find(what) == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// A client that hangs up while the file's bytes are still to come is let go at once (its
// connection, and the file it held open), not when the bytes land.
TEST_F(HttpServerTest, AClientThatHangsUpWhileAFileIsArrivingIsLetGoAtOnce) {
  Hooks hooks;
  Start({}, &hooks);
  int fd = OpenHeldFile();
  ASSERT_GE(fd, 0);
  std::string head = ReadUntil(fd, "\r\n\r\n");
  EXPECT_EQ(StatusOf(head), 200) << head;
  ::close(fd);
  EXPECT_EQ(hooks.held_gone->get_future().wait_for(std::chrono::seconds(20)),
            std::future_status::ready)
      << "the server still holds the file of a client that went away";
}

// A request sent behind a file's (pipelining) while the file's bytes are still to come
// is not taken for a hang-up: both are answered once the bytes land.
TEST_F(HttpServerTest, ARequestPipelinedBehindAnArrivingFileIsAnsweredAfterIt) {
  Hooks hooks;
  Start({}, &hooks);
  int fd = OpenHeldFile();
  ASSERT_GE(fd, 0);
  std::string got = ReadUntil(fd, "\r\n\r\n");
  std::string second = "GET /healthz HTTP/1.1\r\n" + Host() + "Connection: close\r\n\r\n";
  ASSERT_TRUE(modeld::testing::SendAll(fd, second.data(), second.size()));
  // Nothing more comes until the file's bytes do.
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 200), 0) << "answered before the file's bytes arrived";
  auto source = hooks.held.lock();
  ASSERT_TRUE(source);
  source->Release();
  source.reset();
  got += ReadUntil(fd, "\"status\":\"ok\"}");
  ::close(fd);
  EXPECT_EQ(CountResponses(got), 2) << got;
  EXPECT_NE(got.find(hooks.held_bytes + "HTTP/1.1 200"), std::string::npos) << got;
}

TEST_F(HttpServerTest, HandlersMayAnswerLaterAndStopWaitsForThem) {
  std::promise<Responder> parked;
  auto responder = parked.get_future();
  Hooks hooks;
  hooks.parked = &parked;
  Start({}, &hooks);
  auto call = std::async(std::launch::async, [&] { return HttpCall("GET", base_ + "/later"); });
  Responder r = responder.get();  // the request is being handled
  std::thread stopper([&] { server_->Stop(std::chrono::seconds(10)); });
  r(JsonResponse(http::status::ok, "{\"late\":true}"));
  auto reply = call.get();
  stopper.join();
  EXPECT_EQ(reply.status, 200) << "a response in flight finishes during a graceful stop";
  EXPECT_EQ(reply.body, "{\"late\":true}");
}

TEST_F(HttpServerTest, SilentConnectionsAreClosedAfterTheHeaderTimeout) {
  ServerOptions opts;
  opts.header_timeout = std::chrono::seconds(1);
  Start(opts);
  auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  std::string raw = RawHttp(port_, "GET /heal", 10000, &timed_out);  // never completes
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(raw, "") << "closed, not answered";
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(10));
}

TEST(HttpServerListenTest, RefusesBadAddressesAndListensOnSeveral) {
  HttpServer bad({.listen = {"nonsense"}}, std::vector<Route>{});
  EXPECT_EQ(bad.Start().code(), Status::Code::kInvalidArgument);
  HttpServer bad_port({.listen = {"127.0.0.1:99999"}}, std::vector<Route>{});
  EXPECT_EQ(bad_port.Start().code(), Status::Code::kInvalidArgument);
  HttpServer two({.listen = {"127.0.0.1:0", "127.0.0.2:0"}, .access_log = false}, TestRoutes());
  ASSERT_TRUE(two.Start().ok());
  auto ports = two.ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(HttpCall("GET", "http://127.0.0.2:" + std::to_string(ports[1]) + "/healthz").status,
            200);
  HttpServer v6({.listen = {"[::1]:0"}, .access_log = false}, TestRoutes());
  if (v6.Start().ok()) {
    EXPECT_EQ(HttpCall("GET", "http://[::1]:" + std::to_string(v6.ports()[0]) + "/healthz").status,
              200);
    EXPECT_EQ(v6.bound()[0].rfind("[::1]:", 0), 0u);
  }
}

}  // namespace
}  // namespace modeld::api
