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

// Regression (fuzz/redact_fuzz.cc): a parameter name written with percent-escapes
// ("%74oken", which servers read as "token") kept its value in answers and logs.
TEST(RedactTest, EscapedParameterNamesAreReadAsServersReadThem) {
  EXPECT_EQ(RedactUrl("https://h/?%74oken=abc"), "https://h/?%74oken=***");
  EXPECT_EQ(RedactUrl("https://h/?X%2DAmz%2dSignature=s&x=%74oken"),
            "https://h/?X%2DAmz%2dSignature=***&x=%74oken");
  EXPECT_EQ(RedactTarget("/ws?%54OKEN=a&%zz=b&%7=c"), "/ws?%54OKEN=***&%zz=b&%7=c");
}

// Regression (fuzz/redact_fuzz.cc): the first "://" was taken for the end of the scheme
// wherever it was, so in "http:h?token=a&u=https://x" the query went unredacted.
TEST(RedactTest, AUrlInTheQueryStartsNoAuthority) {
  EXPECT_EQ(RedactUrl("http:h?token=a&u=https://x"), "http:h?token=***&u=https://x");
  EXPECT_EQ(RedactUrl("git+ssh://u:p@h/r?key=1&u=http://v:w@x"),
            "git+ssh://***@h/r?key=***&u=http://v:w@x");
}

TEST(RedactTest, UrlsInsideText) {
  EXPECT_EQ(RedactText("GET https://u:p@h/x?token=t: HTTP 403 (see http://a@b)"),
            "GET https://***@h/x?token=***: HTTP 403 (see http://***@b)");
  EXPECT_EQ(RedactText("no urls, just httpd and http"), "no urls, just httpd and http");
  EXPECT_EQ(RedactText("'http://x:y@z/a'"), "'http://***@z/a'");
}

}  // namespace
}  // namespace modeld
