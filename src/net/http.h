// HTTP helpers shared by the engine and sources: header parsing, URL origin checks and
// the mappers from libcurl and HTTP status codes to Status.
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace modeld::net {

// Calls curl_global_init once per process. Safe to call many times.
void EnsureCurlGlobalInit();

// A decimal unsigned integer (surrounding spaces allowed), e.g. a Content-Length; nullopt
// for anything else, an overflow included. Never throws.
std::optional<uint64_t> ParseUint64(std::string_view text);

// True unless |content_encoding| (a Content-Encoding value) is empty or "identity": the
// body is then not the file's own bytes.
bool IsEncodedBody(std::string_view content_encoding);
// InvalidArgument naming the encoding and the URL: an encoded file is never installed.
Status EncodedBodyError(std::string_view content_encoding, std::string_view url);

// "Content-Range: bytes 0-99/1000" -> {0, 99, 1000}; total is nullopt for "/*".
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> ParseContentRange(std::string_view value);

// Retry-After as delta-seconds or an HTTP-date, relative to |now|, at most a day (a date
// in the past is 0). nullopt if unparsable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now);

// A header line "Name: value\r\n" split into a lower-cased name and trimmed value.
// Returns false for status lines and the blank line.
bool SplitHeaderLine(std::string_view line, std::string* name, std::string* value);

// Parses "HTTP/1.1 206 Partial Content" -> 206; 0 if not a status line.
int ParseStatusLine(std::string_view line);

// True when an ETag is weak (W/"...").
bool IsWeakEtag(std::string_view etag);

// scheme://host:port of an http(s) |url| with the default port filled in, lower-cased;
// empty if |url| does not parse or is not http(s). Two URLs with the same origin may
// share credentials.
std::string UrlOrigin(std::string_view url);

// |url| without its user:password and query (signed-URL tokens), for messages and logs.
// Returned as it is if it does not parse.
std::string UrlForMessages(std::string_view url);

// The path segments of |url|, percent-decoded; nullopt if it does not parse.
std::optional<std::vector<std::string>> UrlPathSegments(std::string_view url);

// The last path segment of |url|, percent-decoded, or "" if there is none.
std::string UrlFileName(std::string_view url);

// |text| percent-encoded for a URL: every byte but RFC 3986's unreserved characters (and
// '/' when |keep_slashes|, for a path) as %XX (Boost.URL's encode).
std::string PercentEncode(std::string_view text, bool keep_slashes = false);

// The filename from a Content-Disposition value (filename*=UTF-8'' preferred), or "".
std::string ContentDispositionFileName(std::string_view value);

// A "WWW-Authenticate: Bearer realm=...,service=...,scope=..." challenge (RFC 6750, as
// container registries send it); nullopt for another scheme or no realm. Parameter
// values may be quoted (with backslash escapes) or bare tokens.
struct BearerChallenge {
  std::string realm, service, scope;
};
std::optional<BearerChallenge> ParseBearerChallenge(std::string_view value);

// Maps a libcurl result to a Status: timeouts, resets and DNS failures are Unavailable (a
// time-out with reason::kUpstreamTimeout);
// TLS verification failures are PermissionDenied; write errors are IoError; a redirect
// loop (more than kMaxRedirects) is InvalidArgument saying "too many redirects".
Status CurlStatus(std::string_view context, CURLcode code);

// Maps an HTTP status to a Status: 404/410 NotFound, 401/403 PermissionDenied,
// 408/429/5xx Unavailable, other 4xx InvalidArgument.
Status HttpStatusToStatus(int http_status, std::string_view context);

// True for statuses worth retrying: 408, 425, 429, 500, 502, 503, 504.
bool IsRetryableHttpStatus(int http_status);

}  // namespace modeld::net
