// The service's internal helpers for pulls: names and locks of one pull, space checks,
// and conversions between the service's types (types.h) and the layers below. Not for
// front ends: api/ and cli/ use model_service.h and job_manager.h.
//
// Thread safety: stateless functions over a Store (itself safe from any thread).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "engine/engine.h"
#include "formats/model_metadata.h"
#include "service/stop_signal.h"
#include "service/types.h"
#include "sources/plan.h"
#include "store/store.h"

namespace modeld::service {

// The key of one model version's pull: its partial dir and lock (Store::PartialDir/Lock).
std::string PullKey(const ModelRef& ref);
// The lock of |key| (Store::TryLock), waiting while another process holds it; Cancelled
// at once when |stop| (may be null) fires. Replaces |stop|'s OnRequest callback. Calls
// |on_wait| (may be null) once, when it first finds the lock held.
Result<store::FileLock> LockUnlessStopped(store::Store& store, const std::string& key,
                                          StopSignal* stop,
                                          const std::function<void()>& on_wait = nullptr);
// Who holds the lock of |key|, as a WaitNotice about |what|.
WaitNotice WaitingFor(const store::Store& store, const std::string& key, std::string what);
// NoSpace, worded as the seed API's 413 ("Insufficient storage space. Required: ...,
// Available: ..."), when the data dir's file system has less than |bytes| free.
Status CheckSpace(const store::Store& store, uint64_t bytes);

// Where a pull of |ref| downloads |path| (the engine writes it as this + ".part").
std::filesystem::path PullPartialPath(const store::Store& store, const ModelRef& ref,
                                      const std::string& path);
// The bytes a pull of |file| for |req| still has to write, for up-front space checks:
// nothing when the store has its blob (by sha256, or from an earlier download of its URL)
// and it has not changed since it was verified (Store::PeekBlob: no byte is read), or the
// Hub cache has it (linked, not copied); with req.force every file counts (it is fetched
// again). Otherwise its size less what its partial download already holds on disk. A file
// of unknown size counts 0.
uint64_t BytesToFetch(store::Store& store, const PullRequest& req,
                      const sources::PlannedFile& file);
// The same for every file of |plan|: a retry whose bytes are already in blobs/ needs none.
uint64_t BytesToFetch(store::Store& store, const PullRequest& req, const sources::Plan& plan);

// Less than this free on the data dir's file system is a full disk (CheckDiskFull).
constexpr uint64_t kDiskFullBytes = 1 << 20;
// OK, or NoSpace saying that the disk holding the store is full (less than kDiskFullBytes
// free, or the registry could only be opened read-only) and that downloads will fail
// until space is freed. Listing, rm, gc and DELETE /models/NAME work all the same.
Status CheckDiskFull(const store::Store& store);

// The registry's text of an inspection (store::ModelInfo::inspection): the metadata's JSON,
// or {"version", "error"} when the files could not be read.
std::string InspectionJson(const Result<formats::ModelMetadata>& m);
// The view of a stored inspection; nullopt when there is none, or it is from an older
// modeld (to be read again) or unreadable.
std::optional<ModelInspection> ParseInspection(const std::string& text, int64_t inspected_at);

// Conversions.
engine::DownloadOptions ToEngineOptions(const DownloadOptions& o);
Model ToModel(const store::ModelInfo& m);
std::vector<Model> ToModels(const std::vector<store::ModelInfo>& models);
std::vector<VerifyReport> ToVerifyReports(const std::vector<store::VerifyResult>& results);
JobState FromEngineStage(engine::Stage stage);

}  // namespace modeld::service
