#include "cli/server_client.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "cli/exit_codes.h"
#include "core/json.h"
#include "service/open.h"

namespace modeld::cli {

namespace {

size_t Append(char* d, size_t s, size_t n, void* u) {
  static_cast<std::string*>(u)->append(d, s * n);
  return s * n;
}

struct SseState {
  std::string buffer;
  const std::function<bool(const std::string&, const nlohmann::json&)>* fn;
  bool stop = false;
};

// Splits the stream into events ("event: x\ndata: {...}\n\n") as bytes arrive.
size_t SseWrite(char* d, size_t s, size_t n, void* u) {
  auto& st = *static_cast<SseState*>(u);
  st.buffer.append(d, s * n);
  size_t end;
  while ((end = st.buffer.find("\n\n")) != std::string::npos) {
    std::string block = st.buffer.substr(0, end);
    st.buffer.erase(0, end + 2);
    std::string name = "message", data;
    size_t pos = 0;
    while (pos < block.size()) {
      size_t nl = block.find('\n', pos);
      std::string line = block.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? block.size() : nl + 1;
      if (line.rfind("event: ", 0) == 0) name = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data += line.substr(6);
    }
    if (data.empty()) continue;  // a comment
    auto j = ParseJsonOrDiscarded(data);
    if (!(*st.fn)(name, j)) {
      st.stop = true;
      return 0;
    }
  }
  return s * n;
}

}  // namespace

ServerClient::ServerClient(std::string base, std::string token)
    : base_(std::move(base)), token_(std::move(token)) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

std::optional<ServerClient> ServerClient::Discover() {
  const char* url = std::getenv("MODELD_URL");
  const char* token = std::getenv("MODELD_TOKEN");
  ServerClient c(url && *url ? url : "http://127.0.0.1:8000", token ? token : "");
  auto r = c.Get("/healthz", 300);
  if (r.status == 200 && r.body.value("status", "") == "ok") return c;
  return std::nullopt;
}

static CURL* NewHandle(const std::string& url, const std::string& token, curl_slist** headers,
                       long timeout_ms) {
  // A local server, not an upstream: no proxy, no address policy.
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  *headers = curl_slist_append(*headers, "Content-Type: application/json");
  if (!token.empty())
    *headers = curl_slist_append(*headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
  return e;
}

static ServerClient::Reply Finish(CURL* e, curl_slist* headers, const std::string& body) {
  ServerClient::Reply r;
  CURLcode rc = curl_easy_perform(e);
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
  return r;
}

ServerClient::Reply ServerClient::Get(const std::string& path, long timeout_ms) const {
  curl_slist* headers = nullptr;
  CURL* e = NewHandle(base_ + path, token_, &headers, timeout_ms);
  std::string out;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
  Reply r = Finish(e, headers, out);
  r.body = ParseJsonOrDiscarded(out);
  return r;
}

ServerClient::Reply ServerClient::Post(const std::string& path, const nlohmann::json& body,
                                       long timeout_ms) const {
  return Send("POST", path, body, timeout_ms);
}

ServerClient::Reply ServerClient::Patch(const std::string& path, const nlohmann::json& body,
                                        long timeout_ms) const {
  return Send("PATCH", path, body, timeout_ms);
}

ServerClient::Reply ServerClient::Send(const char* method, const std::string& path,
                                       const nlohmann::json& body, long timeout_ms) const {
  curl_slist* headers = nullptr;
  CURL* e = NewHandle(base_ + path, token_, &headers, timeout_ms);
  std::string payload = body.dump(), out;
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload.c_str());
  if (std::string_view(method) != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
  Reply r = Finish(e, headers, out);
  r.body = ParseJsonOrDiscarded(out);
  return r;
}

ServerClient::Reply ServerClient::Delete(const std::string& path, long timeout_ms) const {
  curl_slist* headers = nullptr;
  CURL* e = NewHandle(base_ + path, token_, &headers, timeout_ms);
  std::string out;
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
  Reply r = Finish(e, headers, out);
  r.body = ParseJsonOrDiscarded(out);
  return r;
}

bool ServerClient::Events(
    const std::string& path,
    const std::function<bool(const std::string&, const nlohmann::json&)>& on_event) const {
  curl_slist* headers = nullptr;
  CURL* e = NewHandle(base_ + path, token_, &headers, 0);
  SseState st{"", &on_event};
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &SseWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &st);
  Reply r = Finish(e, headers, "");
  return st.stop || r.error.empty();
}

namespace {

bool SameDirectory(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a, b, ec)) return true;
  return std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

}  // namespace

std::variant<int, bool> UseServer(const char* command, const std::string& data_dir, bool quiet,
                                  const ServerClient& server) {
  auto v = server.Get("/version", 2000);
  if (v.status == 401 || v.status == 403) {
    std::fprintf(stderr,
                 "modeld %s: the modeld server at %s %s; set MODELD_TOKEN to its token, or "
                 "use --local to work in this process\n",
                 command, server.base().c_str(),
                 server.has_token() ? "refused the token in MODELD_TOKEN" : "needs a token");
    return kExitPermission;
  }
  std::filesystem::path ours = service::DataDirFor(data_dir);
  std::string theirs;
  if (v.status == 200 && v.body.is_object() && v.body.contains("data_dir") &&
      v.body["data_dir"].is_string()) {
    theirs = v.body["data_dir"].get<std::string>();
  }
  if (!theirs.empty() && SameDirectory(theirs, ours)) return true;
  if (!quiet) {
    std::string why = theirs.empty() ? "does not say which data directory it uses"
                                     : "uses " + theirs + ", not " + ours.string();
    std::fprintf(stderr, "modeld %s: the modeld server at %s %s: %s in this process\n", command,
                 server.base().c_str(), why.c_str(),
                 std::string_view(command) == "pull" ? "downloading" : "working");
  }
  return false;
}

Status ServerFailure(const nlohmann::json& f, const std::string& message, Status::Code fallback) {
  auto code = Status::CodeFromName(f.value("error_code", std::string()));
  Status s = Status::FromCode(code && *code != Status::Code::kOk ? *code : fallback, message);
  const auto detail = f.find("error_detail");
  if (detail == f.end() || !detail->is_object() || !detail->contains("reason") ||
      !(*detail)["reason"].is_string()) {
    return s;
  }
  Status::Info info{(*detail)["reason"].get<std::string>(), {}};
  for (const auto& [k, v] : detail->items()) {
    if (k != "reason" && v.is_string()) info.fields[k] = v.get<std::string>();
  }
  return s.WithInfo(std::move(info));
}

}  // namespace modeld::cli
