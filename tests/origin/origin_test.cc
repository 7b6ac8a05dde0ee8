#include "origin.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "http_client.h"

namespace modeld::testing {
namespace {

HttpReply Get(const std::string& url, std::vector<std::string> headers = {}, bool head = false) {
  return HttpCall(head ? "HEAD" : "GET", url, "", headers, nullptr, 10);
}

TEST(TestOriginTest, ServesRangesAndValidators) {
  TestOrigin o;
  std::string data = RandomBytes(1000, 1);
  o.Put("/f", {.content = data, .etag = "\"v1\""});
  auto full = Get(o.Url("/f"));
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.body, data);
  EXPECT_NE(full.headers.find("ETag: \"v1\""), std::string::npos);

  auto part = Get(o.Url("/f"), {"Range: bytes=10-19"});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, data.substr(10, 10));
  EXPECT_NE(part.headers.find("Content-Range: bytes 10-19/1000"), std::string::npos);

  auto stale = Get(o.Url("/f"), {"Range: bytes=10-19", "If-Range: \"v0\""});
  EXPECT_EQ(stale.status, 200) << "If-Range mismatch must send the whole file";
  EXPECT_EQ(stale.body.size(), 1000u);

  EXPECT_EQ(Get(o.Url("/f"), {"Range: bytes=1000-"}).status, 416);
  auto head = Get(o.Url("/f"), {}, true);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Get(o.Url("/missing")).status, 404);
}

TEST(TestOriginTest, CountsQueriedTargetsUnderTheirPath) {
  TestOrigin o;
  o.Put("/f", {.content = "abc"});
  EXPECT_EQ(Get(o.Url("/f?sig=1")).body, "abc");
  EXPECT_EQ(Get(o.Url("/f")).body, "abc");
  EXPECT_EQ(Get(o.Url("/fg")).status, 404);
  EXPECT_EQ(o.Requests("/f").size(), 2u);
  EXPECT_EQ(o.Requests("/f?sig=1").size(), 1u);
  EXPECT_TRUE(o.WaitForBodyBytes("/f", 6));
  EXPECT_TRUE(o.WaitForRequests("/f", 2, std::chrono::milliseconds(0)));
}

TEST(TestOriginTest, InjectsFaults) {
  TestOrigin o;
  std::string data = RandomBytes(100000, 2);
  o.Put("/503", {.content = data, .fail_status = 503, .fail_times = 1, .retry_after = "1"});
  auto r = Get(o.Url("/503"));
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.headers.find("Retry-After: 1"), std::string::npos);
  EXPECT_EQ(Get(o.Url("/503")).status, 200);

  o.Put("/drop", {.content = data, .drop_after = 5000, .drop_times = 1});
  r = Get(o.Url("/drop"));
  EXPECT_EQ(r.rc, CURLE_PARTIAL_FILE);
  EXPECT_EQ(r.body.size(), 5000u);
  EXPECT_EQ(Get(o.Url("/drop")).body, data);

  o.Put("/norange", {.content = data, .ranges = false});
  r = Get(o.Url("/norange"), {"Range: bytes=10-19"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, data);

  o.Put("/chunked", {.content = data, .chunked = true});
  r = Get(o.Url("/chunked"));
  EXPECT_EQ(r.body, data);
  EXPECT_EQ(r.headers.find("Content-Length"), std::string::npos);

  o.Put("/corrupt", {.content = data, .corrupt_offsets = {7}});
  r = Get(o.Url("/corrupt"));
  EXPECT_NE(r.body, data);
  EXPECT_EQ(r.body.substr(8), data.substr(8));

  o.Put("/liar", {.content = data, .lie_extra = 100});
  r = Get(o.Url("/liar"));
  EXPECT_EQ(r.rc, CURLE_PARTIAL_FILE);
  EXPECT_EQ(r.body, data);

  std::string v2 = RandomBytes(100000, 3);
  o.Put("/change", {.content = data, .change_after = 1, .changed_content = v2});
  EXPECT_EQ(Get(o.Url("/change")).body, data);
  EXPECT_EQ(Get(o.Url("/change")).body, v2);

  o.Put("/moved", {.redirect_to = o.Url("/change")});
  r = Get(o.Url("/moved"));
  EXPECT_EQ(r.status, 302);

  EXPECT_EQ(o.BodyBytes("/503"), data.size());
  EXPECT_EQ(o.Requests("/503").size(), 2u);
}

TEST(TestOriginTest, RateLimitsEachConnection) {
  TestOrigin o;
  o.Put("/slow", {.content = RandomBytes(200000, 4), .rate = 1000000});
  auto start = std::chrono::steady_clock::now();
  auto r = Get(o.Url("/slow"));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.body.size(), 200000u);
  EXPECT_GE(secs, 0.15);  // 200 KB at 1 MB/s is 0.2 s
}

}  // namespace
}  // namespace modeld::testing
