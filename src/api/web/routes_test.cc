#include "api/web/routes.h"

#include <gtest/gtest.h>

#include <set>

#include "api/web/assets.h"

namespace modeld::api::web {
namespace {

TEST(WebAssetsTest, EveryFileThePageNamesIsEmbedded) {
  std::set<std::string> have;
  for (const auto& a : EmbeddedAssets()) {
    EXPECT_FALSE(a.bytes.empty()) << a.path;
    EXPECT_EQ(a.sha256.size(), 64u) << a.path;
    have.insert(std::string(a.path));
  }
  ASSERT_TRUE(have.count("index.html"));
  // Every /ui/ file the page and its modules load is compiled in: a file missing from
  // the CMake list would be a 404 in the browser.
  for (const auto& a : EmbeddedAssets()) {
    std::string_view text = a.bytes;
    for (size_t at = 0; (at = text.find("/ui/", at)) != std::string_view::npos; at += 4) {
      size_t end = text.find_first_of("\"' )`", at);
      std::string name(text.substr(at + 4, end - at - 4));
      EXPECT_TRUE(have.count(name)) << a.path << " loads /ui/" << name;
    }
    for (size_t at = 0; (at = text.find("from './", at)) != std::string_view::npos; at += 8) {
      size_t end = text.find('\'', at + 8);
      std::string name(text.substr(at + 8, end - at - 8));
      EXPECT_TRUE(have.count(name)) << a.path << " imports ./" << name;
    }
  }
}

TEST(WebAssetsTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("icon.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("x"), "application/octet-stream");
}

Response Get(const Dialect& d, const std::string& pattern, const std::string& file,
             const std::string& if_none_match = "") {
  Request req{http::verb::get, pattern, 11};
  if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
  Params params;
  params.path["file"] = file;
  Response out;
  for (const auto& r : d.routes) {
    if (r.pattern == pattern)
      r.handler(req, params, [&out](Response res) { out = std::move(res); });
  }
  return out;
}

TEST(WebDialectTest, ServesThePageWithAStrictPolicyAndRevalidates) {
  Dialect d = WebDialect();
  Response page = Get(d, "/", "");
  EXPECT_EQ(page.result(), http::status::ok);
  EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
  std::string csp(page["Content-Security-Policy"]);
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(page["X-Content-Type-Options"], "nosniff");
  EXPECT_NE(page.body().find("<title>modeld</title>"), std::string::npos);
  std::string etag(page[http::field::etag]);
  ASSERT_FALSE(etag.empty());
  Response again = Get(d, "/", "", etag);
  EXPECT_EQ(again.result(), http::status::not_modified);
  EXPECT_TRUE(again.body().empty());

  EXPECT_EQ(Get(d, "/ui/*file", "app.js").result(), http::status::ok);
  EXPECT_EQ(Get(d, "/ui/*file", "nope.js").result(), http::status::not_found);
  EXPECT_EQ(Get(d, "/ui/*file", "../CMakeLists.txt").result(), http::status::not_found);
  for (const auto& r : d.routes) EXPECT_TRUE(r.public_path) << r.pattern;
}

}  // namespace
}  // namespace modeld::api::web
