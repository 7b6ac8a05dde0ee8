#include "sources/ollama.h"

#include <cstdlib>
#include <map>

#include "core/error_reasons.h"
#include "core/json.h"
#include "core/log.h"
#include "net/fetch.h"
#include "net/http.h"

namespace modeld::sources {

namespace {

constexpr size_t kMaxManifestBytes = 4 << 20;

// The registry's base URL for |name|.
std::string RegistryBase(const OllamaName& name, bool insecure, const OllamaConfig& config) {
  if (name.host == kOllamaDefaultHost) {
    std::string base = config.registry;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
  }
  return (insecure ? "http://" : "https://") + name.host;
}

// An anonymous token for a Bearer challenge: GET realm?service=..&scope=.. -> {"token"}
// (or "access_token"). "" when none is given, or when the realm is not on the registry's
// own origin (as Ollama requires: a registry cannot send modeld to another host).
std::string AnonymousToken(const net::BearerChallenge& ch, const std::string& base,
                           const OllamaConfig& config) {
  if (net::UrlOrigin(ch.realm).empty() || net::UrlOrigin(ch.realm) != net::UrlOrigin(base)) {
    log::Warn("ollama: ignoring a token realm on another origin than {}",
              net::UrlForMessages(base));
    return "";
  }
  std::string url = ch.realm;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "service=" + net::PercentEncode(ch.service);
  if (!ch.scope.empty()) url += "&scope=" + net::PercentEncode(ch.scope);
  auto r = net::Fetch(url, {"Accept: application/json"}, config.timeout, false, 1 << 20);
  if (!r.has_value() || r->status != 200) return "";
  nlohmann::json j = ParseJsonOrDiscarded(r->body);
  for (const char* key : {"token", "access_token"}) {
    if (j.is_object() && j.contains(key) && j[key].is_string()) {
      std::string t = j[key].get<std::string>();
      // A header value: no line breaks.
      if (t.find_first_of("\r\n") == std::string::npos && t.size() < 16384) return t;
    }
  }
  return "";
}

}  // namespace

OllamaConfig OllamaConfig::FromEnvironment() {
  OllamaConfig c;
  if (const char* r = std::getenv("OLLAMA_REGISTRY"); r && *r) c.registry = r;
  return c;
}

std::string OllamaBlobPath(std::string_view media_type, bool is_config) {
  if (is_config) return "config";
  constexpr std::string_view kPrefix = "application/vnd.ollama.image.";
  if (media_type.substr(0, kPrefix.size()) != kPrefix) return "layer";
  std::string_view kind = media_type.substr(kPrefix.size());
  if (kind == "model" || kind == "projector" || kind == "adapter") {
    return std::string(kind) + ".gguf";
  }
  std::string out;
  for (char c : kind) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') out += c;
  }
  if (out.empty() || out.size() > 64) return "layer";
  return out;
}

Result<Plan> ResolveOllama(const OllamaName& name, bool insecure, const OllamaConfig& config) {
  if (name.OnHub()) {
    return Status::InvalidArgument("'" + name.Full() +
                                   "' is a Hugging Face name, not a registry's");
  }
  auto ref = name.ToModelRef();
  if (!ref.has_value()) return ref.error();
  const std::string base = RegistryBase(name, insecure, config);
  const std::string repo = name.ns + "/" + name.model;
  const std::string url = base + "/v2/" + repo + "/manifests/" + name.tag;
  net::RetryBudget budget;
  budget.timeout = config.timeout;
  budget.retry_for = config.retry_for;
  budget.upstream = "the Ollama registry";
  budget.max_body = kMaxManifestBytes;
  std::vector<std::string> headers = {"Accept: " + std::string(kOllamaManifestType)};
  auto r = net::FetchRetrying(url, headers, budget);
  if (!r.has_value()) return r.error().WithContext("pull model manifest");
  std::string token;
  if (r->status == 401) {
    auto it = r->headers.find("www-authenticate");
    std::optional<net::BearerChallenge> ch;
    if (it != r->headers.end()) ch = net::ParseBearerChallenge(it->second);
    if (ch) token = AnonymousToken(*ch, base, config);
    if (!token.empty()) {
      auto with = headers;
      with.push_back("Authorization: Bearer " + token);
      r = net::FetchRetrying(url, with, budget);
      if (!r.has_value()) return r.error().WithContext("pull model manifest");
    }
  }
  auto http_info = [&](int status) {
    return Status::Info{reason::kHttpStatus,
                        {{"url", net::UrlForMessages(url)}, {"status", std::to_string(status)}}};
  };
  if (r->status == 404) {
    return Status::NotFound("pull model manifest: file does not exist")
        .WithInfo(http_info(r->status));
  }
  if (r->status == 401 || r->status == 403) {
    return Status::PermissionDenied("pull model manifest: the registry refused access to '" +
                                    name.Shortest() + "' (HTTP " + std::to_string(r->status) +
                                    "): the model is private or needs credentials")
        .WithInfo(http_info(r->status));
  }
  if (r->status != 200) {
    return net::HttpStatusToStatus(r->status, "pull model manifest " + net::UrlForMessages(url))
        .WithInfo(http_info(r->status));
  }
  auto manifest = ParseOllamaManifest(r->body);
  if (!manifest.has_value()) return manifest.error();

  Plan plan;
  plan.source = "ollama";
  plan.description = "Ollama model " + name.Shortest();
  nlohmann::json blobs = nlohmann::json::array();
  std::map<std::string, int> seen;
  std::vector<std::pair<const OllamaBlob*, bool>> all = {{&manifest->config, true}};
  for (const auto& l : manifest->layers) all.push_back({&l, false});
  for (const auto& [blob, is_config] : all) {
    std::string path = OllamaBlobPath(blob->media_type, is_config);
    if (int n = ++seen[path]; n > 1) {
      const size_t dot = path.rfind('.');
      const std::string suffix = "-" + std::to_string(n);
      path = dot == std::string::npos ? path + suffix
                                      : path.substr(0, dot) + suffix + path.substr(dot);
    }
    PlannedFile f;
    f.path = path;
    f.url = base + "/v2/" + repo + "/blobs/sha256:" + blob->sha256;
    f.size = blob->size;
    f.sha256 = blob->sha256;
    f.checksum = Checksum{HashAlgorithm::kSha256, blob->sha256};
    if (!token.empty()) f.headers.push_back("Authorization: Bearer " + token);
    plan.files.push_back(std::move(f));
    blobs.push_back({{"path", path},
                     {"mediaType", blob->media_type},
                     {"digest", "sha256:" + blob->sha256},
                     {"size", blob->size}});
  }
  plan.metadata["ollama"] = {
      {"name", name.Full()},
      {"host", name.host},
      {"namespace", name.ns},
      {"model", name.model},
      {"tag", name.tag},
      {"manifest", r->body},
      {"manifest_digest", "sha256:" + HashHex(HashAlgorithm::kSha256, r->body)},
      {"blobs", std::move(blobs)}};
  return plan;
}

}  // namespace modeld::sources
