#include "net/probe.h"

#include "net/http.h"

namespace modeld::net {

namespace {

struct ProbeState {
  int status = 0;
  std::string content_range, content_length, disposition;
};

size_t ProbeHeader(char* d, size_t s, size_t n, void* u) {
  auto& st = *static_cast<ProbeState*>(u);
  std::string_view line(d, s * n);
  if (int code = ParseStatusLine(line)) {
    st = ProbeState{code, "", "", ""};
    return s * n;
  }
  std::string name, value;
  if (SplitHeaderLine(line, &name, &value)) {
    if (name == "content-range") st.content_range = value;
    if (name == "content-length") st.content_length = value;
    if (name == "content-disposition") st.disposition = value;
  }
  return s * n;
}

size_t DiscardBody(char*, size_t, size_t, void*) { return 0; }

}  // namespace

Result<ProbeResult> Probe(const std::string& url, const std::vector<std::string>& headers,
                          bool verify_ssl, std::chrono::milliseconds timeout) {
  if (UrlOrigin(url).empty()) return Status::InvalidArgument("not an http(s) URL: '" + url + "'");
  EnsureCurlGlobalInit();
  CURL* e = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  ProbeState st;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_RANGE, "0-0");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(e, CURLOPT_USERAGENT, "modeld/0.1");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify_ssl ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify_ssl ? 2L : 0L);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &ProbeHeader);
  // A body that ignores the range is not wanted: stop at its first byte.
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &DiscardBody);
  CURLcode rc = curl_easy_perform(e);
  ProbeResult out;
  char* eff = nullptr;
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff) out.effective_url = eff;
  out.file_name = ContentDispositionFileName(st.disposition);
  curl_slist_free_all(list);
  curl_easy_cleanup(e);
  if (st.status == 206) {
    if (auto cr = ParseContentRange(st.content_range)) out.size = cr->total;
    return out;
  }
  if (st.status == 200) {
    try {
      if (!st.content_length.empty()) out.size = std::stoull(st.content_length);
    } catch (...) {
    }
    return out;
  }
  if (st.status == 416) {  // an empty file
    out.size = 0;
    return out;
  }
  if (st.status != 0) {
    if (st.status == 404 || st.status == 410) {
      return Status::NotFound("not found: " + url + " (HTTP " + std::to_string(st.status) + ")");
    }
    return HttpStatusToStatus(st.status, "GET " + url);
  }
  return CurlStatus("GET " + url, rc);
}

}  // namespace modeld::net
