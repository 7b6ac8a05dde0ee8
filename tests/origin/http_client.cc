#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http.h"

namespace modeld::testing {

HttpReply HttpCall(const std::string& method, const std::string& url, const std::string& body,
                   const std::vector<std::string>& headers, CURL* handle, long timeout_s) {
  net::EnsureCurlGlobalInit();
  HttpReply r;
  CURL* e = handle ? handle : curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(e, CURLOPT_NOBODY, method == "HEAD" ? 1L : 0L);
  if (method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  } else if (method != "GET" && method != "HEAD") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty()) {  // DELETE /api/delete {"model"}, PUT bodies
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
  }
  auto append = +[](char* d, size_t s, size_t n, void* u) {
    static_cast<std::string*>(u)->append(d, s * n);
    return s * n;
  };
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, append);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &r.headers);
  r.rc = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, nullptr);
  // A reused handle forgets the body (setting it implies POST: reset that after).
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, -1L);
  curl_easy_setopt(e, CURLOPT_POST, 0L);
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_slist_free_all(list);
  if (!handle) curl_easy_cleanup(e);
  return r;
}

std::string RawHttp(uint16_t port, const std::string& bytes, int timeout_ms, bool* timed_out) {
  if (timed_out) *timed_out = false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r == 0) {
      if (timed_out) *timed_out = true;
      break;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace modeld::testing
