#include "api/common/body.h"

#include <gtest/gtest.h>

namespace modeld::api {
namespace {

TEST(BodyReaderTest, ReadsFieldsAndNamesTheFirstBadOne) {
  auto r = BodyReader::Parse(R"({"a": "x", "b": true, "n": 5, "l": ["p", "q"], "o": {"t": "no"}})");
  ASSERT_TRUE(r.has_value());
  std::string a;
  bool b = false;
  int64_t n = 0;
  std::vector<std::string> l;
  EXPECT_TRUE(r->Str("a", &a) && r->Bool("b", &b) && r->Int("n", 1, 10, &n) &&
              r->StrList("l", &l, "names"));
  EXPECT_EQ(a, "x");
  EXPECT_TRUE(b);
  EXPECT_EQ(n, 5);
  EXPECT_EQ(l, (std::vector<std::string>{"p", "q"}));
  auto o = r->Object("o");
  ASSERT_TRUE(o.has_value());
  int64_t t = 0;
  EXPECT_FALSE(o->Int("t", 0, 1, &t));
  EXPECT_EQ(o->error().message(), "Invalid parameter 'o.t': must be an integer");
  EXPECT_FALSE(r->Int("n", 6, 10, &n));
  EXPECT_EQ(r->error().message(), "Invalid parameter 'n': must be between 6 and 10");
  EXPECT_FALSE(r->Str("missing", &a, true)) << "the first error stays";
  EXPECT_EQ(r->error().message(), "Invalid parameter 'n': must be between 6 and 10");
}

TEST(BodyReaderTest, AbsentAndNullAreLeftAlone) {
  auto r = BodyReader::Parse(R"({"a": null})");
  ASSERT_TRUE(r.has_value());
  std::string a = "keep";
  EXPECT_TRUE(r->Str("a", &a));
  EXPECT_TRUE(r->Str("b", &a));
  EXPECT_EQ(a, "keep");
  EXPECT_FALSE(r->Str("b", &a, true));
  EXPECT_EQ(r->error().message(), "Invalid parameter 'b': required");
}

TEST(BodyReaderTest, RefusesWhatIsNotAnObject) {
  EXPECT_EQ(BodyReader::Parse("[1]").error().message(),
            "Invalid JSON body: the body must be a JSON object");
  EXPECT_NE(BodyReader::Parse("{").error().message().find("Invalid JSON body"), std::string::npos);
  EXPECT_FALSE(BodyReader::Parse("").has_value());
  EXPECT_TRUE(BodyReader::Parse("", /*empty_is_object=*/true).has_value()) << "a POST with no body";
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_NE(BodyReader::Parse("{\"a\":" + deep + "}").error().message().find("nested deeper"),
            std::string::npos);
  auto r = BodyReader::Parse(R"({"n": 18446744073709551615})");
  int64_t n = 0;
  EXPECT_FALSE(r->Int("n", 0, 10, &n)) << "an unsigned value past int64";
}

}  // namespace
}  // namespace modeld::api
