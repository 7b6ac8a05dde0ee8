#include "core/redact.h"

#include <gtest/gtest.h>

namespace modeld {
namespace {

TEST(RedactTest, UserInfoAndSecretParameters) {
  EXPECT_EQ(RedactUrl("https://alice:hunter2@example.org/m.bin"), "https://***@example.org/m.bin");
  EXPECT_EQ(RedactUrl("http://tok@h:8080"), "http://***@h:8080");
  EXPECT_EQ(RedactUrl("https://h/p?a=1&token=abc&b=2"), "https://h/p?a=1&token=***&b=2");
  EXPECT_EQ(RedactUrl("https://cdn/x?X-Amz-Signature=dead&X-Amz-Expires=60#f"),
            "https://cdn/x?X-Amz-Signature=***&X-Amz-Expires=60#f");
  EXPECT_EQ(RedactUrl("https://example.org/a@b/c"), "https://example.org/a@b/c") << "@ in the path";
  EXPECT_EQ(RedactUrl("not a url"), "not a url");
  EXPECT_EQ(RedactTarget("/model-download/x/events?token=s3cret"),
            "/model-download/x/events?token=***");
  EXPECT_EQ(RedactTarget("/models?q=token"), "/models?q=token");
  EXPECT_EQ(RedactTarget("/ws?TOKEN=a&"), "/ws?TOKEN=***&");
}

TEST(RedactTest, UrlsInsideText) {
  EXPECT_EQ(RedactText("GET https://u:p@h/x?token=t: HTTP 403 (see http://a@b)"),
            "GET https://***@h/x?token=***: HTTP 403 (see http://***@b)");
  EXPECT_EQ(RedactText("no urls, just httpd and http"), "no urls, just httpd and http");
  EXPECT_EQ(RedactText("'http://x:y@z/a'"), "'http://***@z/a'");
}

}  // namespace
}  // namespace modeld
