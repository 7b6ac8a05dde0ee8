#include "net/fetch.h"

#include <algorithm>
#include <random>
#include <thread>

#include "core/log.h"
#include "core/time_format.h"
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

Result<FetchResponse> FetchRetrying(const std::string& url, const std::vector<std::string>& headers,
                                    const RetryBudget& budget) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto start = std::chrono::steady_clock::now();
  for (int attempt = 0;; ++attempt) {
    auto r = Fetch(url, headers, budget.timeout, false, budget.max_body);
    bool retry = false;
    std::optional<std::chrono::milliseconds> retry_after;
    if (!r.has_value()) {
      if (r.error().code() != Status::Code::kUnavailable) return r.error();
      retry = true;
    } else if (IsRetryableHttpStatus(r->status)) {
      retry = true;
      auto it = r->headers.find("retry-after");
      if (it != r->headers.end()) {
        retry_after = ParseRetryAfter(it->second, std::chrono::system_clock::now());
      }
    } else {
      return r;
    }
    const auto failing = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    const bool spent =
        failing >= budget.retry_for || (budget.max_retries >= 0 && attempt >= budget.max_retries);
    if (!retry || spent) {
      std::string why = "giving up after retrying for " + HumanDuration(failing) + " (" +
                        std::to_string(attempt + 1) + " attempts)";
      if (!r.has_value()) return r.error().WithContext(why);
      return Status::Unavailable(budget.upstream + " answered HTTP " + std::to_string(r->status) +
                                 " to " + url + "; " + why);
    }
    const auto left = budget.retry_for - failing;
    std::chrono::milliseconds wait;
    if (retry_after && retry_after->count() > 0) {
      wait = std::min(*retry_after, std::max(budget.max_backoff, left));
    } else {
      int64_t base = std::min<int64_t>(budget.max_backoff.count(), 500LL << std::min(attempt, 10));
      wait = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(base / 2, base)(rng));
      wait = std::min(wait, left);
    }
    log::Warn("{}: {}, retrying in {} (attempt {})", url,
              r.has_value() ? "HTTP " + std::to_string(r->status) : r.error().message(),
              HumanDuration(wait), attempt + 2);
    std::this_thread::sleep_for(wait);  // back-off, not sync
  }
}

}  // namespace modeld::net
