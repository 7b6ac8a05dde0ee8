#include "service/open.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json.h"
#include "engine/engine.h"
#include "sources/catalog.h"
#include "sources/resolver.h"
#include "store/store.h"

namespace modeld::service {

namespace {

namespace fs = std::filesystem;

Result<std::vector<sources::Catalog>> LoadCatalogs(const fs::path& data_dir,
                                                   const std::vector<std::string>& flags) {
  std::vector<std::string> specs;
  fs::path config = data_dir / "config.json";
  std::error_code ec;
  if (fs::exists(config, ec)) {
    std::ifstream in(config);
    std::stringstream text;
    text << in.rdbuf();
    auto j = ParseJsonOrDiscarded(text.str());
    if (j.is_discarded() || !j.is_object()) {
      return Status::InvalidArgument(config.string() + " is not a JSON object");
    }
    if (j.contains("catalogs")) {
      const auto& c = j["catalogs"];
      bool ok = c.is_array() &&
                std::all_of(c.begin(), c.end(), [](const auto& e) { return e.is_string(); });
      if (!ok)
        return Status::InvalidArgument(config.string() +
                                       ": 'catalogs' must be a list of paths or URLs");
      for (const auto& e : c) {
        auto spec = sources::CatalogSpec::Parse(e.get<std::string>());
        // Relative paths are relative to the config file.
        if (spec.where.find("://") == std::string::npos && fs::path(spec.where).is_relative()) {
          spec.where = (data_dir / spec.where).string();
        }
        specs.push_back(spec.ToString());
      }
    }
  }
  specs.insert(specs.end(), flags.begin(), flags.end());
  std::vector<sources::Catalog> out;
  for (const auto& spec : specs) {
    auto c = sources::Catalog::Load(spec);
    if (!c.has_value()) return c.error();
    for (const auto& other : out) {
      if (other.name() == c->name()) {
        return Status::InvalidArgument("two catalogs are named '" + c->name() + "' (" +
                                       other.origin() + ", " + c->origin() +
                                       "); name one with NAME=PATH");
      }
    }
    if (c->name() == "default") {
      return Status::InvalidArgument("catalog " + c->origin() +
                                     " is named 'default', which is modeld's own; "
                                     "name it with NAME=PATH");
    }
    out.push_back(std::move(c.value()));
  }
  return out;
}

}  // namespace

std::filesystem::path DataDirFor(const std::string& data_dir) {
  fs::path dir = store::DefaultStoreOptions(data_dir).data_dir;
  std::error_code ec;
  fs::path abs = fs::absolute(dir, ec);
  return ec ? dir : abs;
}

Result<std::unique_ptr<ModelService>> OpenService(const std::string& data_dir,
                                                  const std::vector<std::string>& catalogs) {
  OpenOptions options;
  options.catalogs = catalogs;
  return OpenService(data_dir, options);
}

Result<std::unique_ptr<ModelService>> OpenService(const std::string& data_dir,
                                                  const OpenOptions& options) {
  store::StoreOptions store_options = store::DefaultStoreOptions(data_dir);
  if (options.ollama_models == "none") {
    store_options.ollama_models.clear();
  } else if (!options.ollama_models.empty()) {
    store_options.ollama_models = options.ollama_models;
  }
  auto store = store::Store::Open(store_options);
  if (!store.has_value()) return store.error();
  auto loaded = LoadCatalogs((*store)->options().data_dir, options.catalogs);
  if (!loaded.has_value()) return loaded.error();
  sources::ResolverConfig config;
  config.hub_cache = (*store)->options().hf_cache;
  config.catalogs = std::move(loaded.value());
  if (!options.ollama_registry.empty()) config.ollama.registry = options.ollama_registry;
  return std::make_unique<ModelService>(std::move(store.value()), nullptr,
                                        std::make_shared<sources::Resolver>(std::move(config)));
}

}  // namespace modeld::service
