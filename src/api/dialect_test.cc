#include "api/dialect.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "api/http_server.h"
#include "http_client.h"

namespace modeld::api {
namespace {

using modeld::testing::HttpCall;
using modeld::testing::RawHttp;
using nlohmann::json;

Response Json(const json& j) { return JsonResponse(http::status::ok, j.dump()); }

// Two small dialects that share a path, as the generic API and Pieces share GET /models.
Dialect Alpha() {
  Dialect d;
  d.name = "alpha";
  d.routes.push_back(
      {http::verb::get, "/models", "test", [](const Request&, const Params&, Responder r) {
         r(Json({{"models", {1, 2}}, {"shared", "alpha"}}));
       }});
  d.routes.push_back(
      {http::verb::get, "/items/:id", "test", [](const Request&, const Params& p, Responder r) {
         r(Json({{"alpha_id", p.Path("id")}}));
       }});
  d.routes.push_back({http::verb::post, "/pull", "test", nullptr,
                      [](const Request&, const Params& p, StreamReply& reply) {
                        if (p.Query("bad") == "1") {
                          return reply.Reject(
                              JsonResponse(http::status::bad_request, "{\"error\":\"bad\"}"));
                        }
                        auto s = reply.Start();
                        s->Send("", "{\"status\":\"pulling manifest\"}\n");
                        s->Send("", "{\"status\":\"success\"}\n");
                        s->Close();
                      },
                      StreamKind::kNdjson});
  return d;
}

Dialect Beta() {
  Dialect d;
  d.name = "beta";
  d.error_body = [](http::status s, const std::string& m) {
    return JsonResponse(s, json{{"error", {{"message", m}}}}.dump());
  };
  d.prefixes = {"", "/v1"};
  d.routes.push_back(
      {http::verb::get, "/models", "test", [](const Request&, const Params&, Responder r) {
         r(Json({{"iterable", json::array()}, {"shared", "beta"}}));
       }});
  d.routes.push_back(
      {http::verb::get, "/items/:item", "test", [](const Request&, const Params& p, Responder r) {
         r(Json({{"beta_item", p.Path("item")}}));
       }});
  // A WebSocket and a plain GET on one path (Pieces' download progress).
  d.routes.push_back({http::verb::get, "/progress", "test",
                      [](const Request&, const Params&, Responder r) {
                        r(Json({{"percent", 42}}));
                      },
                      [](const Request&, const Params&, StreamReply& reply) {
                        auto s = reply.Start();
                        s->Send("", "{\"percent\":42}");
                        s->Close();
                      },
                      StreamKind::kWebSocket});
  return d;
}

// The first dialect's "*rest" route must not hide a later dialect's more specific one
// (the generic API's POST /models/*name and Pieces' POST /models/unload on one port).
TEST(CombineRoutesTest, TheMostSpecificPatternComesFirst) {
  auto route = [](const std::string& pattern) {
    return Route{http::verb::post, pattern, "test",
                 [](const Request&, const Params&, Responder) {}};
  };
  Dialect first, second;
  first.routes = {route("/models/*name"), route("/models")};
  second.routes = {route("/models/:id/delete"), route("/models/unload"), route("/a/*rest"),
                   route("/a/:x")};
  std::vector<std::string> order;
  for (const Route& r : CombineRoutes({&first, &second})) order.push_back(r.pattern);
  EXPECT_EQ(order, (std::vector<std::string>{"/models", "/models/unload", "/a/:x",
                                             "/models/:id/delete", "/models/*name", "/a/*rest"}));
}

class DialectTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> listen) {
    ServerOptions opts;
    opts.listen = std::move(listen);
    opts.access_log = false;
    server_ = std::make_unique<HttpServer>(opts, std::vector<Dialect>{Alpha(), Beta()});
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::string Base(size_t i) const {
    return "http://127.0.0.1:" + std::to_string(server_->ports().at(i));
  }
  std::unique_ptr<HttpServer> server_;
};

TEST(ListenSpecTest, Parses) {
  auto a = ParseListenSpec("127.0.0.1:8000");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->address, "127.0.0.1:8000");
  EXPECT_TRUE(a->dialects.empty());
  auto b = ParseListenSpec("[::1]:11434=ollama,generic");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->address, "[::1]:11434");
  EXPECT_EQ(b->dialects, (std::vector<std::string>{"ollama", "generic"}));
  EXPECT_FALSE(ParseListenSpec("=x").has_value());
  EXPECT_FALSE(ParseListenSpec("127.0.0.1:1=a,,b").has_value());
  EXPECT_FALSE(ParseListenSpec("127.0.0.1:1=").has_value());
}

TEST(CompatTest, OpensEachSystemsPortUnlessTaken) {
  Dialect a = Alpha(), b = Beta(), c;
  a.compat_port = 8000;
  b.compat_port = 1337;
  c.name = "gamma";  // no port of its own
  EXPECT_EQ(CompatListens({a, b, c}, {"127.0.0.1:8000"}),
            (std::vector<std::string>{"127.0.0.1:1337=beta"}));
  EXPECT_EQ(CompatListens({a, b, c}, {"127.0.0.1:9000=alpha"}),
            (std::vector<std::string>{"127.0.0.1:8000=alpha", "127.0.0.1:1337=beta"}));
}

TEST_F(DialectTest, EachListenerSpeaksItsDialectsInTheirOwnErrorShape) {
  Start({"127.0.0.1:0=alpha", "127.0.0.1:0=beta", "127.0.0.1:0"});
  // alpha only.
  EXPECT_EQ(json::parse(HttpCall("GET", Base(0) + "/models").body),
            (json{{"models", {1, 2}}, {"shared", "alpha"}}));
  auto r = HttpCall("GET", Base(0) + "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body), (json{{"detail", "Not Found"}}));
  EXPECT_EQ(HttpCall("GET", Base(0) + "/v1/models").status, 404) << "alpha has no /v1";
  // beta only: its errors, its prefixes.
  r = HttpCall("GET", Base(1) + "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body), (json{{"error", {{"message", "Not Found"}}}}));
  EXPECT_EQ(json::parse(HttpCall("GET", Base(1) + "/v1/items/7").body), (json{{"beta_item", "7"}}));
  r = HttpCall("POST", Base(1) + "/models", "{}", {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(json::parse(r.body)["error"]["message"], "Method not allowed");
  EXPECT_EQ(HttpCall("POST", Base(1) + "/pull").status, 404)
      << "alpha's route is not on beta's port";
  // Both: colliding paths answer once with every dialect's keys, each handler seeing its
  // own parameter names; the first dialect wins a shared key.
  EXPECT_EQ(json::parse(HttpCall("GET", Base(2) + "/models").body),
            (json{{"models", {1, 2}}, {"iterable", json::array()}, {"shared", "alpha"}}));
  EXPECT_EQ(json::parse(HttpCall("GET", Base(2) + "/items/9").body),
            (json{{"alpha_id", "9"}, {"beta_item", "9"}}));
  EXPECT_EQ(json::parse(HttpCall("GET", Base(2) + "/v1/items/9").body), (json{{"beta_item", "9"}}));
}

TEST_F(DialectTest, AnUnknownDialectIsRefusedAtStart) {
  ServerOptions opts;
  opts.listen = {"127.0.0.1:0=gamma"};
  HttpServer s(opts, std::vector<Dialect>{Alpha(), Beta()});
  Status st = s.Start();
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("there are: alpha, beta"), std::string::npos) << st.message();
}

TEST_F(DialectTest, NdjsonStreamsAndPlainErrorsBeforeThem) {
  Start({"127.0.0.1:0"});
  auto r = HttpCall("POST", Base(0) + "/pull");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.HasHeader("Content-Type: application/x-ndjson"));
  EXPECT_EQ(r.body, "{\"status\":\"pulling manifest\"}\n{\"status\":\"success\"}\n");
  r = HttpCall("POST", Base(0) + "/pull?bad=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "{\"error\":\"bad\"}");
}

TEST_F(DialectTest, HeadAnswersEveryGetRoute) {
  Start({"127.0.0.1:0"});
  auto get = HttpCall("GET", Base(0) + "/items/5");
  auto head = HttpCall("HEAD", Base(0) + "/items/5");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_TRUE(head.HasHeader("Content-Length: " + std::to_string(get.body.size()))) << head.headers;
  EXPECT_EQ(HttpCall("HEAD", Base(0) + "/nope").status, 404);
  // The connection stays usable after a HEAD (no stray body bytes).
  std::string raw =
      RawHttp(server_->ports()[0],
              "HEAD /items/5 HTTP/1.1\r\nHost: localhost\r\n\r\n"
              "GET /items/6 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("\"beta_item\":\"6\""), std::string::npos) << raw;
}

TEST_F(DialectTest, OnePathServesAWebSocketAndAPlainGet) {
  Start({"127.0.0.1:0"});
  EXPECT_EQ(json::parse(HttpCall("GET", Base(0) + "/progress").body), (json{{"percent", 42}}));
  namespace beast = boost::beast;
  boost::asio::io_context ioc;
  beast::websocket::stream<beast::tcp_stream> ws(ioc);
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::asio::connect(ws.next_layer().socket(),
                       resolver.resolve("127.0.0.1", std::to_string(server_->ports()[0])));
  ws.handshake("localhost", "/progress");
  beast::flat_buffer buf;
  ws.read(buf);
  EXPECT_EQ(beast::buffers_to_string(buf.data()), "{\"percent\":42}");
}

}  // namespace
}  // namespace modeld::api
