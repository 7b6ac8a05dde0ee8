// ModelService's catalogs: the resolver the catalogs feed (swapped when the Jan folder
// changes), the Jan model.json folder, catalog search, and the default GGUF quantization
// of a Hub repository (model_service.h).
#include <filesystem>

#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "service/model_service.h"
#include "service/quantization.h"
#include "sources/catalog.h"
#include "sources/huggingface.h"
#include "sources/jan_model.h"
#include "sources/resolver.h"
#include "store/file_ops.h"

namespace modeld::service {

namespace fs = std::filesystem;

std::shared_ptr<const sources::Resolver> ModelService::resolver() const {
  MutexLock lock(&catalog_mu_);
  return resolver_;
}

fs::path ModelService::catalogs_dir() const { return data_dir() / "catalogs"; }

Status ModelService::ReloadCatalogs() {
  MutexLock lock(&reload_mu_);
  return ReloadCatalogsLocked(/*force=*/false);
}

Status ModelService::ReloadCatalogsLocked(bool force) {
  const fs::path dir = catalogs_dir();
  std::string fingerprint = sources::JanFolderFingerprint(dir);
  if (!force && fingerprint == jan_fingerprint_) return Status::OK();
  jan_fingerprint_ = fingerprint;
  sources::JanFolder folder = sources::LoadJanFolder(dir);
  for (const auto& p : folder.problems) log::Warn("catalogs folder: {}", p.message());
  sources::ResolverConfig config = base_resolver_->config();
  for (const auto& c : config.catalogs) {
    if (c.name() == sources::kJanCatalogName) {
      MutexLock lock(&catalog_mu_);
      resolver_ = base_resolver_;
      return Status::InvalidArgument("catalog " + c.origin() +
                                     " is named 'jan', the name of the model.json files of " +
                                     dir.string() + ", which are not used");
    }
  }
  if (!folder.models.empty()) {
    config.catalogs.push_back(sources::Catalog::FromModels(std::string(sources::kJanCatalogName),
                                                           dir.string(), std::move(folder.models)));
  }
  auto next = std::make_shared<const sources::Resolver>(std::move(config));
  MutexLock lock(&catalog_mu_);
  resolver_ = std::move(next);
  return Status::OK();
}

Result<CatalogModel> ModelService::SaveJanModel(const nlohmann::json& model) {
  auto parsed = sources::JanModelFromJson(model, "(posted)");
  if (!parsed.has_value()) return parsed.error();
  // Jan's layout, <id>/model.json; an id holding '/' (org/name) is one folder, org--name,
  // as the Hugging Face cache names repositories (the folder's name is not read back).
  std::string folder = parsed->name;
  for (size_t at = folder.find('/'); at != std::string::npos; at = folder.find('/', at + 2))
    folder.replace(at, 1, "--");
  const fs::path path = catalogs_dir() / folder / "model.json";
  MutexLock lock(&reload_mu_);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return ErrnoStatus("cannot make " + path.parent_path().string(), ec.value());
  if (Status s = store::WriteFileAtomic(path, DumpJson(model, 2) + "\n"); !s.ok()) return s;
  if (Status s = ReloadCatalogsLocked(/*force=*/true); !s.ok()) return s;
  auto listing = Search("", std::string(sources::kJanCatalogName));
  for (auto& m : listing.models) {
    if (m.name == parsed->name) return std::move(m);
  }
  return Status::Internal("model.json " + path.string() + " was written but is not in the catalog");
}

Result<std::string> ModelService::DefaultQuantization(const std::string& repo,
                                                      const std::string& revision) {
  const auto resolver_now = resolver();  // kept alive while |hub| is read
  const sources::HubConfig& hub = resolver_now->hub();
  if (hub.offline) return std::string();
  auto listing = sources::ResolveHub(repo, revision.empty() ? "main" : revision, {}, hub);
  if (!listing.has_value()) return listing.error();
  std::vector<RepoFile> files;
  files.reserve(listing->files.size());
  for (const auto& f : listing->files) files.push_back({f.path, f.size});
  return PickDefaultQuantization(files);
}

CatalogListing ModelService::Search(const std::string& words, const std::string& source) const {
  CatalogListing out;
  out.source_known = source.empty();
  const auto r = resolver();  // held while its catalogs are read
  for (const auto* c : r->catalogs()) {
    out.sources.push_back({c->name(), c->origin(), c->models().size()});
    if (!source.empty() && source != c->name()) continue;
    out.source_known = true;
    for (const auto* m : c->Search(words)) {
      CatalogModel cm;
      cm.catalog = c->name();
      cm.name = m->name;
      cm.description = m->description;
      cm.tags = m->tags;
      for (const auto& v : m->versions) cm.versions.push_back({v.version, m->Size(v)});
      cm.json = m->ToJson(c->name());
      cm.jan = m->jan;
      out.models.push_back(std::move(cm));
    }
  }
  return out;
}

}  // namespace modeld::service
