#include "service/model_service.h"

#include <condition_variable>

#include "core/log.h"
#include "net/http.h"

namespace modeld::service {

namespace fs = std::filesystem;

void StopSignal::Request() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requested_ = true;
    fn = fn_;
  }
  if (fn) fn();
}

void StopSignal::OnRequest(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    if (!requested_) return;
  }
  if (fn) fn();
}

void StopSignal::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  fn_ = nullptr;
}

std::string ModelNameFromUrl(const std::string& url) {
  std::string file = net::UrlFileName(url);
  size_t dot = file.find('.');
  std::string stem = dot == std::string::npos || dot == 0 ? file : file.substr(0, dot);
  std::string out;
  for (char c : stem) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '-');
  }
  while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(0, 1);
  if (out.size() > 100) out.resize(100);
  if (out.empty() || !store::ValidateModelName(out).ok()) return "model";
  return out;
}

ModelService::ModelService(std::unique_ptr<store::Store> store,
                           std::unique_ptr<engine::Engine> engine)
    : store_(std::move(store)), engine_(std::move(engine)) {}

ModelService::~ModelService() = default;

engine::Engine& ModelService::engine() {
  std::lock_guard<std::mutex> lock(engine_mu_);
  if (!engine_) engine_ = std::make_unique<engine::Engine>();
  return *engine_;
}

Result<PullResult> ModelService::Pull(const PullRequest& req, const engine::EventCallback& progress,
                                      StopSignal* stop) {
  if (Status s = store::ValidateModelName(req.ref.name); !s.ok()) return s;
  if (Status s = store::ValidateVersion(req.ref.version); !s.ok()) return s;
  if (net::UrlOrigin(req.url).empty()) {
    return Status::InvalidArgument("'" + req.url + "' is not an http(s) URL");
  }
  if (!req.force) {
    auto existing = store_->Get(req.ref);
    if (existing.has_value()) {
      return Status::AlreadyExists("Model '" + req.ref.name + "' version '" + req.ref.version +
                                   "' already exists. Use force_download=true to override.");
    }
  }
  std::string file_name = net::UrlFileName(req.url);
  if (!store::ValidateRelativePath(file_name).ok() || file_name.find('/') != std::string::npos) {
    file_name = "model.bin";
  }

  // One download of one URL at a time, across processes: a second pull waits here and
  // then finds the blob the first one stored.
  auto lock = store_->Lock(req.url);
  if (!lock.has_value()) return lock.error();

  PullResult result;
  std::optional<store::FileEntry> blob;
  auto memo = store_->LookupUrl(req.url);
  if (!memo.has_value()) return memo.error();
  // A URL seen before is reused unless the caller forces a fresh download (the URL may
  // now serve something else) or names another digest.
  if (memo->has_value() && !req.force) {
    const auto& hit = **memo;
    bool matches = !req.checksum || (req.checksum->algorithm == HashAlgorithm::kSha256 &&
                                     req.checksum->hex == hit.sha256);
    if (matches) blob = store::FileEntry{file_name, hit.size, hit.sha256};
  }
  if (!blob) {
    fs::path dir = store_->PartialDir(req.url);
    engine::DownloadRequest dl;
    dl.url = req.url;
    dl.dest = dir / file_name;
    dl.checksum = req.checksum;
    dl.headers = req.headers;
    dl.options = req.options;
    std::mutex mu;
    std::condition_variable cv;
    std::optional<engine::TransferEvent> final_event;
    engine::Engine& eng = engine();
    engine::TransferId id = eng.Submit(dl, [&](const engine::TransferEvent& ev) {
      if (progress) progress(ev);
      if (ev.terminal()) {
        std::lock_guard<std::mutex> l(mu);
        final_event = ev;
        cv.notify_all();
      }
    });
    if (stop) stop->OnRequest([&eng, id] { eng.Stop(id); });
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return final_event.has_value(); });
    }
    if (stop) stop->Clear();
    const auto& ev = *final_event;
    if (ev.stage != engine::Stage::kCompleted) return ev.status;
    result.downloaded = true;
    result.resumed_bytes = ev.resumed_bytes;
    blob = store::FileEntry{file_name, *ev.total_bytes, ev.sha256};
    if (Status s = store_->AdoptBlob(dl.dest, ev.sha256); !s.ok()) return s;
    std::error_code ec;
    fs::remove(dir, ec);  // empty now
    if (Status s = store_->RememberUrl(req.url, *blob); !s.ok()) {
      log::Warn("could not remember {}: {}", req.url, s.ToString());
    }
  }
  result.sha256 = blob->sha256;

  store::InstallSpec spec;
  spec.ref = req.ref;
  spec.source = req.source;
  spec.description = req.description;
  spec.tags = req.tags;
  spec.metadata = req.metadata;
  spec.metadata["url"] = req.url;
  spec.files = {*blob};
  auto installed = store_->Install(spec);
  if (!installed.has_value()) return installed.error();
  result.model = std::move(installed.value());
  return result;
}

Result<std::vector<store::ModelInfo>> ModelService::List() { return store_->List(); }

Status ModelService::ForEachModel(const std::function<void(const store::ModelInfo&)>& fn) {
  return store_->ScanModels(fn);
}

Result<std::vector<store::VerifyResult>> ModelService::Reconcile() {
  return store_->Verify(std::nullopt, /*full_hash=*/false);
}

Result<store::ModelInfo> ModelService::Info(const store::ModelRef& ref) {
  std::vector<store::ModelInfo> models;
  auto v = store_->Verify(ref, false, &models);
  if (!v.has_value()) return v.error();
  return std::move(models.front());
}

Result<std::vector<store::ModelInfo>> ModelService::Versions(const std::string& name) {
  return store_->Versions(name);
}

Result<std::vector<store::ModelRef>> ModelService::Remove(const std::string& name,
                                                          const std::string& version) {
  return store_->Remove(name, version);
}

Result<std::vector<store::VerifyResult>> ModelService::Verify(
    const std::optional<store::ModelRef>& ref, bool full_hash) {
  return store_->Verify(ref, full_hash);
}

Result<store::GcReport> ModelService::Gc(std::chrono::seconds partial_age) {
  return store_->Gc(partial_age);
}

Result<store::CacheReport> ModelService::Cache() { return store_->Cache(); }

}  // namespace modeld::service
