#include <unistd.h>

#include <cerrno>

#include "core/fs.h"
#include "core/mutex.h"
#include "core/names.h"
#include "core/redact.h"
#include "engine/engine.h"
#include "net/http.h"
#include "net/probe.h"
#include "service/model_service.h"
#include "service/pull_support.h"
#include "service/service_metrics.h"

namespace modeld::service {

namespace fs = std::filesystem;

namespace {

// A name for a file of its own in a directory: one path segment, nothing hidden.
bool UsableFileName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.front() != '.' &&
         ValidateRelativePath(name).ok();
}

}  // namespace

Result<fs::path> ExportDestination(const ExportRequest& req) {
  if (!req.into_directory) return req.path;
  // "DIR/" and "DIR" alike (a trailing slash makes stat() of a file fail with ENOTDIR).
  std::string text = req.path.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  const fs::path dir = text;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return Status::InvalidArgument(dir.string() + " is not a directory");
    }
  } else if (!fs::create_directories(dir, ec) && ec) {
    return ErrnoStatus("cannot make the directory " + dir.string(), ec.value());
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoStatus("cannot write into " + dir.string(), errno);
  }
  // The server's name for it first, as a pull into the store names its file.
  auto probe =
      net::Probe(req.url, req.headers, req.options.verify_ssl, std::chrono::milliseconds(15000));
  if (!probe.has_value()) {
    auto code = probe.error().code();
    if (code == Status::Code::kNotFound || code == Status::Code::kPermissionDenied ||
        code == Status::Code::kInvalidArgument) {
      return probe.error();
    }  // otherwise the download itself retries
  } else if (UsableFileName(probe->file_name)) {
    return dir / probe->file_name;
  }
  std::string name = net::UrlFileName(req.url);
  if (!UsableFileName(name)) {
    return Status::InvalidArgument("cannot tell a file name from " + RedactUrl(req.url) +
                                   "; give -o " + (dir / "FILE").string());
  }
  return dir / name;
}

Result<ExportResult> Export(const ExportRequest& req, const ProgressCallback& progress,
                            StopSignal* stop) {
  auto dest = ExportDestination(req);
  if (!dest.has_value()) return dest.error();
  engine::DownloadRequest dl;
  dl.url = req.url;
  dl.dest = *dest;
  dl.checksum = req.checksum;
  dl.headers = req.headers;
  dl.options = ToEngineOptions(req.options);
  dl.downloaded = &DownloadedBytes("url");
  if (req.options.max_rate > 0)
    dl.rate_limit = std::make_shared<engine::RateLimit>(req.options.max_rate);
  struct Outcome {
    Mutex mu;
    CondVar cv;
    std::optional<engine::TransferEvent> event GUARDED_BY(mu);
  } outcome;
  engine::Engine eng;
  engine::TransferId id = eng.Submit(dl, [&](const engine::TransferEvent& ev) {
    if (progress && !ev.terminal()) {
      Progress p;
      // Nothing is installed: the engine's last step (fsync, rename) ends the verifying.
      p.state =
          ev.stage == engine::Stage::kInstalling ? JobState::kVerifying : FromEngineStage(ev.stage);
      p.done = ev.done_bytes;
      p.total = ev.total_bytes;
      p.resumed = ev.resumed_bytes;
      p.bytes_per_second = ev.bytes_per_second;
      p.stalled = ev.stalled;
      p.eta_seconds = ev.eta_seconds;
      if (ev.retry) p.retry = RetryNotice{"", ev.retry->reason, ev.retry->delay, ev.retry->attempt};
      progress(p);
    }
    if (ev.terminal()) {
      MutexLock lock(&outcome.mu);
      outcome.event = ev;
      outcome.cv.SignalAll();
    }
  });
  if (stop) stop->OnRequest([&eng, id] { eng.Stop(id); });
  engine::TransferEvent ev;
  {
    MutexLock lock(&outcome.mu);
    outcome.cv.Wait(&outcome.mu, [&]() REQUIRES(outcome.mu) { return outcome.event.has_value(); });
    ev = *outcome.event;
  }
  if (stop) stop->Clear();
  if (ev.stage != engine::Stage::kCompleted) {
    return ev.status.ok() ? Status::Cancelled("stopped; the partial download is kept") : ev.status;
  }
  ExportResult out;
  out.path = ev.path;
  out.size = ev.total_bytes.value_or(ev.done_bytes);
  out.sha256 = ev.sha256;
  out.resumed_bytes = ev.resumed_bytes;
  return out;
}

}  // namespace modeld::service
