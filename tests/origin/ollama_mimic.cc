#include "ollama_mimic.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace modeld::testing {

namespace {

const char kConfigType[] = "application/vnd.docker.container.image.v1+json";

// {"errors":[{"code":...,"message":...}]}, as the registry answers every failure.
SimpleResponse RegistryError(int status, const std::string& code, const std::string& message) {
  nlohmann::ordered_json body = {
      {"errors", nlohmann::ordered_json::array({{{"code", code}, {"message", message}}})}};
  return {status, {{"Content-Type", "application/json; charset=utf-8"}}, body.dump()};
}

std::string QueryValue(const std::string& target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string::npos) return "";
  std::string query = "&" + target.substr(q + 1);
  auto at = query.find("&" + key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  // Go's url.Values.Encode escapes a token request's scope ("a%3Ab%2Fc").
  return PercentDecode(query.substr(at, query.find('&', at) - at),
                       /*plus_is_space=*/true);
}

std::string BearerOf(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("authorization");
  if (it == headers.end() || it->second.rfind("Bearer ", 0) != 0) return "";
  return it->second.substr(7);
}

}  // namespace

OllamaMimic::OllamaMimic(TestOrigin& registry, TestOrigin* blob_host)
    : registry_(registry), blob_host_(blob_host ? *blob_host : registry) {
  registry_.Handle("/v2/",
                   [this](const std::string& m, const std::string& t,
                          const std::map<std::string, std::string>& h) { return V2(m, t, h); });
  registry_.Handle("/token",
                   [this](const std::string&, const std::string& t,
                          const std::map<std::string, std::string>& h) { return Token(t, h); });
}

std::string OllamaMimic::AddModel(const std::string& ns, const std::string& name,
                                  const std::string& tag, std::vector<OllamaLayer> layers,
                                  std::string config_json, const std::string& private_token) {
  using nlohmann::ordered_json;
  ordered_json layer_list = ordered_json::array();
  ordered_json diff_ids = ordered_json::array();
  std::vector<std::string> digests;
  for (const auto& l : layers) {
    std::string digest = "sha256:" + Sha256Hex(l.content);
    layer_list.push_back(
        {{"mediaType", l.media_type}, {"digest", digest}, {"size", l.content.size()}});
    diff_ids.push_back(digest);
    digests.push_back(digest);
  }
  if (config_json.empty()) {
    config_json = ordered_json{{"model_format", "gguf"},
                               {"model_family", "llama"},
                               {"model_families", ordered_json::array({"llama"})},
                               {"model_type", "1B"},
                               {"file_type", "Q4_K_M"},
                               {"architecture", "amd64"},
                               {"os", "linux"},
                               {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                      .dump();
  }
  std::string config_digest = "sha256:" + Sha256Hex(config_json);
  digests.push_back(config_digest);
  std::string manifest = ordered_json{
      {"schemaVersion", 2},
      {"mediaType", kOllamaManifestType},
      {"config",
       {{"mediaType", kConfigType}, {"digest", config_digest}, {"size", config_json.size()}}},
      {"layers", layer_list}}.dump();
  std::string manifest_digest = "sha256:" + Sha256Hex(manifest);

  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < layers.size(); ++i) PutBlob(digests[i], std::move(layers[i].content));
  PutBlob(config_digest, std::move(config_json));
  Repo& repo = repos_[ns + "/" + name];
  repo.token = private_token;
  repo.tags[tag] = manifest_digest;
  repo.manifests[manifest_digest] = manifest;
  repo.blobs.insert(digests.begin(), digests.end());
  return manifest;
}

void OllamaMimic::PutBlob(const std::string& digest, std::string content) {
  if (!blobs_put_.insert(digest).second) return;
  blob_host_.Put("/blobs/sha256-" + digest.substr(7),
                 {.content = std::move(content), .rate = rate_});
}

void OllamaMimic::RequireTokenForAll(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  require_token_ = on;
}

void OllamaMimic::SetBlobRate(uint64_t bytes_per_second) {
  std::lock_guard<std::mutex> lock(mu_);
  rate_ = bytes_per_second;
}

void OllamaMimic::ServeWrongBlob(const std::string& content_of_layer, const std::string& wrong) {
  std::lock_guard<std::mutex> lock(mu_);
  blob_host_.Update(BlobPath(content_of_layer), [&](FileSpec& spec) { spec.content = wrong; });
}

std::string OllamaMimic::BlobPath(const std::string& content) const {
  return "/blobs/sha256-" + Sha256Hex(content);
}

std::vector<std::string> OllamaMimic::AcceptSeen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accept_seen_;
}

SimpleResponse OllamaMimic::Challenge(const std::string& repo_id) const {
  SimpleResponse res = RegistryError(401, "UNAUTHORIZED", "authentication required");
  res.headers.push_back(
      {"WWW-Authenticate", "Bearer realm=\"" + registry_.Url("/token") +
                               "\",service=\"127.0.0.1:" + std::to_string(registry_.port()) +
                               "\",scope=\"repository:" + repo_id + ":pull\""});
  return res;
}

SimpleResponse OllamaMimic::V2(const std::string& method, const std::string& target,
                               const std::map<std::string, std::string>& headers) {
  // /v2/<ns>/<name>/<manifests|blobs>/<reference>
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> parts;
  for (size_t i = 4; i <= path.size();) {
    size_t slash = std::min(path.find('/', i), path.size());
    parts.push_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  if (parts.size() != 4 || (parts[2] != "manifests" && parts[2] != "blobs")) {
    return RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry");
  }
  if (method != "GET" && method != "HEAD") {
    return RegistryError(405, "UNSUPPORTED", "The operation is unsupported.");
  }
  const std::string repo_id = parts[0] + "/" + parts[1];
  const std::string& kind = parts[2];
  const std::string& ref = parts[3];

  std::lock_guard<std::mutex> lock(mu_);
  if (kind == "manifests") {
    auto it = headers.find("accept");
    accept_seen_.push_back(it == headers.end() ? "" : it->second);
  }
  auto repo_it = repos_.find(repo_id);
  Repo* repo = repo_it == repos_.end() ? nullptr : &repo_it->second;
  std::string bearer = BearerOf(headers);
  if (repo && !repo->token.empty()) {
    if (bearer != repo->token) return Challenge(repo_id);
  } else if (require_token_ && bearer != "anon-" + parts[0] + "-" + parts[1]) {
    return Challenge(repo_id);
  }
  if (!repo) return RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry");

  if (kind == "manifests") {
    std::string digest = ref;
    if (ref.rfind("sha256:", 0) != 0) {
      auto tag = repo->tags.find(ref);
      digest = tag == repo->tags.end() ? "" : tag->second;
    }
    auto m = repo->manifests.find(digest);
    if (m == repo->manifests.end()) {
      return RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown");
    }
    return {200,
            {{"Content-Type", kOllamaManifestType}, {"Docker-Content-Digest", m->first}},
            m->second};
  }
  if (ref.rfind("sha256:", 0) != 0 || !repo->blobs.count(ref)) {
    return RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry");
  }
  std::string hex = ref.substr(7);
  std::string location = blob_host_.Url("/blobs/sha256-" + hex) +
                         "?X-Amz-Expires=1200&X-Amz-Signature=" + Sha256Hex("signed:" + hex);
  return {307, {{"Location", location}}, ""};
}

SimpleResponse OllamaMimic::Token(const std::string& target,
                                  const std::map<std::string, std::string>& headers) {
  // scope=repository:<ns>/<name>:pull
  std::string scope = QueryValue(target, "scope");
  const std::string prefix = "repository:";
  auto colon = scope.rfind(':');
  if (scope.rfind(prefix, 0) != 0 || colon == std::string::npos || colon < prefix.size() ||
      scope.find('/') > colon) {
    return RegistryError(400, "DENIED", "requested access to the resource is denied");
  }
  std::string repo_id = scope.substr(prefix.size(), colon - prefix.size());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = repos_.find(repo_id);
  if (it != repos_.end() && !it->second.token.empty()) {
    if (BearerOf(headers) != it->second.token) {
      return RegistryError(401, "UNAUTHORIZED", "authentication required");
    }
    return {200,
            {{"Content-Type", "application/json"}},
            nlohmann::json{{"token", it->second.token}}.dump()};
  }
  std::string anon = "anon-" + repo_id;
  anon[anon.find('/')] = '-';
  return {200, {{"Content-Type", "application/json"}}, nlohmann::json{{"token", anon}}.dump()};
}

}  // namespace modeld::testing
