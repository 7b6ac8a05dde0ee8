#include "service/pull_support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/mutex.h"

namespace modeld::service {

namespace fs = std::filesystem;

std::string PullKey(const ModelRef& ref) { return "pull:" + ref.ToString(); }

WaitNotice WaitingFor(const store::Store& store, const std::string& key, std::string what) {
  WaitNotice w;
  w.what = std::move(what);
  if (auto pid = store.LockHolder(key)) {
    w.pid = *pid;
    w.this_process = *pid == ::getpid();
  }
  return w;
}

Result<store::FileLock> LockUnlessStopped(store::Store& store, const std::string& key,
                                          StopSignal* stop, const std::function<void()>& on_wait) {
  struct Wake {
    Mutex mu;
    CondVar cv;
    bool stopped GUARDED_BY(mu) = false;
  };
  auto wake = std::make_shared<Wake>();
  if (stop) {
    stop->OnRequest([wake] {
      MutexLock l(&wake->mu);
      wake->stopped = true;
      wake->cv.SignalAll();
    });
  }
  Result<store::FileLock> out =
      Status::Cancelled("stopped while waiting for another download of " + key);
  for (bool told = false;; told = true) {
    auto got = store.TryLock(key);
    if (!got.has_value()) {
      out = got.error();
      break;
    }
    if (got->has_value()) {
      out = std::move(**got);
      break;
    }
    if (!told && on_wait) on_wait();
    // Held by another process: flock cannot be waited on with a timeout, so look again
    // every 100 ms (or at once when stopped).
    MutexLock l(&wake->mu);
    if (wake->cv.WaitFor(&wake->mu, std::chrono::milliseconds(100),
                         [&]() REQUIRES(wake->mu) { return wake->stopped; })) {
      break;
    }
  }
  if (stop) stop->Clear();
  return out;
}

Status CheckSpace(const store::Store& store, uint64_t bytes) {
  if (bytes == 0) return Status::OK();
  auto avail = AvailableBytes(store.options().data_dir);
  if (!avail.has_value() || *avail >= bytes) return Status::OK();
  auto mb = [](uint64_t b, bool up) {
    return std::to_string(up ? (b + 999999) / 1000000 : b / 1000000) + "MB";
  };
  // The seed API's words (its 413), with the typed detail the CLI words its own way.
  return Status::NoSpace("Insufficient storage space. Required: " + mb(bytes, true) +
                         ", Available: " + mb(*avail, false))
      .WithInfo({reason::kNoSpace,
                 {{"path", store.options().data_dir.string()},
                  {"required", std::to_string(bytes)},
                  {"available", std::to_string(*avail)}}});
}

fs::path PullPartialPath(const store::Store& store, const ModelRef& ref, const std::string& path) {
  return store.PartialDir(PullKey(ref)) / "files" / path;
}

uint64_t BytesToFetch(store::Store& store, const PullRequest& req, const sources::PlannedFile& f) {
  if (!f.size) return 0;
  const uint64_t size = *f.size;
  // The reuses PlanRunner makes (PlanRunner::Reuse), checked without side effects and
  // without reading a byte: a blob that changed since it was verified counts as fetched
  // again; one never recorded (an older modeld's) as there, since it usually is good.
  auto have = [&](const std::string& sha256) {
    auto state = store.PeekBlob(sha256, size);
    return state == store::BlobState::kVerified || state == store::BlobState::kUnrecorded;
  };
  // --force fetches every file again, but what an offline Hub pull takes from its cache.
  if (!req.force && !f.sha256.empty() && have(f.sha256)) return 0;
  if (!f.hub_etag.empty() && (!req.force || f.url.empty())) {
    if (auto hub = store.FindHubBlob(f.hub_repo, f.hub_etag)) {
      struct stat st {};
      if (::stat(hub->c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == size) return 0;
    }
  }
  if (!f.url.empty() && !req.force) {
    auto memo = store.LookupUrl(f.url);  // only when its blob is there
    if (memo.has_value() && memo->has_value() && (*memo)->size == size &&
        (f.sha256.empty() || f.sha256 == (*memo)->sha256) && have((*memo)->sha256)) {
      return 0;
    }
  }
  // A partial download: the engine reserved (fallocate) its whole size at its start.
  fs::path part = PullPartialPath(store, req.ref, f.path);
  part += ".part";
  struct stat st {};
  if (::stat(part.c_str(), &st) != 0) return size;
  uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  return size > allocated ? size - allocated : 0;
}

uint64_t BytesToFetch(store::Store& store, const PullRequest& req, const sources::Plan& plan) {
  uint64_t total = 0;
  for (const auto& f : plan.files) total += BytesToFetch(store, req, f);
  return total;
}

Status CheckDiskFull(const store::Store& store) {
  const fs::path& dir = store.options().data_dir;
  auto avail = AvailableBytes(dir);
  if (store.read_only() || (avail.has_value() && *avail < kDiskFullBytes)) {
    return Status::NoSpace("the disk holding " + dir.string() + " is full (" +
                           HumanBytes(avail.has_value() ? *avail : 0) +
                           " free): downloads will fail until space is freed; listing works, and "
                           "rm, gc and DELETE /models/NAME free space");
  }
  return Status::OK();
}

engine::DownloadOptions ToEngineOptions(const DownloadOptions& o) {
  engine::DownloadOptions e;
  e.max_connections = o.max_connections;
  e.retry_count = o.retry_count;
  e.retry_for = o.retry_for.value_or(kDefaultRetryFor);
  e.connect_timeout = o.connect_timeout;
  e.stall_timeout = o.stall_timeout;
  e.progress_timeout = o.progress_timeout;
  e.total_timeout = o.total_timeout;
  e.max_backoff = o.max_backoff;
  e.buffer_size = o.buffer_size;
  e.verify_ssl = o.verify_ssl;
  return e;
}

std::string InspectionJson(const Result<formats::ModelMetadata>& m) {
  if (m.has_value()) return formats::ModelMetadataToJson(*m).dump();
  return nlohmann::json{{"version", formats::kModelMetadataVersion}, {"error", m.error().message()}}
      .dump();
}

std::optional<ModelInspection> ParseInspection(const std::string& text, int64_t inspected_at) {
  if (text.empty()) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() ||
      version->get<int>() < formats::kModelMetadataVersion) {
    return std::nullopt;
  }
  ModelInspection out;
  out.inspected_at = inspected_at;
  if (auto e = j.find("error"); e != j.end() && e->is_string()) {
    out.error = e->get<std::string>();
    out.details = {{"version", *version}};
    return out;
  }
  auto meta = formats::ModelMetadataFromJson(j);
  if (!meta.has_value()) return std::nullopt;
  const formats::ModelMetadata& m = *meta;
  out.format = m.format;
  out.architecture = m.architecture;
  out.name = m.name;
  out.quantization = m.quantization;
  out.parameter_count = m.parameter_count;
  out.parameters = m.parameters;
  out.bits_per_weight = m.bits_per_weight;
  out.tensor_bytes = m.tensor_bytes;
  out.context_length = m.context_length;
  out.embedding_length = m.embedding_length;
  out.block_count = m.block_count;
  out.split_count = m.split_count;
  out.tensor_count = m.tensor_count;
  // A listing's text has no gguf_metadata: leave it out rather than show it empty.
  if (!j.contains("gguf_metadata")) {
    out.details = formats::ModelMetadataToJson(m);
    out.details.erase("gguf_metadata");
  } else {
    out.details = std::move(j);
  }
  return out;
}

Model ToModel(const store::ModelInfo& m) {
  Model out;
  out.ref = m.ref;
  out.source = m.source;
  out.description = m.description;
  out.tags = m.tags;
  out.metadata = m.metadata;
  out.status = m.status;
  out.created_at = m.created_at;
  out.installed_at = m.installed_at;
  for (const auto& f : m.files) out.files.push_back({f.path, f.size, f.sha256});
  out.size = m.size;
  out.path = m.path;
  out.problems = m.problems;
  out.removing = m.removing;
  out.inspection = ParseInspection(m.inspection, m.inspected_at);
  return out;
}

std::vector<Model> ToModels(const std::vector<store::ModelInfo>& models) {
  std::vector<Model> out;
  out.reserve(models.size());
  for (const auto& m : models) out.push_back(ToModel(m));
  return out;
}

std::vector<VerifyReport> ToVerifyReports(const std::vector<store::VerifyResult>& results) {
  std::vector<VerifyReport> out;
  out.reserve(results.size());
  for (const auto& r : results) out.push_back({r.ref, r.ok, r.problems, r.removing});
  return out;
}

JobState FromEngineStage(engine::Stage stage) {
  switch (stage) {
    case engine::Stage::kQueued:
      return JobState::kQueued;
    case engine::Stage::kResolving:
      return JobState::kResolving;
    case engine::Stage::kDownloading:
      return JobState::kDownloading;
    case engine::Stage::kVerifying:
      return JobState::kVerifying;
    case engine::Stage::kInstalling:
      return JobState::kInstalling;
    case engine::Stage::kCompleted:
      return JobState::kCompleted;
    case engine::Stage::kFailed:
      return JobState::kFailed;
    case engine::Stage::kPaused:
      return JobState::kPaused;
    case engine::Stage::kCancelled:
      return JobState::kCancelled;
  }
  return JobState::kFailed;
}

}  // namespace modeld::service
