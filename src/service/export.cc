#include <condition_variable>
#include <mutex>

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
  std::mutex mu;
  std::condition_variable cv;
  std::optional<engine::TransferEvent> final_event;
  engine::Engine eng;
  engine::TransferId id = eng.Submit(dl, [&](const engine::TransferEvent& ev) {
    if (progress && !ev.terminal()) {
      Progress p;
      p.state = FromEngineStage(ev.stage);
      p.done = ev.done_bytes;
      p.total = ev.total_bytes;
      p.resumed = ev.resumed_bytes;
      p.bytes_per_second = ev.bytes_per_second;
      p.eta_seconds = ev.eta_seconds;
      progress(p);
    }
    if (ev.terminal()) {
      std::lock_guard<std::mutex> lock(mu);
      final_event = ev;
      cv.notify_all();
    }
  });
  if (stop) stop->OnRequest([&eng, id] { eng.Stop(id); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return final_event.has_value(); });
  }
  if (stop) stop->Clear();
  const auto& ev = *final_event;
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
