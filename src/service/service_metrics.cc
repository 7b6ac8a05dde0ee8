#include "service/service_metrics.h"

#include "core/log.h"
#include "engine/engine.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::service {

namespace {

metrics::CounterFamily& BytesFamily() {
  static metrics::CounterFamily& f = metrics::DefaultRegistry().AddCounter(
      "modeld_download_bytes_total",
      "Bytes downloaded and written to partial files, by kind of source.", {"source"});
  return f;
}

metrics::CounterFamily& FinishedFamily() {
  static metrics::CounterFamily& f = metrics::DefaultRegistry().AddCounter(
      "modeld_jobs_finished_total",
      "Download jobs that ended, by outcome (completed, failed, cancelled) and, for failures, "
      "reason (the Status code's name; \"none\" otherwise).",
      {"outcome", "reason"});
  return f;
}

metrics::CollectedGauge OneGauge(std::string name, std::string help, double value) {
  return {std::move(name), std::move(help), {}, {{{}, value}}};
}

}  // namespace

std::string_view SourceLabel(std::string_view plan_source) {
  if (plan_source == "huggingface") return "hub";
  if (plan_source == "url") return "url";
  if (plan_source == "ollama") return "ollama";
  return "catalog";
}

metrics::Counter& DownloadedBytes(std::string_view plan_source) {
  return BytesFamily().Get({SourceLabel(plan_source)});
}

void CountFinishedJob(JobState state, const Status& error) {
  std::string_view outcome = state == JobState::kCompleted   ? "completed"
                             : state == JobState::kCancelled ? "cancelled"
                                                             : "failed";
  std::string_view reason = state == JobState::kFailed && !error.ok()
                                ? Status::CodeName(error.code())
                                : std::string_view("none");
  FinishedFamily().Get({outcome, reason}).Inc();
}

metrics::Registration RegisterServerMetrics(ModelService& models, JobManager& jobs) {
  // Made now, so a scrape shows them at 0 before the first download.
  BytesFamily();
  FinishedFamily();
  engine::RegisterEngineMetrics();
  return metrics::DefaultRegistry().AddCollector([&models, &jobs] {
    std::vector<metrics::CollectedGauge> out;
    JobCounts c = jobs.Counts();
    out.push_back(OneGauge("modeld_jobs_queued", "Download jobs waiting for a slot.", c.queued));
    out.push_back(OneGauge("modeld_jobs_active",
                           "Download jobs running (resolving, downloading, verifying, installing).",
                           c.active));
    out.push_back(OneGauge("modeld_jobs_paused", "Download jobs paused.", c.paused));
    if (auto u = models.Usage(); u.has_value()) {
      out.push_back(OneGauge("modeld_store_models", "Models installed in the store.",
                             static_cast<double>(u->model_count)));
      out.push_back(OneGauge("modeld_store_blobs", "Distinct blobs the installed models use.",
                             static_cast<double>(u->blob_count)));
      out.push_back(OneGauge("modeld_store_blob_bytes",
                             "Bytes of the distinct blobs the installed models use (the store's "
                             "size; a file shared by models counts once).",
                             static_cast<double>(u->blob_bytes)));
      out.push_back(OneGauge("modeld_store_free_bytes",
                             "Free space of the data directory's file system, in bytes.",
                             static_cast<double>(u->free_bytes)));
    } else {
      log::Warn("metrics: the store's size is left out of this scrape: {}", u.error().ToString());
    }
    uint64_t loaded_bytes = 0;
    auto loaded = models.Loaded();
    for (const auto& m : loaded) loaded_bytes += m.state.bytes;
    out.push_back(OneGauge("modeld_loaded_models", "Models loaded in memory.",
                           static_cast<double>(loaded.size())));
    out.push_back(OneGauge("modeld_loaded_bytes", "Bytes of the models loaded in memory.",
                           static_cast<double>(loaded_bytes)));
    return out;
  });
}

}  // namespace modeld::service
