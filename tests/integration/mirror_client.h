// Clients of the Hub mirror for tests: a GET read as it arrives (counted and hashed, never
// kept whole, so 32 clients of a 256 MiB file fit), and reproducible file contents.
#pragma once

#include <curl/curl.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/checksum.h"

namespace modeld::testing {

// A GET read as it arrives: bytes counted and hashed, never kept whole.
struct StreamResult {
  long status = 0;
  uint64_t bytes = 0;
  std::string sha256;
  CURLcode rc = CURLE_OK;
  std::string headers;
};
inline StreamResult StreamGet(const std::string& url, const std::vector<std::string>& headers = {},
                              uint64_t abort_after = 0) {
  struct Sink {
    Hasher hasher{HashAlgorithm::kSha256};
    uint64_t bytes = 0, abort_after = 0;
    std::string headers;
  } sink;
  sink.abort_after = abort_after;
  CURL* c = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t, size_t n, void* ud) -> size_t {
        auto* s = static_cast<Sink*>(ud);
        s->hasher.Update(p, n);
        s->bytes += n;
        if (s->abort_after && s->bytes >= s->abort_after) return 0;  // the client goes away
        return n;
      });
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(
      c, CURLOPT_HEADERFUNCTION, +[](char* p, size_t, size_t n, void* ud) -> size_t {
        static_cast<Sink*>(ud)->headers.append(p, n);
        return n;
      });
  StreamResult r;
  r.rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.bytes = sink.bytes;
  r.sha256 = sink.hasher.FinishHex();
  r.headers = sink.headers;
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

inline std::string Sha256(const std::string& s) { return HashHex(HashAlgorithm::kSha256, s); }

inline std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = rng();
    std::memcpy(&s[i], &v, std::min<size_t>(4, n - i));
  }
  return s;
}

}  // namespace modeld::testing
