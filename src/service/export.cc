#include "core/mutex.h"
#include "engine/engine.h"
#include "service/model_service.h"
#include "service/pull_support.h"

namespace modeld::service {

Result<ExportResult> Export(const ExportRequest& req, const ProgressCallback& progress,
                            StopSignal* stop) {
  engine::DownloadRequest dl;
  dl.url = req.url;
  dl.dest = req.path;
  dl.checksum = req.checksum;
  dl.headers = req.headers;
  dl.options = ToEngineOptions(req.options);
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
