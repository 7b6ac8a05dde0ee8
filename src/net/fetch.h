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

// How long FetchRetrying keeps trying an API call that fails.
struct RetryBudget {
  std::chrono::milliseconds timeout{15000};  // each attempt
  // Retried until failing for retry_for, waits growing to max_backoff (a Retry-After is
  // honoured within the budget); max_retries >= 0 also bounds the tries.
  std::chrono::milliseconds retry_for{120'000};
  int max_retries = -1;
  std::chrono::milliseconds max_backoff{15'000};
  std::string upstream = "the upstream";  // for messages: "the Hub answered HTTP 503 ..."
  size_t max_body = 64 << 20;             // a longer body is InvalidArgument
};

// Fetch (no redirects followed), retrying 429, 5xx and network failures (Unavailable),
// each retry logged; other answers, whatever their status, are returned as they are.
// Unavailable once the budget is spent. Blocks, sleeping between tries.
Result<FetchResponse> FetchRetrying(const std::string& url, const std::vector<std::string>& headers,
                                    const RetryBudget& budget);

// The URL of rel="next" in a Link header, or "".
std::string NextLink(const std::string& link_header);

}  // namespace modeld::net
