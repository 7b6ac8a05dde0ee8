// PlanRunner: executes one resolved Plan for ModelService::Pull. Each file is reused when
// the store already has its blob with the right bytes (by SHA-256, by an earlier download
// of the same URL, or from the Hugging Face cache; Store::HasVerifiedBlob), else downloaded
// by the engine, up to four files at once, each verified by its digest and adopted over any
// blob of that digest that is not known good. A forced pull reuses nothing and replaces.
// Archives are extracted when asked. Progress from all files is summed into one event
// stream.
//
// A file whose URL another pull (in this or another process) is downloading waits for it
// and then reuses its blob, saying so first (Progress::waiting, with the holder's pid); a
// stop ends that wait at once. A failed connection's retry is told as Progress::retry.
// The request's rate limit holds all its files together (DownloadRequest::rate_limit).
//
// Thread safety: one Run per runner; Run blocks. The StopSignal may fire from any thread.
#pragma once

#include <set>
#include <vector>

#include "core/mutex.h"
#include "engine/engine.h"
#include "service/stop_signal.h"
#include "service/types.h"
#include "sources/plan.h"
#include "store/store.h"

namespace modeld::service {

struct RunStats {
  bool downloaded = false;
  uint64_t resumed_bytes = 0;
  std::vector<std::string> extracted_archives;  // sha256 of archives not kept in the model
};

class PlanRunner {
 public:
  PlanRunner(store::Store& store, engine::Engine& engine, const PullRequest& req,
             const sources::Plan& plan, const ProgressCallback& progress, StopSignal* stop,
             const ArchiveLimits& limits);

  // The model's files, each blob in the store. Cancelled when |stop| fired (partials kept).
  Result<std::vector<store::FileEntry>> Run(RunStats* stats) EXCLUDES(active_mu_, progress_mu_);
  // Where each file stands now.
  std::vector<FileProgress> FileProgressSnapshot() EXCLUDES(progress_mu_);

 private:
  struct Slot {  // one file's progress
    uint64_t done = 0;
    std::optional<uint64_t> total;
    double rate = 0;
    uint64_t resumed = 0;
    engine::Stage stage = engine::Stage::kQueued;
    bool reused = false;
    bool stalled = false;
  };
  std::optional<store::FileEntry> Reuse(size_t i);
  // How a verified file is adopted: replacing what is there when forced.
  store::AdoptMode Adoption() const;
  Status Download(size_t i, store::FileEntry* out) EXCLUDES(active_mu_, progress_mu_);
  Result<std::vector<store::FileEntry>> Extract(const store::FileEntry& archive,
                                                const std::filesystem::path& from, size_t index);
  // Sums and reports (|ev| null: file |i| reused). The callback runs under progress_mu_.
  void Report(size_t i, const engine::TransferEvent* ev) EXCLUDES(progress_mu_);
  // Reports that file |i| waits for another download of its URL (a WaitNotice).
  void Waiting(size_t i) EXCLUDES(progress_mu_);
  FileProgress FileAt(size_t i) const REQUIRES(progress_mu_);
  void StopAll() EXCLUDES(active_mu_);  // stops every running transfer and starts no more
  std::filesystem::path PartialPath(size_t i) const;

  store::Store& store_;
  engine::Engine& engine_;
  const PullRequest& req_;
  const sources::Plan& plan_;
  const ProgressCallback& progress_;
  StopSignal* stop_;
  ArchiveLimits limits_;
  std::shared_ptr<engine::RateLimit> rate_limit_;  // options.max_rate, or the owner's live one

  Mutex active_mu_;
  std::set<engine::TransferId> active_ GUARDED_BY(active_mu_);
  bool stopping_ GUARDED_BY(active_mu_) = false;
  CondVar stop_cv_;  // signalled with stopping_

  Mutex progress_mu_;
  std::vector<Slot> slots_ GUARDED_BY(progress_mu_);
};

}  // namespace modeld::service
