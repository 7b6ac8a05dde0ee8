// ModelService's models held in memory (model_service.h: Load, Unload, UnloadAll, Loaded),
// over the process's one loader::Loader, with the refusals a load meets (not installed,
// downloading, broken).
#include "core/error_reasons.h"
#include "loader/loader.h"
#include "service/model_service.h"
#include "store/store.h"

namespace modeld::service {

namespace {

int64_t UnixOf(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

LoadedState ToLoadedState(const loader::LoadedModel& l) {
  LoadedState s;
  s.instance_id = l.instance_id;
  s.bytes = l.bytes;
  s.resident_bytes = l.resident_bytes;
  s.since = UnixOf(l.loaded_at);
  s.last_used = UnixOf(l.last_used);
  if (l.expires_at) s.expires_at = UnixOf(*l.expires_at);
  s.mlocked = l.mlocked;
  return s;
}

// The file of |m| that |problem| ("w.bin: missing") is about: the longest path it starts
// with (paths may hold ": "); "" when none.
std::string ProblemFile(const store::ModelInfo& m, const std::string& problem) {
  std::string best;
  for (const auto& f : m.files) {
    if (problem.size() > f.path.size() && problem.compare(0, f.path.size(), f.path) == 0 &&
        problem[f.path.size()] == ':' && f.path.size() > best.size()) {
      best = f.path;
    }
  }
  return best;
}

}  // namespace

void ModelService::MarkLoaded(Model& m, const std::vector<LoadedModelView>& loaded) {
  m.loaded.reset();
  for (const auto& l : loaded) {
    if (l.ref == m.ref) m.loaded = l.state;
  }
}

void ModelService::ConfigureLoader(const LoaderSettings& settings) {
  MutexLock lock(&loader_mu_);
  loader_settings_ = settings;
}

loader::Loader& ModelService::loader() {
  MutexLock lock(&loader_mu_);
  if (!loader_) {
    loader::Options o;
    o.max_loaded_bytes = loader_settings_.max_loaded_bytes;
    if (loader_settings_.default_keep_alive) {
      o.default_keep_alive = *loader_settings_.default_keep_alive;
      // Negative: never; the loader takes a negative default the same way.
    }
    loader_ = std::make_unique<loader::Loader>(std::move(o));
  }
  return *loader_;
}

loader::Loader* ModelService::PeekLoader() {
  MutexLock lock(&loader_mu_);
  return loader_.get();
}

void ModelService::set_live_job_check(std::function<bool(const ModelRef&)> check) {
  MutexLock lock(&loader_mu_);
  live_job_check_ = std::move(check);
}

Status ModelService::CheckNotDownloading(const ModelRef& ref) {
  const std::string key = ref.ToString();
  auto refused = [&](const std::string& who, std::optional<int> pid) {
    Status::Info info{reason::kModelDownloading, {{"model", key}}};
    if (pid) info.fields["pid"] = std::to_string(*pid);
    return Status::FailedPrecondition("model '" + key + "' is being downloaded (" + who +
                                      "): load it once the download has ended")
        .WithInfo(std::move(info));
  };
  {
    // The check runs under the lock, so that set_live_job_check(nullptr) waits for it.
    MutexLock lock(&loader_mu_);
    if (pulling_.count(key) > 0 || (live_job_check_ && live_job_check_(ref))) {
      return refused("a download job of this process", std::nullopt);
    }
  }
  if (auto pid = store_->LockHolder(PullKey(ref))) {
    return refused("by process " + std::to_string(*pid), pid);
  }
  return Status::OK();
}

Result<LoadResult> ModelService::Load(const ModelRef& ref, const LoadOptions& options) {
  if (Status s = ValidateModelName(ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(ref.version); !s.ok()) return s;
  const std::string key = ref.ToString();
  if (Status s = CheckNotDownloading(ref); !s.ok()) return s;
  auto info = store_->Get(ref);
  if (!info.has_value()) {
    if (info.error().code() != Status::Code::kNotFound) return info.error();
    return Status::NotFound("model '" + key + "' is not installed (modeld pull " + key +
                            " installs it)")
        .WithInfo({reason::kModelNotInstalled, {{"model", key}}});
  }
  if (info->status != "available") {
    std::string problem = info->problems.empty() ? "broken" : info->problems.front();
    std::string file = ProblemFile(*info, problem);
    std::string repair = (info->removing ? "modeld rm " : "modeld pull ") + key;
    return Status::FailedPrecondition("model '" + key + "' is broken: " + problem + " (" + repair +
                                      " repairs it)")
        .WithInfo({reason::kModelBroken,
                   {{"model", key},
                    {"path", file.empty() ? std::string() : (info->path / file).string()},
                    {"problem", problem},
                    {"repair", repair}}});
  }
  loader::LoadSpec spec;
  spec.key = key;
  for (const auto& f : info->files) spec.files.push_back({(info->path / f.path).string(), f.size});
  spec.mlock = options.mlock;
  if (options.keep_alive) spec.keep_alive = *options.keep_alive;
  auto loaded = loader().Load(spec);
  if (!loaded.has_value()) return loaded.error();
  // A pull that began meanwhile replaces these files: what was mapped is not what stays.
  if (loaded->loaded) {
    if (Status s = CheckNotDownloading(ref); !s.ok()) {
      loader().Unload(key);
      return s;
    }
  }
  LoadResult out;
  out.model = ToModel(*info);
  MarkLoaded(out.model, Loaded());
  out.loaded = loaded->loaded;
  out.joined = loaded->joined;
  out.load_time = std::chrono::duration_cast<std::chrono::milliseconds>(loaded->load_time);
  return out;
}

bool ModelService::Unload(const ModelRef& ref) {
  loader::Loader* l = PeekLoader();
  return l != nullptr && l->Unload(ref.ToString());
}

size_t ModelService::UnloadAll() {
  loader::Loader* l = PeekLoader();
  return l == nullptr ? 0 : l->UnloadAll();
}

std::vector<LoadedModelView> ModelService::Loaded() {
  std::vector<LoadedModelView> out;
  loader::Loader* l = PeekLoader();
  if (l == nullptr) return out;
  for (const auto& m : l->List()) {
    auto ref = ParseModelRef(m.key);
    if (!ref.has_value()) continue;  // every key is a ModelRef's ToString()
    out.push_back({*ref, ToLoadedState(m)});
  }
  return out;
}

uint64_t ModelService::max_loaded_bytes() { return loader().max_loaded_bytes(); }

}  // namespace modeld::service
