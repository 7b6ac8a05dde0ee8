#include "core/json.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace modeld {
namespace {

TEST(JsonTest, DepthSkipsStringsAndEscapes) {
  EXPECT_EQ(JsonDepth("{}"), 1);
  EXPECT_EQ(JsonDepth(R"({"a":[1,{"b":[]}]})"), 4);
  EXPECT_EQ(JsonDepth(R"({"a":"[[[[{{{{"})"), 1);
  EXPECT_EQ(JsonDepth(R"({"a":"\"[[[["})"), 1);
  EXPECT_EQ(JsonDepth(R"(["\\",[[]]])"), 3);
  EXPECT_EQ(JsonDepth("42"), 0);
}

TEST(JsonTest, RefusesDeepNestingWithoutRecursing) {
  // 100,000 levels in the metadata of a request body: the shape that crashed the server.
  std::string deep = R"({"model_name":"m","metadata":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  auto r = ParseJson(deep, "request body");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("nested deeper than 128"), std::string::npos);
  EXPECT_TRUE(ParseJsonOrDiscarded(deep).is_discarded());
  // An unterminated prefix is refused as well.
  EXPECT_FALSE(ParseJson(std::string(1 << 20, '{'), "x").has_value());
}

TEST(JsonTest, AcceptsUpToTheLimit) {
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  auto r = ParseJson(ok, "x");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->dump().size(), ok.size());
  std::string over = "[" + ok + "]";
  EXPECT_FALSE(ParseJson(over, "x").has_value());
}

TEST(JsonTest, MalformedIsAnErrorNamingWhat) {
  auto r = ParseJson("{\"a\": ", "catalog c.json");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message().rfind("catalog c.json: invalid JSON", 0), 0u)
      << r.error().message();
  EXPECT_TRUE(ParseJsonOrDiscarded("nope").is_discarded());
  EXPECT_FALSE(ParseJsonOrDiscarded("{\"a\":1}").is_discarded());
}

// Regression (fuzz/json_fuzz.cc): nlohmann stops at a NUL byte as if the input ended
// there, so "6\0[[[garbage" parsed as 6 and the bytes after the NUL went unchecked.
TEST(JsonTest, NulByteIsInvalidNotTheEnd) {
  using namespace std::string_view_literals;
  for (std::string_view text : {"6\0[[[garbage"sv, "{}\0"sv, "{\"a\":\"x\0y\"}"sv, "\0"sv}) {
    auto r = ParseJson(text, "body");
    ASSERT_FALSE(r.has_value()) << text.size();
    EXPECT_NE(r.error().message().find("NUL"), std::string::npos) << r.error().message();
    EXPECT_TRUE(ParseJsonOrDiscarded(text).is_discarded());
  }
  auto escaped = ParseJson(R"({"a":"x\u0000y"})", "body");  // the escaped form is fine
  ASSERT_TRUE(escaped.has_value());
  EXPECT_EQ((*escaped)["a"].get<std::string>(), std::string("x\0y", 3));
}

}  // namespace
}  // namespace modeld

namespace modeld {
namespace {

TEST(DumpJsonTest, WritesBytesThatAreNotUtf8AsReplacementCharactersInsteadOfThrowing) {
  nlohmann::json j = {{"message", std::string("bad \xff\xfe end")}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  EXPECT_EQ(DumpJson(j), "{\"message\":\"bad \xEF\xBF\xBD\xEF\xBF\xBD end\"}");
  EXPECT_EQ(DumpJson(nlohmann::json{{"a", 1}}, 2), "{\n  \"a\": 1\n}");
}

}  // namespace
}  // namespace modeld
