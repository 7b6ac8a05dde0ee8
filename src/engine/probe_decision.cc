#include "engine/probe_decision.h"

#include "net/http.h"

namespace modeld::engine {

namespace {

ResponseCheck Verdict(ResponseVerdict verdict, Status fatal = Status::OK()) {
  return ResponseCheck{verdict, std::move(fatal)};
}

// What every response must be: a 200 or 206 of the file's own bytes.
ResponseCheck CheckCommon(const ResponseHead& head, std::string_view request_url) {
  if (head.status != 200 && head.status != 206) return Verdict(ResponseVerdict::kBadStatus);
  if (net::IsEncodedBody(head.content_encoding)) {
    // We never ask for an encoding: gzip (or br, ...) bytes are not the file's bytes.
    return Verdict(ResponseVerdict::kFatal,
                   net::EncodedBodyError(head.content_encoding, request_url));
  }
  return Verdict(ResponseVerdict::kAccept);
}

}  // namespace

void ResponseHead::AddLine(std::string_view line) {
  if (int code = net::ParseStatusLine(line)) {
    // A new response (the first, or the next hop of a redirect): forget the last one.
    *this = {};
    status = code;
    return;
  }
  std::string name, value;
  if (!net::SplitHeaderLine(line, &name, &value)) return;
  if (name == "etag") {
    etag = value;
  } else if (name == "last-modified") {
    last_modified = value;
  } else if (name == "content-range") {
    content_range = value;
  } else if (name == "accept-ranges") {
    accept_ranges = value;
  } else if (name == "content-length") {
    content_length = value;
  } else if (name == "retry-after") {
    retry_after = value;
  } else if (name == "content-encoding") {
    content_encoding = value;
  }
}

ProbeDecision DecideProbe(const ResponseHead& head, const ProbeContext& ctx) {
  ProbeDecision d;
  d.check = CheckCommon(head, ctx.request_url);
  if (d.check.verdict != ResponseVerdict::kAccept) return d;
  const bool resuming = ctx.from > 0;
  if (head.status == 206) {
    auto cr = net::ParseContentRange(head.content_range);
    if (!cr || cr->first != ctx.from) {
      d.check = Verdict(
          ResponseVerdict::kFatal,
          Status::Corrupt("server answered a request for bytes " + std::to_string(ctx.from) +
                          "- with Content-Range '" + head.content_range + "'"));
      return d;
    }
    d.total = cr->total;
    d.ranged = d.total.has_value();
    if (resuming && ctx.journal) {
      const JournalState& j = *ctx.journal;
      bool changed = (j.size && d.total != j.size) ||
                     (!j.etag.empty() && !head.etag.empty() && j.etag != head.etag) ||
                     (j.etag.empty() && !j.last_modified.empty() && !head.last_modified.empty() &&
                      j.last_modified != head.last_modified);
      if (changed) {
        d.check = Verdict(ResponseVerdict::kFileChanged);
        return d;
      }
    }
  } else {  // 200: the whole body from byte 0
    d.discard_partial = resuming;
    d.total = net::ParseUint64(head.content_length);
    // This response runs from 0 to the end: the one stream, unless the server can do
    // ranges, in which case it becomes the first piece.
    d.ranged = d.total.has_value() && head.accept_ranges.find("bytes") != std::string::npos;
  }
  if (d.total && ctx.expected_size && *d.total != *ctx.expected_size) {
    d.check = Verdict(ResponseVerdict::kFatal,
                      Status::Corrupt("size mismatch for " + std::string(ctx.url) + ": expected " +
                                      std::to_string(*ctx.expected_size) + " bytes, server says " +
                                      std::to_string(*d.total)));
  }
  return d;
}

ResponseCheck CheckRangeResponse(const ResponseHead& head, uint64_t from,
                                 std::optional<uint64_t> total, std::string_view etag,
                                 std::string_view request_url) {
  ResponseCheck check = CheckCommon(head, request_url);
  if (check.verdict != ResponseVerdict::kAccept) return check;
  if (head.status == 200) {
    // We asked for a range with If-Range: a 200 means the file changed (or the server
    // stopped honouring ranges). Either way our partial bytes may be stale.
    return Verdict(ResponseVerdict::kFileChanged);
  }
  auto cr = net::ParseContentRange(head.content_range);
  if (!cr || cr->first != from || cr->total != total) {
    return Verdict(ResponseVerdict::kFileChanged);
  }
  if (!head.etag.empty() && !etag.empty() && head.etag != etag) {
    return Verdict(ResponseVerdict::kFileChanged);
  }
  return check;
}

}  // namespace modeld::engine
