#include "net/probe.h"

#include <algorithm>

#include "core/error_reasons.h"
#include "net/curl_setup.h"
#include "net/http.h"

namespace modeld::net {

namespace {

struct ProbeState {
  int status = 0;
  std::string content_range, content_length, disposition, content_encoding;
};

size_t ProbeHeader(char* d, size_t s, size_t n, void* u) {
  auto& st = *static_cast<ProbeState*>(u);
  std::string_view line(d, s * n);
  if (int code = ParseStatusLine(line)) {
    st = ProbeState{code, "", "", "", ""};
    return s * n;
  }
  std::string name, value;
  if (SplitHeaderLine(line, &name, &value)) {
    if (name == "content-range") st.content_range = value;
    if (name == "content-length") st.content_length = value;
    if (name == "content-disposition") st.disposition = value;
    if (name == "content-encoding") st.content_encoding = value;
  }
  return s * n;
}

size_t DiscardBody(char*, size_t, size_t, void*) { return 0; }

}  // namespace

Result<ProbeResult> Probe(const std::string& url, const std::vector<std::string>& headers,
                          bool verify_ssl, std::chrono::milliseconds timeout) {
  if (UrlOrigin(url).empty()) return Status::InvalidArgument("not an http(s) URL: '" + url + "'");
  CURL* e = curl_easy_init();
  if (e == nullptr) return Status::Internal("curl_easy_init failed");
  UpstreamGuard guard;
  UpstreamRequestOptions opt;
  opt.verify_ssl = verify_ssl;
  opt.connect_timeout = std::min(timeout, opt.connect_timeout);
  opt.timeout = timeout;
  opt.abortable = true;
  SetUpUpstreamHandle(e, opt, &guard);
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  ProbeState st;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_RANGE, "0-0");
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &ProbeHeader);
  // A body that ignores the range is not wanted: stop at its first byte.
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &DiscardBody);
  CURLcode rc = curl_easy_perform(e);
  Status transport = UpstreamStatus("GET " + url, rc, guard);
  ProbeResult out;
  char* eff = nullptr;
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff) out.effective_url = eff;
  out.file_name = ContentDispositionFileName(st.disposition);
  curl_slist_free_all(list);
  curl_easy_cleanup(e);
  if (transport.code() == Status::Code::kPermissionDenied ||
      transport.code() == Status::Code::kInvalidArgument) {
    return transport;  // refused by the upstream policy, a redirect loop, TLS
  }
  if ((st.status == 200 || st.status == 206) && IsEncodedBody(st.content_encoding)) {
    return EncodedBodyError(st.content_encoding, url);
  }
  if (st.status == 206) {
    if (auto cr = ParseContentRange(st.content_range)) out.size = cr->total;
    return out;
  }
  if (st.status == 200) {
    out.size = ParseUint64(st.content_length);
    return out;
  }
  if (st.status == 416) {  // an empty file
    out.size = 0;
    return out;
  }
  if (st.status != 0) {
    if (st.status == 404 || st.status == 410) {
      return Status::NotFound("not found: " + url + " (HTTP " + std::to_string(st.status) + ")")
          .WithInfo({reason::kHttpStatus, {{"url", url}, {"status", std::to_string(st.status)}}});
    }
    return HttpStatusToStatus(st.status, "GET " + url);
  }
  return transport;
}

}  // namespace modeld::net
