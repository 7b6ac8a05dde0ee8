// ModelService's Ollama-facing capabilities (model_service.h): a second name for a model's
// files, small files of a model, and Ollama's own model directory.

#include "core/json.h"
#include "core/log.h"
#include "core/ollama.h"
#include "service/model_service.h"
#include "service/pull_support.h"
#include "store/file_ops.h"
#include "store/store.h"

namespace modeld::service {

namespace fs = std::filesystem;

Result<Model> ModelService::Copy(const ModelRef& from, const ModelRef& to) {
  if (Status s = ValidateModelName(to.name); !s.ok()) return s;
  if (Status s = ValidateVersion(to.version); !s.ok()) return s;
  auto src = store_->Get(from);
  if (!src.has_value()) return src.error();
  if (from == to) return ToModel(*src);
  store::InstallSpec spec;
  spec.ref = to;
  spec.source = src->source;
  spec.description = src->description;
  spec.tags = src->tags;
  spec.metadata = src->metadata.is_object() ? src->metadata : nlohmann::json::object();
  spec.files = src->files;
  spec.inspection = src->inspection;
  auto to_ollama = OllamaNameOf(to);
  if (spec.metadata.contains("ollama") && spec.metadata["ollama"].is_object()) {
    if (to_ollama) {
      spec.metadata["ollama"]["name"] = to_ollama->Full();
      spec.metadata["ollama"]["tag"] = to_ollama->tag;
    } else {
      spec.metadata.erase("ollama");
    }
  }
  if (loader::Loader* l = PeekLoader(); l && store_->Get(to).has_value()) Unload(to);
  auto done = store_->Install(spec);
  if (!done.has_value()) return done.error();
  // Ollama sees the copy too, as it would have made it.
  const nlohmann::json o = spec.metadata.value("ollama", nlohmann::json::object());
  if (to_ollama && store_->ollama().enabled() && o.contains("manifest")) {
    std::vector<std::string> blobs;
    for (const auto& f : spec.files) blobs.push_back(f.sha256);
    if (Status s = store_->ollama().Write(*to_ollama, o.value("manifest", ""), blobs); !s.ok())
      log::Warn("could not write {} into Ollama's directory: {}", to_ollama->Shortest(),
                s.ToString());
  }
  return ToModel(*done);
}

Result<std::string> ModelService::ReadModelFile(const Model& m, const std::string& path,
                                                size_t max_bytes) {
  for (const auto& f : m.files) {
    if (f.path != path) continue;
    if (f.size > max_bytes) {
      return Status::InvalidArgument(path + " of " + m.ref.ToString() + " is larger than " +
                                     std::to_string(max_bytes) + " bytes");
    }
    auto data = store::ReadRegularFile(store_->BlobPath(f.sha256), max_bytes);
    if (!data || data->size() != f.size) {
      return Status::IoError("could not read " + path + " of " + m.ref.ToString());
    }
    return *data;
  }
  return Status::NotFound(m.ref.ToString() + " has no file " + path);
}

bool ModelService::HasBlob(const std::string& sha256) {
  std::error_code ec;
  return sha256.size() == 64 && fs::is_regular_file(store_->BlobPath(sha256), ec);
}

std::vector<OllamaDirModel> ModelService::OllamaDirModels() {
  std::vector<OllamaDirModel> out;
  const store::OllamaLayout& dir = store_->ollama();
  for (auto& e : dir.List()) {
    auto manifest = ParseOllamaManifest(e.manifest);
    if (!manifest.has_value()) continue;
    OllamaDirModel m;
    m.name = e.name;
    m.digest = HashHex(HashAlgorithm::kSha256, e.manifest);
    m.modified = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::file_clock::to_sys(e.modified).time_since_epoch())
                     .count();
    m.size = manifest->config.size;
    for (const auto& l : manifest->layers) m.size += l.size;
    // Ollama drops a model whose config blob is missing or unreadable: so do we (and one
    // over 1 MiB: a config is a few hundred bytes).
    auto text = store::ReadRegularFile(dir.BlobPath(manifest->config.sha256), 1 << 20);
    if (!text) continue;
    nlohmann::json config = ParseJsonOrDiscarded(*text);
    if (!config.is_object()) continue;
    m.config = std::move(config);
    out.push_back(std::move(m));
  }
  return out;
}

Status ModelService::RemoveFromOllamaDir(const OllamaName& name) {
  return store_->ollama().Remove(name);
}

}  // namespace modeld::service
