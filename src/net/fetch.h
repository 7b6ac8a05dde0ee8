// Fetch: one small blocking HTTP GET (API calls, not file downloads), with the response
// headers. Redirects are followed only when |follow| is set.
//
// Thread safety: blocking; call from a worker thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace modeld::net {

struct FetchResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  std::string body;
};

// Unavailable on a transport error, PermissionDenied when the upstream policy refuses the
// address (net/upstream_policy.h); an HTTP error status is returned, not an error.
// Bodies over |max_body| bytes are an error (InvalidArgument).
Result<FetchResponse> Fetch(const std::string& url, const std::vector<std::string>& headers,
                            std::chrono::milliseconds timeout, bool follow = false,
                            size_t max_body = 64 << 20);

// The URL of rel="next" in a Link header, or "".
std::string NextLink(const std::string& link_header);

}  // namespace modeld::net
