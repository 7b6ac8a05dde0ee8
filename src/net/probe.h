// Probe: asks a URL for its size without downloading it (GET with Range: bytes=0-0,
// which works for signed URLs that refuse HEAD), following redirects.
//
// Thread safety: blocking; call from a worker thread, not an event loop.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace modeld::net {

struct ProbeResult {
  std::optional<uint64_t> size;
  std::string effective_url;
  std::string file_name;  // from Content-Disposition, if the server sent one
};

// NotFound (404/410), PermissionDenied (401/403, TLS, an address the upstream policy
// refuses), Unavailable (network, 5xx), InvalidArgument (not an http(s) URL, a redirect
// loop, a Content-Encoding other than identity). |headers| go only to |url|'s own origin.
Result<ProbeResult> Probe(const std::string& url, const std::vector<std::string>& headers,
                          bool verify_ssl, std::chrono::milliseconds timeout);

}  // namespace modeld::net
