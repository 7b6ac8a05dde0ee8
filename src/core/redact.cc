#include "core/redact.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/text.h"

namespace modeld {

namespace {

// |s| with its %XX escapes decoded (others left as they are), as a server reads a name.
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = s[i] == '%' && i + 2 < s.size() ? HexDigitValue(s[i + 1]) : -1;
    int lo = hi >= 0 ? HexDigitValue(s[i + 2]) : -1;
    if (lo >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

constexpr std::array<std::string_view, 13> kCredentialNames = {"token",
                                                               "access_token",
                                                               "api_key",
                                                               "apikey",
                                                               "key",
                                                               "password",
                                                               "passwd",
                                                               "secret",
                                                               "signature",
                                                               "sig",
                                                               "x-amz-signature",
                                                               "x-amz-credential",
                                                               "x-amz-security-token"};

// Whether the query parameter |name| (as written: "%74oken" is "token") carries a secret.
bool IsSecretParam(std::string_view name) {
  std::string n = PercentDecode(name);
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(kCredentialNames.begin(), kCredentialNames.end(), n) != kCredentialNames.end();
}

// Redacts the values of secret parameters in |query| (without the '?').
std::string RedactQuery(std::string_view query) {
  std::string out;
  size_t i = 0;
  while (i <= query.size()) {
    size_t amp = query.find('&', i);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(i, amp - i);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && IsSecretParam(pair.substr(0, eq))) {
      out.append(pair.substr(0, eq + 1)).append("***");
    } else {
      out.append(pair);
    }
    if (amp < query.size()) out.push_back('&');
    i = amp + 1;
  }
  return out;
}

std::string RedactPathAndQuery(std::string_view rest) {
  size_t q = rest.find('?');
  if (q == std::string_view::npos) return std::string(rest);
  size_t hash = rest.find('#', q);
  std::string_view query =
      rest.substr(q + 1, hash == std::string_view::npos ? std::string_view::npos : hash - q - 1);
  std::string out(rest.substr(0, q + 1));
  out += RedactQuery(query);
  if (hash != std::string_view::npos) out.append(rest.substr(hash));
  return out;
}

}  // namespace

std::span<const std::string_view> CredentialParameterNames() { return kCredentialNames; }

std::string RedactUrl(std::string_view url) {
  size_t sep = url.find("://");
  // A "://" inside the query or fragment starts no authority ("http:h?token=a&u=https://x").
  if (sep == std::string_view::npos ||
      url.substr(0, sep).find_first_of("?#") != std::string_view::npos) {
    return RedactTarget(url);
  }
  size_t auth_start = sep + 3;
  size_t auth_end = url.find_first_of("/?#", auth_start);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  std::string_view authority = url.substr(auth_start, auth_end - auth_start);
  std::string out(url.substr(0, auth_start));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    out += "***@";
    authority = authority.substr(at + 1);
  }
  out.append(authority);
  out += RedactPathAndQuery(url.substr(auth_end));
  return out;
}

std::string RedactTarget(std::string_view target) { return RedactPathAndQuery(target); }

std::string RedactText(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t http = text.find("http", i);
    if (http == std::string_view::npos) break;
    std::string_view rest = text.substr(http);
    size_t scheme = rest.rfind("https://", 0) == 0 ? 8 : rest.rfind("http://", 0) == 0 ? 7 : 0;
    if (scheme == 0) {
      out.append(text.substr(i, http + 4 - i));
      i = http + 4;
      continue;
    }
    size_t end = rest.find_first_of(" \t\r\n\"'<>)", scheme);
    if (end == std::string_view::npos) end = rest.size();
    // Punctuation closing a sentence is not part of the URL ("GET https://h/x: HTTP 404").
    while (end > scheme && std::string_view(":,.;").find(rest[end - 1]) != std::string_view::npos)
      --end;
    out.append(text.substr(i, http - i));
    out += RedactUrl(rest.substr(0, end));
    i = http + end;
  }
  if (i < text.size()) out.append(text.substr(i));
  return out;
}

}  // namespace modeld
