// What a response says about the file: the probe decision, and the check of every later
// range response.
//
// The first response of a transfer (the probe: a GET of bytes N-, with If-Range when
// resuming) gives the file's size (Content-Range or Content-Length), whether it can be
// fetched in ranges, and whether the partial on disk still belongs to it (validators
// against the journal's). A 200 to a resume means the server sent the whole file: the
// partial is discarded and this body becomes byte 0. Every later response must be the
// range asked for of the same file, or the transfer starts over.
//
// Pure: no I/O. Thread safety: the functions are stateless and safe from any thread; a
// ResponseHead belongs to one thread (the engine loop's, filled in libcurl's header
// callback).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "engine/journal.h"

namespace modeld::engine {

// The status and the headers the engine reads of one response.
struct ResponseHead {
  int status = 0;
  std::string etag, last_modified, content_range, accept_ranges, content_length, retry_after,
      content_encoding;

  // Takes one header line as libcurl hands it over ("Name: value\r\n"). A status line
  // starts a new response (the first, or the next hop of a redirect) and forgets the
  // last one's headers; headers the engine does not read are ignored.
  void AddLine(std::string_view line);
};

enum class ResponseVerdict {
  kAccept,       // the bytes asked for, of the file expected
  kBadStatus,    // neither 200 nor 206: the retry decision (retry_policy.h) takes it
  kFileChanged,  // the upstream file is not the one the partial holds: start over
  kFatal,        // fail the transfer with |fatal|
};

struct ResponseCheck {
  ResponseVerdict verdict = ResponseVerdict::kAccept;
  Status fatal;  // kFatal only
};

// What the engine knows when the probe's answer comes.
struct ProbeContext {
  std::string_view url;                   // DownloadRequest::url, for messages
  std::string_view request_url;           // the URL this request went to, for messages
  uint64_t from = 0;                      // the first byte asked for; > 0 when resuming
  const JournalState* journal = nullptr;  // the resume state, if any
  std::optional<uint64_t> expected_size;  // DownloadRequest::expected_size
};

struct ProbeDecision {
  ResponseCheck check;
  std::optional<uint64_t> total;  // the file's size, when the response names it
  bool ranged = false;            // it can be fetched in ranges (segments); else one stream
  // A 200 to a resume: the body runs from byte 0, so the partial (and the journal's
  // ranges) must go before any of it is written. Set before the size check, which may
  // still fail the transfer.
  bool discard_partial = false;
};

// Decides from the probe's answer |head| (read at its first body byte, or at its end
// when it had none):
// - not 200/206: kBadStatus; a Content-Encoding other than identity: kFatal InvalidArgument.
// - 206: the size from Content-Range, ranged when it names a total; a Content-Range that
//   does not start at |from|: kFatal Corrupt. When resuming with a journal, a different
//   size, ETag, or (without a journal ETag) Last-Modified: kFileChanged.
// - 200: the size from Content-Length, ranged when Accept-Ranges says bytes; when
//   resuming, discard_partial.
// - a size other than |expected_size|: kFatal Corrupt "size mismatch".
ProbeDecision DecideProbe(const ResponseHead& head, const ProbeContext& context);

// Checks a response to a later request for bytes from |from| of a file whose size is
// |total| and ETag |etag| (the probe's; empty: none): not 200/206 is kBadStatus, an
// encoding kFatal; a 200 (If-Range said the file changed, or ranges stopped), a
// Content-Range elsewhere or of another total, or another ETag is kFileChanged.
ResponseCheck CheckRangeResponse(const ResponseHead& head, uint64_t from,
                                 std::optional<uint64_t> total, std::string_view etag,
                                 std::string_view request_url);

}  // namespace modeld::engine
