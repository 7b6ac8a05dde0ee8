#include "cli/limit.h"

#include <gtest/gtest.h>

namespace modeld::cli {
namespace {

TEST(ParseRateTest, UnitsArePowersOf1024) {
  EXPECT_EQ(*ParseRate("2048"), 2048u);
  EXPECT_EQ(*ParseRate("512K"), 512u * 1024);
  EXPECT_EQ(*ParseRate("10M"), 10u * 1024 * 1024);
  EXPECT_EQ(*ParseRate("10m"), 10u * 1024 * 1024);
  EXPECT_EQ(*ParseRate("10MiB/s"), 10u * 1024 * 1024);
  EXPECT_EQ(*ParseRate("10MB"), 10u * 1024 * 1024);
  EXPECT_EQ(*ParseRate("1.5G"), 1536ull * 1024 * 1024);
  EXPECT_EQ(*ParseRate(" 2 M "), 2u * 1024 * 1024);
}

TEST(ParseRateTest, NoLimit) {
  for (const char* s : {"0", "off", "none", "Unlimited", "0K"}) EXPECT_EQ(*ParseRate(s), 0u) << s;
}

TEST(ParseRateTest, RefusesWhatIsNotARate) {
  for (const char* s :
       {"", "fast", "10X", "M", "-5M", "1e3", "10M/h", "1..5M", "5000T", "1000", "0.4", "0.5K"}) {
    auto r = ParseRate(s);
    EXPECT_FALSE(r.has_value()) << s;
  }
  EXPECT_NE(ParseRate("10X").error().message().find("10M, 512K"), std::string::npos);
}

}  // namespace
}  // namespace modeld::cli
