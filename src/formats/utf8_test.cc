#include "formats/utf8.h"

#include <gtest/gtest.h>

namespace modeld::formats {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

TEST(Utf8Test, ValidTextIsKept) {
  for (std::string s :
       {"", "ascii", "h\xC3\xA9", "\xE4\xB8\x96", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(ToValidUtf8(s), s);
  }
}

// The WHATWG decoder's replacements (one U+FFFD per maximal subpart), as Node's
// TextDecoder produces them.
TEST(Utf8Test, IllFormedTextIsReplacedAsBrowsersDo) {
  struct Case {
    std::string in, out;
  } cases[] = {
      {"\xFF", kFffd},
      {"a\xC3(", std::string("a") + kFffd + "("},
      {"\xC0\xAF", std::string(kFffd) + kFffd},                          // overlong
      {"\xED\xA0\x80", std::string(kFffd) + kFffd + kFffd},              // a surrogate
      {"\xF4\x90\x80\x80", std::string(kFffd) + kFffd + kFffd + kFffd},  // past U+10FFFF
      {"x\xE2\x82", std::string("x") + kFffd},                           // cut: one replacement
      {"\xF0\x9F\x98", kFffd},
      {"\xE2\x82\xE2\x82\xAC", std::string(kFffd) + "\xE2\x82\xAC"},
      {"\x80\x80", std::string(kFffd) + kFffd},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(IsValidUtf8(c.in)) << c.in;
    EXPECT_EQ(ToValidUtf8(c.in), c.out) << c.in;
    EXPECT_TRUE(IsValidUtf8(ToValidUtf8(c.in)));
  }
}

}  // namespace
}  // namespace modeld::formats
