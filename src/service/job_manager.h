// JobManager: download jobs over ModelService: the pre-flight every front end runs before
// a download (one call: validate, join, installed?, resolve, space), a queue with a limit
// on concurrent downloads and priorities, one job per model version (identical requests
// join it), cancel / pause / resume / remove, records in the registry so jobs survive a
// restart (written by a RecordWriter no download thread waits on), and one EventBus that
// every progress channel (polling, SSE, WebSocket, NDJSON) reads.
//
// Job states (types.h): queued -> resolving -> downloading -> verifying -> installing ->
// completed, with paused, cancelled and failed beside them.
//
// Thread safety: all methods are safe from any thread. Events are published after the
// manager's lock is released, so a subscriber may call back into it; subscribers run on
// download and API threads and must not block (queue and return). Submit blocks its
// caller while it resolves the model (network): call it off I/O threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "service/job_codec.h"
#include "service/job_event.h"
#include "service/model_service.h"

namespace modeld::service {

class RecordWriter;

struct Job {
  std::string id;  // "dwnld_<hex>"
  PullRequest request;
  int priority = 0;
  PlanSummary plan;  // what the pre-flight found (empty for jobs recovered after a restart)
  JobEvent last;     // the latest state and progress
  // A queued job's place in the queue: 1 starts next (priority, then submission order);
  // 0 when the job is not waiting for a slot.
  int queue_position = 0;
  int64_t created_at = 0, started_at = 0, finished_at = 0;
  std::optional<Model> result;  // when completed
  Status error;                 // when failed or cancelled
};

struct Submission {
  Job job;
  bool joined = false;  // an identical request's job, already queued or running
};

// How many jobs are queued, running (resolving to installing) and paused: for metrics.
struct JobCounts {
  int queued = 0, active = 0, paused = 0;
};

// Installed models and the downloads not finished, for listings that show both.
struct ModelsView {
  std::vector<Model> installed;
  std::vector<Job> downloads;  // queued, running or paused
};

class JobManager {
 public:
  // |max_concurrent| downloads run at once; the rest wait in priority order.
  JobManager(ModelService& service, int max_concurrent);
  // Stops running downloads, keeping their partials and records (queued again), so a new
  // JobManager resumes them.
  ~JobManager();

  // The pre-flight, once: InvalidArgument for a bad name or version; the job of an
  // identical request (or of any request for that version, when this one names it alone)
  // if one is queued, running or paused (joined; a paused one resumes), FailedPrecondition
  // if that job asks for something else (another URL, checksum or selection); AlreadyExists if the
  // version is installed as asked (not from another URL, checksum or Hub selection: those are
  // pulled) and intact, and !force; the source's error (NotFound, PermissionDenied, Unavailable,
  // ...) if it cannot be resolved; NoSpace if what is left to fetch does not fit. Otherwise queues
  // the job with its plan. Blocks while resolving.
  Result<Submission> Submit(PullRequest request, int priority = 0) EXCLUDES(mu_);
  // NotFound for an unknown id.
  Result<Job> Get(const std::string& id) EXCLUDES(mu_);
  std::vector<Job> List() EXCLUDES(mu_);
  JobCounts Counts() EXCLUDES(mu_);
  Result<ModelsView> Models() EXCLUDES(mu_);
  // NotFound for an unknown id; FailedPrecondition when the job's state does not allow it.
  Status Cancel(const std::string& id) EXCLUDES(mu_);
  Status Pause(const std::string& id) EXCLUDES(mu_);
  Status Resume(const std::string& id) EXCLUDES(mu_);
  // Queues a failed or cancelled job again, as it was asked (resolved afresh; a failed
  // job's partial download is resumed). FailedPrecondition when the job is not failed or
  // cancelled, or another job of that model version is live.
  Status Retry(const std::string& id) EXCLUDES(mu_);
  // Forgets a job and its record: a running or queued one is cancelled first, and the
  // partial download of a cancelled, paused or failed one is removed (unless another job
  // of that version is live). NotFound for an unknown id.
  Status Remove(const std::string& id) EXCLUDES(mu_);
  // Caps a job's bytes a second, all its files together (0: no cap of its own; the
  // engine's applies as well): at once when it runs (within a second), and kept in its
  // record for later runs (a failed or cancelled job's for its retry). NotFound for an
  // unknown id; FailedPrecondition when it completed. A request that joins a running job
  // (Submit) with a max_rate of its own sets the job's too.
  Status SetMaxRate(const std::string& id, uint64_t bytes_per_second) EXCLUDES(mu_);

  // Requeues the jobs a previous run left unfinished (paused ones stay paused). A job
  // that was running when the process died is retried, but after kMaxInterruptedRuns
  // runs in a row that died without the job making progress (a job that crashes the
  // server, say) it is marked failed instead. Returns how many were requeued.
  Result<int> Recover() EXCLUDES(mu_);
  static constexpr int kMaxInterruptedRuns = 3;

  // The retry budget of jobs whose request sets none (DownloadOptions::retry_for;
  // default kDefaultRetryFor). REQUIRES: called before the first Submit or Recover.
  void set_default_retry_for(std::chrono::milliseconds d) { default_retry_for_ = d; }

  // The model versions whose partial downloads a job will resume: queued, running, paused
  // or failed (for gc, which keeps them).
  std::vector<ModelRef> PartialsKept() EXCLUDES(mu_);
  // How many downloads run at once (the rest wait, queue_position > 0).
  int max_concurrent() const { return max_concurrent_; }

  EventBus& events() { return bus_; }
  // Returns once every job record queued so far is in the registry.
  void FlushRecordsForTest();

 private:
  struct Entry {
    Job job;
    std::shared_ptr<const sources::Plan> plan;  // resolved up front; null after a restart
    std::unique_ptr<StopSignal> stop;
    bool running = false;
    std::string after_stop;        // "pause", "cancel", "remove", "requeue" or "shutdown"
    int interrupted_runs = 0;      // runs in a row the process did not survive
    uint64_t run_start_bytes = 0;  // bytes done when the current run started
  };
  // Holds mu_; on destruction releases it, then removes the partial downloads and
  // publishes the events queued meanwhile.
  class Locked;
  Job* FindActive(const ModelRef& ref) REQUIRES(mu_);
  Job Enqueue(PullRequest request, int priority, std::shared_ptr<const sources::Plan> plan,
              PlanSummary summary) REQUIRES(mu_);
  void Pump() REQUIRES(mu_);               // starts queued jobs
  void Run(std::string id) EXCLUDES(mu_);  // a download thread
  void Update(Entry& e, JobState state, bool state_change) REQUIRES(mu_);
  void Persist(const Entry& e) REQUIRES(mu_);  // queues the write
  void MarkCancelled(Entry& e) REQUIRES(mu_);
  void Forget(const std::string& id) REQUIRES(mu_);  // erases the entry
  void ReapThreads() EXCLUDES(mu_);
  Result<Entry*> Find(const std::string& id) REQUIRES(mu_);
  // The queued jobs' places (id -> 1, 2, ...) in the order Pump starts them.
  std::map<std::string, int> QueuePositions() const REQUIRES(mu_);

  ModelService& service_;
  const int max_concurrent_;
  std::chrono::milliseconds default_retry_for_ = kDefaultRetryFor;  // set before any job
  EventBus bus_;
  std::unique_ptr<RecordWriter> writer_;  // job records, written off the caller's thread
  Mutex mu_;
  CondVar cv_;  // a job's run ended (running_ fell)
  std::map<std::string, Entry> jobs_ GUARDED_BY(mu_);
  std::vector<std::string> order_ GUARDED_BY(mu_);  // submission order
  int running_ GUARDED_BY(mu_) = 0;
  bool shutting_down_ GUARDED_BY(mu_) = false;
  std::map<std::thread::id, std::thread> threads_ GUARDED_BY(mu_);  // running jobs
  std::vector<std::thread> finished_threads_ GUARDED_BY(mu_);       // to join
  std::vector<JobEvent> outbox_ GUARDED_BY(mu_);                    // to publish once unlocked
  std::vector<std::string> doomed_ GUARDED_BY(mu_);  // pull keys whose partials go, unlocked
};

}  // namespace modeld::service
