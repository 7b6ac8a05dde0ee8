// The job table: download jobs as recorded for restarts (the jobs table of the registry,
// docs/store.md). The job manager owns the state machine; this only stores and reads rows.
//
// The functions run on the Db they are given and take no lock of their own. Store's
// SaveJob, GetJob, ListJobs and DeleteJob call them with its mutex held, the writes inside
// Store's write transaction (which reopens a read-only registry and retries on a full disk).
//
// Thread safety: as the Db's: one thread at a time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

// A download job as recorded for restarts (the job manager owns the state machine).
struct JobRecord {
  std::string id;
  std::string model;  // canonical reference
  nlohmann::json request = nlohmann::json::object();
  std::string state;  // queued, resolving, downloading, ..., completed, failed, cancelled
  uint64_t bytes_done = 0;
  std::optional<uint64_t> bytes_total;
  std::string error;
  int64_t created_at = 0;  // set by SaveJob on first save
  int64_t updated_at = 0;  // set by SaveJob
  // Runs in a row that the process did not live to finish without the job making
  // progress, and the bytes done when the current run started (JobManager::Recover).
  int interrupted_runs = 0;
  uint64_t run_start_bytes = 0;
};

// Inserts |job| or updates the row with its id, stamped |now| (seconds since the epoch):
// created_at on insert only, updated_at always. An empty error is stored as NULL.
// REQUIRES: a write transaction open on |db|; |job.id| not empty.
Status SaveJobRow(Db& db, const JobRecord& job, int64_t now);

// The job |id|. NotFound if there is no such row. A request that is not valid JSON reads
// as an empty object.
Result<JobRecord> GetJobRow(Db& db, const std::string& id);

// Every job, oldest first (created_at, then insertion order); with |unfinished_only|, only
// those not completed, failed or cancelled.
Result<std::vector<JobRecord>> ListJobRows(Db& db, bool unfinished_only);

// Deletes the job |id| (OK if there is none). REQUIRES: a write transaction open on |db|.
Status DeleteJobRow(Db& db, const std::string& id);

}  // namespace modeld::store
