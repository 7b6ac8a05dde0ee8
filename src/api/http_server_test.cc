#include "api/http_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <future>
#include <thread>

#include "http_client.h"

namespace modeld::api {
namespace {

using modeld::testing::HttpCall;

std::vector<Route> TestRoutes(std::promise<Responder>* parked = nullptr) {
  std::vector<Route> routes;
  routes.push_back({http::verb::get, "/healthz", [](const Request&, const Params&, Responder r) {
                      r(JsonResponse(http::status::ok, "{\"status\":\"ok\"}"));
                    }});
  routes.push_back({http::verb::get, "/items/:id/detail",
                    [](const Request&, const Params& p, Responder r) {
                      r(JsonResponse(http::status::ok, "{\"id\":\"" + p.path.at("id") + "\",\"q\":\"" +
                                                           p.Query("q") + "\"}"));
                    }});
  routes.push_back({http::verb::get, "/models/*name", [](const Request&, const Params& p, Responder r) {
                      r(JsonResponse(http::status::ok, "{\"name\":\"" + p.path.at("name") + "\"}"));
                    }});
  routes.push_back({http::verb::post, "/echo", [](const Request& req, const Params&, Responder r) {
                      r(JsonResponse(http::status::ok, req.body()));
                    }});
  routes.push_back({http::verb::get, "/later", [parked](const Request&, const Params&, Responder r) {
                      if (parked) parked->set_value(r);  // answered by the test, from its thread
                    }});
  return routes;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions opts, std::promise<Responder>* parked = nullptr) {
    opts.listen = {"127.0.0.1:0"};
    opts.access_log = false;
    server_ = std::make_unique<HttpServer>(opts, TestRoutes(parked));
    ASSERT_TRUE(server_->Start().ok());
    base_ = "http://127.0.0.1:" + std::to_string(server_->ports().at(0));
  }
  std::unique_ptr<HttpServer> server_;
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
  r = HttpCall("GET", base_ + "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"detail\": \"Not Found\"}");
  r = HttpCall("DELETE", base_ + "/echo");
  EXPECT_EQ(r.status, 405);
  r = HttpCall("POST", base_ + "/echo", "{\"a\":1}", {"Content-Type: application/json"});
  EXPECT_EQ(r.body, "{\"a\":1}");
}

TEST_F(HttpServerTest, KeepAliveReusesTheConnection) {
  Start({});
  CURL* h = curl_easy_init();
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz", "", {}, h).status, 200);
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz", "", {}, h).status, 200);
  long connects = -1;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0) << "the second request used the same connection";
  curl_easy_cleanup(h);
}

TEST_F(HttpServerTest, BearerTokenGuardsAllButHealthz) {
  ServerOptions opts;
  opts.token = "s3cret";
  Start(opts);
  EXPECT_EQ(HttpCall("GET", base_ + "/healthz").status, 200);
  auto r = HttpCall("POST", base_ + "/echo", "{}");
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(r.HasHeader("WWW-Authenticate: Bearer"));
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "{}", {"Authorization: Bearer s3cret"}).status, 200);
}

TEST_F(HttpServerTest, CorsForBrowsers) {
  ServerOptions opts;
  opts.token = "t";
  Start(opts);
  auto pre = HttpCall("OPTIONS", base_ + "/echo", "", {"Origin: http://app.local",
                                                        "Access-Control-Request-Method: POST"});
  EXPECT_EQ(pre.status, 204) << "preflight needs no token";
  EXPECT_TRUE(pre.HasHeader("Access-Control-Allow-Headers: Authorization, Content-Type"));
  auto r = HttpCall("GET", base_ + "/healthz");
  EXPECT_TRUE(r.HasHeader("Access-Control-Allow-Origin: *"));
}

TEST_F(HttpServerTest, BodyLimitIs413) {
  ServerOptions opts;
  opts.body_limit = 1024;
  Start(opts);
  auto r = HttpCall("POST", base_ + "/echo", std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("too large"), std::string::npos);
  EXPECT_EQ(HttpCall("POST", base_ + "/echo", "small").status, 200) << "the server is fine after";
}

TEST_F(HttpServerTest, HandlersMayAnswerLaterAndStopWaitsForThem) {
  std::promise<Responder> parked;
  auto responder = parked.get_future();
  Start({}, &parked);
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
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->ports()[0]);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::send(fd, "GET /heal", 9, 0);  // a request that never completes
  auto start = std::chrono::steady_clock::now();
  char buf[64];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // blocks until the server hangs up
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LE(n, 0) << "closed, not answered";
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(10));
  ::close(fd);
}

TEST(HttpServerListenTest, RefusesBadAddressesAndListensOnSeveral) {
  HttpServer bad({.listen = {"nonsense"}}, {});
  EXPECT_EQ(bad.Start().code(), Status::Code::kInvalidArgument);
  HttpServer two({.listen = {"127.0.0.1:0", "127.0.0.2:0"}, .access_log = false}, TestRoutes());
  ASSERT_TRUE(two.Start().ok());
  auto ports = two.ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(HttpCall("GET", "http://127.0.0.2:" + std::to_string(ports[1]) + "/healthz").status, 200);
  HttpServer v6({.listen = {"[::1]:0"}, .access_log = false}, TestRoutes());
  if (v6.Start().ok()) {
    EXPECT_EQ(HttpCall("GET", "http://[::1]:" + std::to_string(v6.ports()[0]) + "/healthz").status, 200);
    EXPECT_EQ(v6.bound()[0].rfind("[::1]:", 0), 0u);
  }
}

}  // namespace
}  // namespace modeld::api
