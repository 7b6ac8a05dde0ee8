// OllamaMimic: the parts of Ollama's registry (registry.ollama.ai, the Docker/OCI registry
// v2 protocol) that `ollama pull` uses, served by a TestOrigin, for tests of an Ollama source:
//   GET|HEAD /v2/{ns}/{name}/manifests/{tag|sha256:hex}
//       -> 200 a Docker v2 schema 2 manifest, with Docker-Content-Digest
//   GET|HEAD /v2/{ns}/{name}/blobs/sha256:{hex}
//       -> 307 to {blob host}/blobs/sha256-{hex}?X-Amz-Expires=1200&X-Amz-Signature=...
//          (the real registry redirects to Cloudflare R2); the blob host serves a FileSpec,
//          so Range, resume and fault injection work as for any test file
//   GET /token?service=...&scope=repository:{ns}/{name}:pull   -> {"token": ...}
// plus private models and a token challenge for all (401 + WWW-Authenticate: Bearer), and
// the registry's error bodies ({"errors":[{"code":"MANIFEST_UNKNOWN",...}]}) for unknown
// names, tags and blobs.
//
// Thread safety: configure before use or from any thread (every method takes the mutex);
// requests are served from the origins' threads. The origins must be stopped before the
// mimic goes away (OllamaOrigins does).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "origin.h"

namespace modeld::testing {

inline const std::string kOllamaModelType = "application/vnd.ollama.image.model";
inline const std::string kOllamaManifestType =
    "application/vnd.docker.distribution.manifest.v2+json";

struct OllamaLayer {
  std::string media_type;  // "application/vnd.ollama.image.model", "...template", ...
  std::string content;
};

class OllamaMimic {
 public:
  // Blobs are served from |blob_host| (another port, as Ollama's registry redirects blobs
  // to another host), or from |registry| itself when null. Both must outlive the mimic.
  explicit OllamaMimic(TestOrigin& registry, TestOrigin* blob_host = nullptr);

  // Registers |ns|/|name|:|tag| with |layers| and |config_json| (empty: a small config like
  // Ollama's, listing the layers' digests) and returns the manifest bytes it will serve.
  // Several tags may point at one model; adding a name:tag again moves the tag (the old
  // manifest stays reachable by its digest, as in a registry). |private_token| non-empty:
  // the model's manifests and blobs need "Authorization: Bearer <private_token>" (the last
  // AddModel of a name decides). Blobs already served are not put again (their faults stay).
  std::string AddModel(const std::string& ns, const std::string& name, const std::string& tag,
                       std::vector<OllamaLayer> layers, std::string config_json = "",
                       const std::string& private_token = "");

  // true: every /v2 request needs a bearer token (a public model's "anon-<ns>-<name>" from
  // GET /token, or a private model's token), or gets the 401 challenge.
  void RequireTokenForAll(bool on);
  // Blobs put from now on are served at |bytes_per_second| per connection (0: unlimited).
  void SetBlobRate(uint64_t bytes_per_second);
  // The blob host serves |wrong| (meant to be as long) under the layer holding
  // |content_of_layer|, while manifests keep the true digest: a registry that lies.
  void ServeWrongBlob(const std::string& content_of_layer, const std::string& wrong);

  // The blob host's path for a layer ("/blobs/sha256-<hex>", without the signed query), for
  // blob_host.BodyBytes / WaitForBodyBytes / Update.
  std::string BlobPath(const std::string& content) const;
  std::string Endpoint() const { return registry_.Url(""); }
  // The Accept headers manifest requests carried ("" when absent), in order.
  std::vector<std::string> AcceptSeen() const;

 private:
  struct Repo {
    std::string token;
    std::map<std::string, std::string> tags;       // tag -> manifest digest
    std::map<std::string, std::string> manifests;  // digest -> manifest bytes
    std::set<std::string> blobs;                   // digests of its layers and configs
  };
  SimpleResponse V2(const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers);
  SimpleResponse Token(const std::string& target,
                       const std::map<std::string, std::string>& headers);
  // The 401 a registry answers without the right token for |repo_id| ("ns/name").
  SimpleResponse Challenge(const std::string& repo_id) const;
  // Puts |content| on the blob host unless |digest| ("sha256:<hex>") is there already.
  void PutBlob(const std::string& digest, std::string content);  // REQUIRES: mu_ held

  TestOrigin& registry_;
  TestOrigin& blob_host_;
  mutable std::mutex mu_;
  std::map<std::string, Repo> repos_;     // GUARDED_BY(mu_), by "ns/name"
  std::set<std::string> blobs_put_;       // GUARDED_BY(mu_), digests on the blob host
  std::vector<std::string> accept_seen_;  // GUARDED_BY(mu_)
  bool require_token_ = false;            // GUARDED_BY(mu_)
  uint64_t rate_ = 0;                     // GUARDED_BY(mu_)
};

// An Ollama registry mimic with its blobs on another origin (as the real registry's are).
// The mimic's handlers run on the origins' threads: the destructor stops those first.
struct OllamaOrigins {
  TestOrigin registry, blobs;
  OllamaMimic ollama{registry, &blobs};
  ~OllamaOrigins() {
    registry.Stop();
    blobs.Stop();
  }
};

}  // namespace modeld::testing
