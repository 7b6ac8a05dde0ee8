#include "engine/probe_decision.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

namespace modeld::engine {
namespace {

using Code = Status::Code;
using V = ResponseVerdict;

constexpr uint64_t kOneMiB = 1 << 20;
constexpr char kUrl[] = "https://models.example/m.bin";

ResponseHead Head(std::initializer_list<const char*> lines) {
  ResponseHead h;
  for (const char* line : lines) h.AddLine(line);
  return h;
}

TEST(ResponseHeadTest, KeepsTheHeadersOfTheLastHop) {
  ResponseHead h =
      Head({"HTTP/1.1 302 Found\r\n", "Location: https://cdn.example/x\r\n", "ETag: \"hop\"\r\n",
            "Retry-After: 5\r\n", "\r\n", "HTTP/2 206\r\n", "content-range: bytes 0-9/100\r\n",
            "ETAG: \"file\"\r\n", "Last-Modified:  Wed, 21 Oct 2026 07:28:00 GMT \r\n",
            "Accept-Ranges: bytes\r\n", "Content-Length: 10\r\n", "Content-Encoding: identity\r\n",
            "X-Other: ignored\r\n", "\r\n"});
  EXPECT_EQ(h.status, 206);
  EXPECT_EQ(h.content_range, "bytes 0-9/100");
  EXPECT_EQ(h.etag, "\"file\"");
  EXPECT_EQ(h.last_modified, "Wed, 21 Oct 2026 07:28:00 GMT");
  EXPECT_EQ(h.accept_ranges, "bytes");
  EXPECT_EQ(h.content_length, "10");
  EXPECT_EQ(h.content_encoding, "identity");
  EXPECT_EQ(h.retry_after, "");  // the 302's, forgotten
}

struct ProbeCase {
  const char* name;
  ResponseHead head;
  uint64_t from = 0;
  std::optional<JournalState> journal;
  std::optional<uint64_t> expected_size;
  V verdict = V::kAccept;
  std::optional<uint64_t> total;
  bool ranged = false;
  bool discard_partial = false;
  Code fatal = Code::kOk;
  const char* message = "";
};

JournalState Journal(std::optional<uint64_t> size, std::string etag, std::string last_modified) {
  JournalState j;
  j.url = kUrl;
  j.size = size;
  j.etag = std::move(etag);
  j.last_modified = std::move(last_modified);
  j.written = {{0, 4 * kOneMiB}};
  return j;
}

ResponseHead Partial(const char* content_range, const char* etag = "", const char* lm = "") {
  ResponseHead h;
  h.status = 206;
  h.content_range = content_range;
  h.etag = etag;
  h.last_modified = lm;
  return h;
}

ResponseHead Whole(const char* content_length, const char* accept_ranges = "") {
  ResponseHead h;
  h.status = 200;
  h.content_length = content_length;
  h.accept_ranges = accept_ranges;
  return h;
}

template <typename Fn>
ResponseHead With(ResponseHead h, Fn&& change) {
  change(h);
  return h;
}

TEST(ProbeDecisionTest, DecidesEveryBranch) {
  const char* kLm = "Wed, 21 Oct 2026 07:28:00 GMT";
  const std::vector<ProbeCase> cases = {
      {"fresh 206: ranged, size from Content-Range",
       Partial("bytes 0-1048575/10485760"),
       0,
       {},
       {},
       V::kAccept,
       10 * kOneMiB,
       true},
      {"206 of an unknown total: one stream",
       Partial("bytes 0-1048575/*"),
       0,
       {},
       {},
       V::kAccept,
       std::nullopt,
       false},
      {"206 starting elsewhere: Corrupt",
       Partial("bytes 5-1048575/10485760"),
       0,
       {},
       {},
       V::kFatal,
       {},
       false,
       false,
       Code::kCorrupt,
       "server answered a request for bytes 0- with Content-Range 'bytes 5-1048575/10485760'"},
      {"206 without a Content-Range: Corrupt",
       Partial(""),
       0,
       {},
       {},
       V::kFatal,
       {},
       false,
       false,
       Code::kCorrupt},
      {"resume, same size and ETag",
       Partial("bytes 4194304-5242879/10485760", "\"a\""),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "\"a\"", ""),
       {},
       V::kAccept,
       10 * kOneMiB,
       true},
      {"resume, the size changed",
       Partial("bytes 4194304-5242879/20971520", "\"a\""),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "\"a\"", ""),
       {},
       V::kFileChanged},
      {"resume, the ETag changed",
       Partial("bytes 4194304-5242879/10485760", "\"b\""),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "\"a\"", ""),
       {},
       V::kFileChanged},
      {"resume, no ETag kept, Last-Modified changed",
       Partial("bytes 4194304-5242879/10485760", "", "Thu, 22 Oct 2026 07:28:00 GMT"),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "", kLm),
       {},
       V::kFileChanged},
      {"resume, no ETag kept, same Last-Modified",
       Partial("bytes 4194304-5242879/10485760", "", kLm),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "", kLm),
       {},
       V::kAccept,
       10 * kOneMiB,
       true},
      {"resume, the ETag decides over Last-Modified",
       Partial("bytes 4194304-5242879/10485760", "\"a\"", "Thu, 22 Oct 2026 07:28:00 GMT"),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "\"a\"", kLm),
       {},
       V::kAccept,
       10 * kOneMiB,
       true},
      {"resume, the server sends no validators: trusted",
       Partial("bytes 4194304-5242879/10485760"),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "\"a\"", kLm),
       {},
       V::kAccept,
       10 * kOneMiB,
       true},
      {"200 with Accept-Ranges: ranged, first piece",
       Whole("10485760", "bytes"),
       0,
       {},
       {},
       V::kAccept,
       10 * kOneMiB,
       true},
      {"200 without Accept-Ranges: one stream",
       Whole("10485760"),
       0,
       {},
       {},
       V::kAccept,
       10 * kOneMiB,
       false},
      {"200 with Accept-Ranges: none",
       Whole("10485760", "none"),
       0,
       {},
       {},
       V::kAccept,
       10 * kOneMiB,
       false},
      {"200 without Content-Length: one stream of unknown size",
       Whole("", "bytes"),
       0,
       {},
       {},
       V::kAccept,
       std::nullopt,
       false},
      {"200 to a resume: the whole file, the partial discarded",
       Whole("10485760", "bytes"),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "\"a\"", ""),
       {},
       V::kAccept,
       10 * kOneMiB,
       true,
       true},
      {"200 to a resume of another size than expected: discarded, then Corrupt", Whole("20971520"),
       4 * kOneMiB, Journal(10 * kOneMiB, "", ""), 10 * kOneMiB, V::kFatal, 20 * kOneMiB, false,
       true, Code::kCorrupt,
       "size mismatch for https://models.example/m.bin: expected 10485760 bytes, server says "
       "20971520"},
      {"206 of the expected size",
       Partial("bytes 0-1048575/10485760"),
       0,
       {},
       10 * kOneMiB,
       V::kAccept,
       10 * kOneMiB,
       true},
      {"206 of another size than expected",
       Partial("bytes 0-1048575/10485761"),
       0,
       {},
       10 * kOneMiB,
       V::kFatal,
       10 * kOneMiB + 1,
       true,
       false,
       Code::kCorrupt,
       "size mismatch"},
      {"an unknown size is never a mismatch",
       Partial("bytes 0-1048575/*"),
       0,
       {},
       10 * kOneMiB,
       V::kAccept},
      {"404: for the retry decision",
       With(Whole("9"), [](auto& h) { h.status = 404; }),
       0,
       {},
       {},
       V::kBadStatus},
      {"416: for the retry decision",
       With(Whole("0"), [](auto& h) { h.status = 416; }),
       4 * kOneMiB,
       Journal(10 * kOneMiB, "", ""),
       {},
       V::kBadStatus},
      {"gzip: refused",
       With(Whole("10"), [](auto& h) { h.content_encoding = "gzip"; }),
       0,
       {},
       {},
       V::kFatal,
       {},
       false,
       false,
       Code::kInvalidArgument,
       "gzip"},
      {"identity is no encoding",
       With(Whole("10"), [](auto& h) { h.content_encoding = "identity"; }),
       0,
       {},
       {},
       V::kAccept,
       10,
       false},
  };
  for (const ProbeCase& c : cases) {
    SCOPED_TRACE(c.name);
    ProbeContext ctx;
    ctx.url = kUrl;
    ctx.request_url = "https://cdn.example/m.bin";
    ctx.from = c.from;
    ctx.journal = c.journal ? &*c.journal : nullptr;
    ctx.expected_size = c.expected_size;
    ProbeDecision d = DecideProbe(c.head, ctx);
    EXPECT_EQ(d.check.verdict, c.verdict);
    EXPECT_EQ(d.check.fatal.code(), c.fatal) << d.check.fatal.ToString();
    EXPECT_NE(d.check.fatal.message().find(c.message), std::string::npos)
        << d.check.fatal.ToString();
    EXPECT_EQ(d.discard_partial, c.discard_partial);
    if (c.verdict == V::kAccept || c.fatal == Code::kCorrupt) {
      EXPECT_EQ(d.total, c.total);
      EXPECT_EQ(d.ranged, c.ranged);
    }
  }
}

TEST(ProbeDecisionTest, AnEncodedBodyNamesTheEncodingAndTheUrl) {
  ResponseHead h = Partial("bytes 0-9/10");
  h.content_encoding = "br";
  ProbeContext ctx;
  ctx.url = kUrl;
  ctx.request_url = "https://cdn.example/m.bin?sig=secret";
  ProbeDecision d = DecideProbe(h, ctx);
  ASSERT_EQ(d.check.verdict, V::kFatal);
  EXPECT_EQ(d.check.fatal.code(), Code::kInvalidArgument);
  EXPECT_NE(d.check.fatal.message().find("br"), std::string::npos);
  EXPECT_NE(d.check.fatal.message().find("cdn.example"), std::string::npos);
}

struct RangeCase {
  const char* name;
  ResponseHead head;
  uint64_t from;
  std::optional<uint64_t> total;
  const char* etag;
  V verdict;
};

TEST(CheckRangeResponseTest, AcceptsOnlyTheRangeAskedForOfTheSameFile) {
  const std::vector<RangeCase> cases = {
      {"the range asked for", Partial("bytes 1048576-2097151/10485760", "\"a\""), kOneMiB,
       10 * kOneMiB, "\"a\"", V::kAccept},
      {"no ETag sent", Partial("bytes 1048576-2097151/10485760"), kOneMiB, 10 * kOneMiB, "\"a\"",
       V::kAccept},
      {"no ETag known", Partial("bytes 1048576-2097151/10485760", "\"b\""), kOneMiB, 10 * kOneMiB,
       "", V::kAccept},
      {"another ETag", Partial("bytes 1048576-2097151/10485760", "\"b\""), kOneMiB, 10 * kOneMiB,
       "\"a\"", V::kFileChanged},
      {"starts elsewhere", Partial("bytes 0-2097151/10485760"), kOneMiB, 10 * kOneMiB, "",
       V::kFileChanged},
      {"another total", Partial("bytes 1048576-2097151/10485761"), kOneMiB, 10 * kOneMiB, "",
       V::kFileChanged},
      {"no Content-Range", Partial(""), kOneMiB, 10 * kOneMiB, "", V::kFileChanged},
      {"a 200 to If-Range: the file changed", Whole("10485760", "bytes"), kOneMiB, 10 * kOneMiB, "",
       V::kFileChanged},
      {"503", With(Whole("0"), [](auto& h) { h.status = 503; }), kOneMiB, 10 * kOneMiB, "",
       V::kBadStatus},
      {"gzip",
       With(Partial("bytes 1048576-2097151/10485760"),
            [](auto& h) { h.content_encoding = "gzip"; }),
       kOneMiB, 10 * kOneMiB, "", V::kFatal},
  };
  for (const RangeCase& c : cases) {
    SCOPED_TRACE(c.name);
    ResponseCheck r = CheckRangeResponse(c.head, c.from, c.total, c.etag, kUrl);
    EXPECT_EQ(r.verdict, c.verdict);
    EXPECT_EQ(r.fatal.ok(), c.verdict != V::kFatal);
  }
}

}  // namespace
}  // namespace modeld::engine
