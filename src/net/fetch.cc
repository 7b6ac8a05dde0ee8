#include "net/fetch.h"

#include <algorithm>

#include "net/curl_setup.h"
#include "net/http.h"

namespace modeld::net {

namespace {

struct FetchState {
  FetchResponse* res;
  size_t max_body;
  bool too_big = false;
};

size_t OnHeader(char* d, size_t s, size_t n, void* u) {
  auto& st = *static_cast<FetchState*>(u);
  std::string_view line(d, s * n);
  if (int code = ParseStatusLine(line)) {
    st.res->status = code;
    st.res->headers.clear();
    return s * n;
  }
  std::string name, value;
  if (SplitHeaderLine(line, &name, &value)) st.res->headers[name] = value;
  return s * n;
}

size_t OnBody(char* d, size_t s, size_t n, void* u) {
  auto& st = *static_cast<FetchState*>(u);
  if (st.res->body.size() + s * n > st.max_body) {
    st.too_big = true;
    return 0;
  }
  st.res->body.append(d, s * n);
  return s * n;
}

}  // namespace

Result<FetchResponse> Fetch(const std::string& url, const std::vector<std::string>& headers,
                            std::chrono::milliseconds timeout, bool follow, size_t max_body) {
  if (UrlOrigin(url).empty()) return Status::InvalidArgument("not an http(s) URL: '" + url + "'");
  FetchResponse res;
  FetchState st{&res, max_body};
  CURL* e = curl_easy_init();
  if (e == nullptr) return Status::Internal("curl_easy_init failed");
  UpstreamGuard guard;
  UpstreamRequestOptions opt;
  opt.follow_redirects = follow;
  opt.connect_timeout = std::min(timeout, opt.connect_timeout);
  opt.timeout = timeout;
  opt.abortable = true;
  SetUpUpstreamHandle(e, opt, &guard);
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  // API answers (JSON): curl decodes a compressed one, should a server send it anyway.
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity");
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &st);
  CURLcode rc = curl_easy_perform(e);
  Status status = UpstreamStatus("GET " + url, rc, guard);
  curl_slist_free_all(list);
  curl_easy_cleanup(e);
  if (st.too_big)
    return Status::InvalidArgument("response from " + url + " is over the size limit");
  if (!status.ok()) return status;
  return res;
}

std::string NextLink(const std::string& link) {
  // <https://...>; rel="next", <...>; rel="prev"
  size_t pos = 0;
  while (pos < link.size()) {
    size_t lt = link.find('<', pos), gt = link.find('>', lt);
    if (lt == std::string::npos || gt == std::string::npos) return "";
    size_t end = link.find(',', gt);
    std::string params =
        link.substr(gt + 1, end == std::string::npos ? std::string::npos : end - gt - 1);
    if (params.find("rel=\"next\"") != std::string::npos ||
        params.find("rel=next") != std::string::npos) {
      return link.substr(lt + 1, gt - lt - 1);
    }
    if (end == std::string::npos) return "";
    pos = end + 1;
  }
  return "";
}

}  // namespace modeld::net
