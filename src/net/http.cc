#include "net/http.h"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>
#include <ctime>
#include <mutex>

#include "core/error_reasons.h"
#include "net/curl_setup.h"

namespace modeld::net {

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

static std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

static std::optional<uint64_t> ParseU64(std::string_view s) {
  s = Trim(s);
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> ParseUint64(std::string_view text) { return ParseU64(text); }

bool IsEncodedBody(std::string_view content_encoding) {
  std::string_view v = Trim(content_encoding);
  if (v.empty()) return false;
  std::string lower(v);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower != "identity";
}

Status EncodedBodyError(std::string_view content_encoding, std::string_view url) {
  return Status::InvalidArgument("the server sent " + UrlForMessages(url) +
                                 " with Content-Encoding: " + std::string(Trim(content_encoding)) +
                                 "; modeld never asks for an encoding and installs only a "
                                 "file's own bytes, so it refuses the encoded body");
}

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  value = Trim(value);
  constexpr std::string_view kBytes = "bytes";
  if (value.size() < kBytes.size() || value.substr(0, kBytes.size()) != kBytes) {
    return std::nullopt;
  }
  value = Trim(value.substr(kBytes.size()));
  size_t dash = value.find('-');
  size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return std::nullopt;
  }
  auto first = ParseU64(value.substr(0, dash));
  auto last = ParseU64(value.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) return std::nullopt;
  ContentRange cr{*first, *last, std::nullopt};
  std::string_view total = Trim(value.substr(slash + 1));
  if (total != "*") {
    auto t = ParseU64(total);
    if (!t || *t <= *last) return std::nullopt;
    cr.total = *t;
  }
  return cr;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = Trim(value);
  if (auto secs = ParseU64(value)) {
    return std::chrono::milliseconds(std::min<uint64_t>(*secs, 86400) * 1000);
  }
  std::tm tm{};
  std::string s(value);
  if (::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
  // In milliseconds, not system_clock's nanoseconds, which overflow past 2262 (any year
  // up to 9999 parses); capped at a day like delta-seconds.
  int64_t when_ms = static_cast<int64_t>(::timegm(&tm)) * 1000;
  int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return std::chrono::milliseconds(std::clamp<int64_t>(when_ms - now_ms, 0, int64_t{86400} * 1000));
}

bool SplitHeaderLine(std::string_view line, std::string* name, std::string* value) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (line.substr(0, 5) == "HTTP/") return false;
  name->assign(Trim(line.substr(0, colon)));
  std::transform(name->begin(), name->end(), name->begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  value->assign(Trim(line.substr(colon + 1)));
  return true;
}

int ParseStatusLine(std::string_view line) {
  if (line.substr(0, 5) != "HTTP/") return 0;
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return 0;
  auto code = ParseU64(line.substr(sp + 1, 3));
  return code ? static_cast<int>(*code) : 0;
}

bool IsWeakEtag(std::string_view etag) { return etag.substr(0, 2) == "W/"; }

std::string UrlOrigin(std::string_view url) {
  auto r = boost::urls::parse_uri(url);  // absolute, a #fragment allowed
  if (!r) return {};
  const auto& u = *r;
  std::string scheme(u.scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string host(u.encoded_host());
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") return {};
  if (u.encoded_host().empty()) return {};
  std::string port(u.port());
  if (port.empty()) port = scheme == "https" ? "443" : "80";
  return scheme + "://" + host + ":" + port;
}

std::string UrlForMessages(std::string_view url) {
  auto r = boost::urls::parse_absolute_uri(url);
  if (!r) return std::string(url);
  boost::urls::url u(*r);
  u.remove_userinfo();
  u.remove_query();
  u.remove_fragment();
  return std::string(u.buffer());
}

std::optional<std::vector<std::string>> UrlPathSegments(std::string_view url) {
  auto r = boost::urls::parse_uri_reference(url);
  if (!r) return std::nullopt;
  std::vector<std::string> out;
  for (auto s : r->segments()) out.emplace_back(s);
  return out;
}

std::string UrlFileName(std::string_view url) {
  auto segs = UrlPathSegments(url);
  return segs && !segs->empty() ? segs->back() : std::string();
}

std::string PercentEncode(std::string_view text, bool keep_slashes) {
  static constexpr auto kPath = boost::urls::unreserved_chars + '/';
  return boost::urls::encode(text, keep_slashes ? kPath : boost::urls::unreserved_chars);
}

std::string ContentDispositionFileName(std::string_view value) {
  auto find_param = [&](std::string_view key) -> std::string {
    std::string lower(value);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t pos = 0;
    while ((pos = lower.find(key, pos)) != std::string::npos) {
      bool at_start = pos == 0 || lower[pos - 1] == ';' || lower[pos - 1] == ' ';
      size_t eq = pos + key.size();
      if (at_start && eq < lower.size() && lower[eq] == '=') {
        std::string_view v = value.substr(eq + 1);
        size_t end = v.find(';');
        v = Trim(v.substr(0, end));
        if (v.size() >= 2 && v.front() == '"') {
          v = v.substr(1);
          size_t q = v.find('"');
          v = v.substr(0, q);
        }
        return std::string(v);
      }
      pos = eq;
    }
    return {};
  };
  std::string ext = find_param("filename*");
  if (!ext.empty()) {
    size_t quote = ext.find("''");
    std::string encoded = quote == std::string::npos ? ext : ext.substr(quote + 2);
    std::string out;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (size_t i = 0; i < encoded.size(); ++i) {
      int hi = i + 2 < encoded.size() && encoded[i] == '%' ? hex(encoded[i + 1]) : -1;
      int lo = hi >= 0 ? hex(encoded[i + 2]) : -1;
      if (lo >= 0) {  // "%zz" or a cut-off "%4" stays as it is: the name is then refused
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        out.push_back(encoded[i]);
      }
    }
    return out;
  }
  return find_param("filename");
}

Status CurlStatus(std::string_view context, CURLcode code) {
  std::string msg = std::string(context) + ": " + curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK:
      return Status::OK();
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status::InvalidArgument(msg);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return Status::PermissionDenied(msg);
    case CURLE_WRITE_ERROR:
      return Status::IoError(msg);
    case CURLE_TOO_MANY_REDIRECTS:
      return Status::InvalidArgument(std::string(context) + ": too many redirects (more than " +
                                     std::to_string(kMaxRedirects) + "); a redirect loop?");
    case CURLE_ABORTED_BY_CALLBACK:
      return Status::Cancelled(msg);
    case CURLE_OPERATION_TIMEDOUT:
      return Status::Unavailable(msg).WithInfo({reason::kUpstreamTimeout, {}});
    default:
      return Status::Unavailable(msg);
  }
}

std::optional<BearerChallenge> ParseBearerChallenge(std::string_view v) {
  auto skip_space = [&] {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  };
  skip_space();
  constexpr std::string_view kScheme = "bearer";
  if (v.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return std::nullopt;
  }
  v.remove_prefix(kScheme.size());
  if (!v.empty() && v.front() != ' ' && v.front() != '\t') return std::nullopt;
  BearerChallenge out;
  while (true) {
    skip_space();
    while (!v.empty() && v.front() == ',') {
      v.remove_prefix(1);
      skip_space();
    }
    if (v.empty()) break;
    size_t eq = v.find('=');
    if (eq == v.npos) break;
    std::string key(v.substr(0, eq));
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    v.remove_prefix(eq + 1);
    skip_space();
    std::string value;
    if (!v.empty() && v.front() == '"') {
      v.remove_prefix(1);
      bool closed = false;
      while (!v.empty()) {
        char c = v.front();
        v.remove_prefix(1);
        if (c == '\\' && !v.empty()) {
          value += v.front();
          v.remove_prefix(1);
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      size_t end = v.find(',');
      value = std::string(v.substr(0, end));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      v.remove_prefix(end == v.npos ? v.size() : end);
    }
    if (key == "realm") out.realm = value;
    if (key == "service") out.service = value;
    if (key == "scope") out.scope = value;
  }
  if (out.realm.empty()) return std::nullopt;
  return out;
}

Status HttpStatusToStatus(int http_status, std::string_view context) {
  std::string msg = std::string(context) + ": HTTP " + std::to_string(http_status);
  if (http_status == 404 || http_status == 410) return Status::NotFound(msg);
  if (http_status == 401 || http_status == 403) return Status::PermissionDenied(msg);
  if (IsRetryableHttpStatus(http_status) || http_status >= 500) return Status::Unavailable(msg);
  if (http_status >= 400) return Status::InvalidArgument(msg);
  return Status::Internal(msg + " (unexpected)");
}

bool IsRetryableHttpStatus(int s) {
  return s == 408 || s == 425 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

}  // namespace modeld::net
