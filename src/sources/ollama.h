// An Ollama registry as a source (PEERS.md section 3): a model name becomes a plan of its
// manifest's blobs, each verified by its sha256 digest while it downloads.
//
//   GET {registry}/v2/<namespace>/<model>/manifests/<tag>
//       Accept: application/vnd.docker.distribution.manifest.v2+json
//   GET {registry}/v2/<namespace>/<model>/blobs/sha256:<hex>   (the engine follows the
//       307 to the blob host; a bearer token goes to the registry's origin only)
//
// A registry answering 401 with a Bearer challenge gets an anonymous token from the
// challenge's realm first (public models on registries that ask for one). The default
// host's registry is |OllamaConfig::registry| (a mirror, or a test mimic); another host in
// the name is reached over https, or http when |insecure|.
//
// Thread safety: stateless functions; ResolveOllama blocks (call from a worker thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ollama.h"
#include "core/status.h"
#include "sources/plan.h"

namespace modeld::sources {

struct OllamaConfig {
  std::string registry = "https://registry.ollama.ai";  // --ollama-registry, OLLAMA_REGISTRY
  std::chrono::milliseconds timeout{15000};
  std::chrono::milliseconds retry_for{60'000};  // 429, 5xx and network failures
  static OllamaConfig FromEnvironment();
};

// The file a blob becomes in the model: "model.gguf" (application/vnd.ollama.image.model),
// "projector.gguf", "adapter.gguf", "template", "system", "params", "license", "messages",
// "config" (the config blob, |is_config|); another media type its last word, or "layer".
std::string OllamaBlobPath(std::string_view media_type, bool is_config);

// Resolves |name| on its registry: a Plan whose source is "ollama", one file per blob
// (config included) in manifest order (a second blob with the same path gets "-2", ...),
// and metadata {"ollama": {"name", "host", "namespace", "model", "tag", "manifest" (the
// bytes as received), "manifest_digest", "blobs": [{"path", "mediaType", "digest",
// "size"}]}}.
// NotFound ("pull model manifest: file does not exist") for an unknown name or tag,
// PermissionDenied (401/403), Unavailable (network, 5xx after retries), Corrupt (a
// manifest that does not parse), InvalidArgument (a bad port, a Hub name, a manifest over
// 4 MiB).
Result<Plan> ResolveOllama(const OllamaName& name, bool insecure, const OllamaConfig& config);

}  // namespace modeld::sources
