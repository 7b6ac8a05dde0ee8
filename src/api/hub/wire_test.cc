#include "api/hub/wire.h"

#include <gtest/gtest.h>

#include <memory>
#include <string_view>
#include <vector>

#include "core/error_reasons.h"

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

TEST(HubWireTest, PathsInfoAsJson) {
  auto r = ParsePathsInfo(R"({"paths": ["a.json", "dir/b c"], "expand": true})");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->paths, (std::vector<std::string>{"a.json", "dir/b c"}));
  EXPECT_TRUE(r->expand);
  r = ParsePathsInfo(R"({"paths": "one"})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->paths, std::vector<std::string>{"one"});
  EXPECT_FALSE(r->expand);
  EXPECT_EQ(ParsePathsInfo(R"({"paths": 5})").error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ParsePathsInfo("{}").error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ParsePathsInfo("paths=a").error().code(), Status::Code::kInvalidArgument)
      << "a form is read as one only when it says so";
}

// What huggingface_hub's get_paths_info posts: requests' data= of a dict of a list and a
// Python bool.
TEST(HubWireTest, PathsInfoAsAForm) {
  const std::string_view form = "application/x-www-form-urlencoded";
  auto r = ParsePathsInfo("paths=a.json&paths=dir%2Fb+c&paths=%C3%A9.txt&expand=True", form);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->paths, (std::vector<std::string>{"a.json", "dir/b c", "\xc3\xa9.txt"}));
  EXPECT_TRUE(r->expand);
  r = ParsePathsInfo("paths=x&expand=False&other=1", "Application/x-www-form-urlencoded; a=b");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->paths, std::vector<std::string>{"x"});
  EXPECT_FALSE(r->expand);
  EXPECT_EQ(ParsePathsInfo("expand=True", form).error().code(), Status::Code::kInvalidArgument)
      << "paths are required";
  EXPECT_EQ(ParsePathsInfo("paths=a&expand=maybe", form).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ParsePathsInfo("paths=%zz", form).error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ParsePathsInfo(std::string_view("paths=a\0b", 9), form).error().code(),
            Status::Code::kInvalidArgument);
  // In a buffer of its exact size (Boost 1.81's parse_query read past it with strlen).
  const std::string_view text = "paths=a&paths=b";
  auto exact = std::make_unique<char[]>(text.size());
  std::copy(text.begin(), text.end(), exact.get());
  r = ParsePathsInfo(std::string_view(exact.get(), text.size()), form);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->paths, (std::vector<std::string>{"a", "b"}));
  std::string many;
  for (int i = 0; i <= 10000; ++i) many += "paths=p&";
  EXPECT_EQ(ParsePathsInfo(many, form).error().code(), Status::Code::kInvalidArgument);
}

// The status a Hub client sees for each failure, and the error headers it reads.
TEST(HubWireTest, ErrorsAsTheHubAnswersThem) {
  auto status_of = [](const Status& s) { return static_cast<int>(ErrorFor(s).result_int()); };
  Status refused =
      Status::NotFound("no such repo")
          .WithInfo({reason::kHubUpstream, {{"status", "404"}, {"code", "RepoNotFound"}}});
  Response r = ErrorFor(refused);
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_EQ(r["X-Error-Code"], "RepoNotFound");
  EXPECT_EQ(r["X-Error-Message"], "no such repo");
  EXPECT_EQ(status_of(Status::Unavailable("connection refused")), 502);
  EXPECT_EQ(status_of(Status::Unavailable("timed out").WithInfo({reason::kUpstreamTimeout, {}})),
            504);
  EXPECT_EQ(status_of(Status::NoSpace("full")), 507);
  EXPECT_EQ(status_of(Status::Internal("bug")), 500);
}

}  // namespace
}  // namespace modeld::api::hub
