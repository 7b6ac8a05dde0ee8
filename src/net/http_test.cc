#include "net/http.h"

#include <gtest/gtest.h>

#include "core/error_reasons.h"

namespace modeld::net {
namespace {

TEST(HttpTest, ParsesContentRange) {
  auto cr = ParseContentRange("bytes 0-99/1000");
  ASSERT_TRUE(cr);
  EXPECT_EQ(cr->first, 0u);
  EXPECT_EQ(cr->last, 99u);
  EXPECT_EQ(cr->total, 1000u);
  cr = ParseContentRange("bytes 5-9/*");
  ASSERT_TRUE(cr);
  EXPECT_FALSE(cr->total);
  EXPECT_FALSE(ParseContentRange("bytes 9-5/10"));
  EXPECT_FALSE(ParseContentRange("bytes 0-10/10"));
  EXPECT_FALSE(ParseContentRange("bytes */10"));
  EXPECT_FALSE(ParseContentRange("items 0-1/2"));
}

TEST(HttpTest, ParsesRetryAfter) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37
  EXPECT_EQ(ParseRetryAfter("3", now), std::chrono::milliseconds(3000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", now),
            std::chrono::milliseconds(10000));
  EXPECT_FALSE(ParseRetryAfter("soon", now));
}

// Regression (fuzz/retry_after_fuzz.cc, UBSan): a date past 2262 overflowed
// system_clock's nanoseconds (signed overflow), and came out as no wait at all.
TEST(HttpTest, RetryAfterFarDatesWaitADayAtMost) {
  auto now = std::chrono::system_clock::from_time_t(784111777);
  const auto kDay = std::chrono::milliseconds(86400 * 1000);
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jan 2300 00:00:00 GMT", now), kDay);
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now), kDay);
  EXPECT_EQ(ParseRetryAfter("Mon, 07 Nov 1994 08:49:37 GMT", now), kDay);
  EXPECT_EQ(ParseRetryAfter("99999999", now), kDay);
  EXPECT_EQ(ParseRetryAfter("Mon, 01 Jan 1600 00:00:00 GMT", now), std::chrono::milliseconds(0));
}

TEST(HttpTest, SplitsHeaders) {
  std::string n, v;
  ASSERT_TRUE(SplitHeaderLine("ETag:  \"abc\"\r\n", &n, &v));
  EXPECT_EQ(n, "etag");
  EXPECT_EQ(v, "\"abc\"");
  EXPECT_FALSE(SplitHeaderLine("HTTP/1.1 200 OK\r\n", &n, &v));
  EXPECT_FALSE(SplitHeaderLine("\r\n", &n, &v));
  EXPECT_EQ(ParseStatusLine("HTTP/1.1 206 Partial Content\r\n"), 206);
  EXPECT_EQ(ParseStatusLine("HTTP/2 404\r\n"), 404);
}

TEST(HttpTest, UrlOriginIncludesDefaultPort) {
  EXPECT_EQ(UrlOrigin("https://HF.co/a/b"), "https://hf.co:443");
  EXPECT_EQ(UrlOrigin("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
  EXPECT_NE(UrlOrigin("http://127.0.0.1:8080/x"), UrlOrigin("http://127.0.0.1:8081/x"));
  EXPECT_EQ(UrlOrigin("not a url"), "");
  EXPECT_EQ(UrlOrigin("ftp://example.com/x"), "");
  EXPECT_EQ(UrlOrigin("file:///etc/passwd"), "");
}

// Regression (fuzz/url_fuzz.cc): a URL with a #fragment had no origin, so it was not
// taken for an http(s) URL at all.
TEST(HttpTest, UrlOriginIgnoresTheFragment) {
  EXPECT_EQ(UrlOrigin("https://hf.co/a/b.bin#part"), "https://hf.co:443");
  EXPECT_EQ(UrlOrigin("http://h:8080/x?y=1#z"), "http://h:8080");
  EXPECT_EQ(UrlOrigin("#x"), "");
}

TEST(HttpTest, FileNames) {
  EXPECT_EQ(UrlFileName("https://x.org/models/resnet%2050.pth?sig=1"), "resnet 50.pth");
  EXPECT_EQ(ContentDispositionFileName("attachment; filename=\"model.gguf\""), "model.gguf");
  EXPECT_EQ(ContentDispositionFileName("attachment; filename=a.bin; filename*=UTF-8''b%20c.bin"),
            "b c.bin");
}

TEST(HttpTest, MapsStatuses) {
  EXPECT_EQ(HttpStatusToStatus(404, "GET").code(), Status::Code::kNotFound);
  EXPECT_EQ(HttpStatusToStatus(403, "GET").code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(HttpStatusToStatus(503, "GET").code(), Status::Code::kUnavailable);
  EXPECT_EQ(HttpStatusToStatus(400, "GET").code(), Status::Code::kInvalidArgument);
  Status timed_out = CurlStatus("GET", CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(timed_out.code(), Status::Code::kUnavailable);
  ASSERT_NE(timed_out.info(), nullptr);
  EXPECT_EQ(timed_out.info()->reason, reason::kUpstreamTimeout);
  // Only a time-out says so: a refused connection is another failure.
  EXPECT_EQ(CurlStatus("GET", CURLE_COULDNT_CONNECT).info(), nullptr);
  EXPECT_TRUE(IsRetryableHttpStatus(429));
  EXPECT_FALSE(IsRetryableHttpStatus(404));
}

TEST(HttpTest, ContentDispositionBadPercentEscapesDoNotThrow) {
  // These threw out of std::stoi and terminated the server.
  EXPECT_EQ(ContentDispositionFileName("attachment; filename*=UTF-8''%zz"), "%zz");
  EXPECT_EQ(ContentDispositionFileName("attachment; filename*=UTF-8''x%G1.bin"), "x%G1.bin");
  EXPECT_EQ(ContentDispositionFileName("attachment; filename*=UTF-8''a%4"), "a%4");
  EXPECT_EQ(ContentDispositionFileName("attachment; filename*=UTF-8''%"), "%");
  EXPECT_EQ(ContentDispositionFileName("attachment; filename*=UTF-8''a%20b%2Ec"), "a b.c");
}

}  // namespace
}  // namespace modeld::net

namespace modeld::net {
namespace {

TEST(HttpTest, BearerChallengesAsRegistriesSendThem) {
  auto c = ParseBearerChallenge(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/x:pull")");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->realm, "https://auth.example/token");
  EXPECT_EQ(c->service, "registry.example");
  EXPECT_EQ(c->scope, "repository:library/x:pull");
  c = ParseBearerChallenge(R"(bearer  service=reg , realm = "a\"b" ,scope="")");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->realm, "a\"b");
  EXPECT_EQ(c->service, "reg");
  EXPECT_FALSE(ParseBearerChallenge(R"(Basic realm="x")").has_value());
  EXPECT_FALSE(ParseBearerChallenge(R"(Bearerrealm="x")").has_value());
  EXPECT_FALSE(ParseBearerChallenge(R"(Bearer service="x")").has_value());  // no realm
  EXPECT_FALSE(ParseBearerChallenge(R"(Bearer realm="unterminated)").has_value());
  EXPECT_FALSE(ParseBearerChallenge("").has_value());
}

}  // namespace
}  // namespace modeld::net
