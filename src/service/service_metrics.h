// The service's metrics (docs/metrics.md), in the process's registry (core/metrics.h):
// bytes downloaded by source and jobs finished by outcome and reason, counted as they
// happen wherever the service runs; and, for a server, the gauges read at each scrape:
// jobs queued, active and paused, the store's size and free space, loaded models and their
// bytes.
//
// Thread safety: safe from any thread.
#pragma once

#include <string_view>

#include "core/metrics.h"
#include "core/status.h"
#include "service/types.h"

namespace modeld::service {

class JobManager;
class ModelService;

// The kind of source of a plan whose sources::Plan::source is |plan_source|
// ("huggingface", "url", "ollama", or a catalog's name): "hub", "url", "ollama" or
// "catalog". A catalog's own name is not a label value: catalogs are the user's files.
std::string_view SourceLabel(std::string_view plan_source);

// modeld_download_bytes_total for plans from |plan_source| (SourceLabel).
metrics::Counter& DownloadedBytes(std::string_view plan_source);

// Counts, in modeld_jobs_finished_total, a job that ended in |state| (completed, failed or
// cancelled); a failure's reason is the name of |error|'s code ("NotFound", "Unavailable",
// ...), any other outcome's "none".
void CountFinishedJob(JobState state, const Status& error);

// Registers the scrape-time gauges of |models| and |jobs| in the process's registry. They
// go when the returned Registration is destroyed, which must happen before |jobs| and
// |models| are, and not while holding their locks.
metrics::Registration RegisterServerMetrics(ModelService& models, JobManager& jobs);

}  // namespace modeld::service
