// Resolver: the one interface the job manager uses to turn a model request into a Plan,
// whatever the source (DESIGN.md). In order:
//   1. a download_url is fetched directly (a Hub file link goes through the Hub, so it
//      is verified and uses HF_TOKEN);
//   2. source "huggingface", an "org/repo" name or a Hub link resolves on the Hub: the
//      version is a revision, or a GGUF quantization such as Q4_K_M;
//   3. source "ollama": the name on its Ollama registry (sources/ollama.h), the version
//      its tag;
//   4. otherwise the catalogs: the named one, or (source "" / "default") the default
//      catalog, then every configured one, then the Hub for names with a '/'.
// With HF_HUB_OFFLINE, Hub models resolve from the Hub cache's snapshots.
//
// Thread safety: Resolve is const and may run on many threads at once; it blocks.
#pragma once

#include <filesystem>
#include <vector>

#include "sources/catalog.h"
#include "sources/huggingface.h"
#include "sources/ollama.h"
#include "sources/plan.h"

namespace modeld::sources {

struct ResolverConfig {
  HubConfig hub = HubConfig::FromEnvironment();
  std::filesystem::path hub_cache;  // for offline resolution
  std::vector<Catalog> catalogs;    // besides the default one
  OllamaConfig ollama = OllamaConfig::FromEnvironment();
  std::chrono::milliseconds probe_timeout{15000};
};

class Resolver {
 public:
  explicit Resolver(ResolverConfig config);

  // NotFound (no such model, file or revision: the message says where it looked),
  // InvalidArgument (bad names, unknown source), PermissionDenied (gated/private),
  // Unavailable (network, offline without a cached snapshot).
  Result<Plan> Resolve(const SourceRequest& req) const;

  // The default catalog first, then the configured ones.
  std::vector<const Catalog*> catalogs() const;
  const HubConfig& hub() const { return config_.hub; }
  // What it was made with (ModelService makes a new one with more catalogs from it).
  const ResolverConfig& config() const { return config_; }

 private:
  // A link to one file on the configured Hub endpoint ({endpoint}/org/name/resolve/REV/FILE).
  std::optional<HubReference> HubFileLink(const std::string& url) const;
  Result<Plan> ResolveUrl(const SourceRequest& req) const;
  Result<Plan> ResolveOnHub(const std::string& repo, const std::string& revision,
                            const HubSelect& select) const;
  Result<Plan> ResolveOffline(const std::string& repo, const std::string& revision,
                              const HubSelect& select) const;
  Result<Plan> FromCatalog(const Catalog& catalog, const CatalogModel& model,
                           const std::string& version) const;

  ResolverConfig config_;
};

// True for names like Q4_K_M, IQ3_XS, Q8_0, F16, BF16 (case-insensitive).
bool LooksLikeQuantization(const std::string& version);

}  // namespace modeld::sources
