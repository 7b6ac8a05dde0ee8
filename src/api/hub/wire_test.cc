#include "api/hub/wire.h"

#include <gtest/gtest.h>

#include <memory>
#include <string_view>

namespace modeld::api::hub {
namespace {

// The header in a buffer of its exact size, so that AddressSanitizer sees a read past it.
RangeRequest RangeOf(std::string_view header, uint64_t size) {
  auto exact = std::make_unique<char[]>(header.size());
  std::copy(header.begin(), header.end(), exact.get());
  return ParseRange(std::string_view(exact.get(), header.size()), size);
}

TEST(HubWireTest, RangesAsRfc9110Reads) {
  auto r = RangeOf("bytes=10-19", 100);
  EXPECT_EQ(r.kind, RangeRequest::kPartial);
  EXPECT_EQ(r.first, 10u);
  EXPECT_EQ(r.last, 19u);
  // The unit in any case (boost::beast::iequals read one byte past such a header).
  r = RangeOf("BYTES=0-", 100);
  EXPECT_EQ(r.kind, RangeRequest::kPartial);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(RangeOf("Bytes=", 100).kind, RangeRequest::kWhole);
  r = RangeOf("bytes=-5", 100);
  EXPECT_EQ(r.first, 95u);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(RangeOf("bytes=100-", 100).kind, RangeRequest::kUnsatisfiable);
  EXPECT_EQ(RangeOf("bytes=0-1,5-6", 100).kind, RangeRequest::kWhole) << "several: the file";
  EXPECT_EQ(RangeOf("items=0-1", 100).kind, RangeRequest::kWhole);
  EXPECT_EQ(RangeOf("bytes=5-1", 100).kind, RangeRequest::kWhole);
}

TEST(HubWireTest, EtagsMatchQuotedWeakListedOrStar) {
  EXPECT_TRUE(EtagMatches("\"abc\"", "abc"));
  EXPECT_TRUE(EtagMatches("W/\"abc\"", "abc"));
  EXPECT_TRUE(EtagMatches("\"x\", \"abc\"", "abc"));
  EXPECT_TRUE(EtagMatches("*", "abc"));
  EXPECT_FALSE(EtagMatches("\"abd\"", "abc"));
  EXPECT_FALSE(EtagMatches("", "abc"));
}

}  // namespace
}  // namespace modeld::api::hub
