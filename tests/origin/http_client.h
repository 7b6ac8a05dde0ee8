// A small blocking HTTP client for tests (libcurl easy), so tests speak real HTTP.
#pragma once

#include <curl/curl.h>

#include <string>
#include <vector>

namespace modeld::testing {

struct HttpReply {
  long status = 0;
  std::string headers;
  std::string body;
  CURLcode rc = CURLE_OK;
  bool HasHeader(const std::string& line) const { return headers.find(line) != std::string::npos; }
};

// |method| "GET", "POST", "DELETE", "OPTIONS", "HEAD". |handle| reuses a connection
// across calls when given.
HttpReply HttpCall(const std::string& method, const std::string& url, const std::string& body = "",
                   const std::vector<std::string>& headers = {}, CURL* handle = nullptr,
                   long timeout_s = 30);

// Sends |bytes| as they are on a fresh connection to 127.0.0.1:|port| and returns
// everything the server writes until it closes the connection (or |timeout_ms| passes
// without a byte: then *timed_out is set when given). For framing tests that no client
// library would send.
std::string RawHttp(uint16_t port, const std::string& bytes, int timeout_ms = 5000,
                    bool* timed_out = nullptr);

}  // namespace modeld::testing
