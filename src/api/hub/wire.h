// The Hugging Face Hub's wire format, as the mirror speaks it (PEERS.md section 2,
// docs/mirror.md): Range requests, the paths-info body, errors with X-Error-Code, and the
// JSON of a repository's description and listing.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/route.h"
#include "core/status.h"
#include "service/hub_mirror.h"

namespace modeld::api::hub {

// A Range header against a file of |size| bytes (RFC 9110 section 14): one range of
// "bytes=" (first-last, first-, -suffix). kWhole: no header, another unit, several ranges
// or a malformed one (all answered with the whole file, as the RFC allows);
// kUnsatisfiable: a well-formed range that starts past the end (416).
struct RangeRequest {
  enum Kind { kWhole, kPartial, kUnsatisfiable } kind = kWhole;
  uint64_t first = 0, last = 0;  // kPartial: inclusive, last < size
};
RangeRequest ParseRange(std::string_view header, uint64_t size);

// An If-None-Match header names |etag| (quoted or not, weak or not, in a list, or "*").
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

// POST .../paths-info/{rev}: {"paths": [..] or "path", "expand": bool}, or as a form
// (|content_type| application/x-www-form-urlencoded, what huggingface_hub posts):
// paths=a&paths=b&expand=True. InvalidArgument naming the field for anything else; at
// most 10,000 paths.
struct PathsInfoRequest {
  std::vector<std::string> paths;
  bool expand = false;
};
Result<PathsInfoRequest> ParsePathsInfo(std::string_view body,
                                        std::string_view content_type = "application/json");

// A failure as the Hub answers it: the status of the upstream's refusal (or the code's
// own: 404, 401/403, 400, 502 for an unreachable upstream, 504 for one that did not answer
// in time), X-Error-Code and X-Error-Message headers, and {"error": message}.
Response ErrorFor(const Status& status);
// The dialect's error body for the server's own refusals: {"error": message}.
Response ErrorBody(http::status status, const std::string& message);

// GET /api/models/{repo}[/revision/{rev}]: the upstream's description with "id", "sha"
// and "siblings" ({rfilename}, with size, blobId and lfs when |blobs|).
nlohmann::json RepoJson(const service::MirrorRepo& repo, bool blobs);
// One tree or paths-info entry: {type, oid, size, path[, lfs]}.
nlohmann::json EntryJson(const service::MirrorEntry& e);
// The entries of the tree listing under |dir| ("" for the root): its direct children, or
// everything under it when |recursive|; nullopt when |dir| is not a directory.
std::optional<std::vector<const service::MirrorEntry*>> TreeEntries(const service::MirrorRepo& repo,
                                                                    const std::string& dir,
                                                                    bool recursive);

}  // namespace modeld::api::hub
