// JobManager: download jobs over ModelService::Pull: a queue with a limit on concurrent
// downloads and priorities, one job per model version (identical requests join it),
// cancel / pause / resume, records in the store so jobs survive a restart, and one
// EventBus that every progress channel (polling, SSE, WebSocket) reads.
//
// Job states: queued -> resolving -> downloading -> verifying -> installing -> completed,
// with paused, cancelled and failed beside them (docs/jobs.md).
//
// Thread safety: all methods are safe from any thread. Events are published after the
// manager's lock is released, so a subscriber may call back into it; subscribers run on
// download and API threads and must not block (queue and return).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "service/model_service.h"

namespace modeld::service {

struct JobEvent {
  std::string job_id;
  std::string model;  // canonical reference
  std::string state;  // queued, resolving, downloading, verifying, installing, completed, ...
  uint64_t bytes_done = 0;
  std::optional<uint64_t> bytes_total;
  double bytes_per_second = 0;
  std::optional<double> eta_seconds;
  std::string error;          // failed: the reason
  std::string error_code;     // failed: Status code name (NotFound, NoSpace, Corrupt, ...)
  bool terminal = false;      // completed, failed or cancelled
  bool state_change = false;  // false for plain progress (which may be coalesced)
};

class EventBus {
 public:
  using Subscriber = std::function<void(const JobEvent&)>;
  uint64_t Subscribe(Subscriber fn);
  void Unsubscribe(uint64_t id);
  void Publish(const JobEvent& ev);

 private:
  std::mutex mu_;
  uint64_t next_ = 1;                                    // GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<Subscriber>> subs_;  // GUARDED_BY(mu_)
};

struct Job {
  std::string id;  // "dwnld_<hex>"
  PullRequest request;
  int priority = 0;
  JobEvent last;  // the latest state and progress
  int64_t created_at = 0, started_at = 0, finished_at = 0;
  std::optional<store::ModelInfo> result;  // when completed
  Status error;                            // when failed
};

class JobManager {
 public:
  // |max_concurrent| downloads run at once; the rest wait in priority order.
  JobManager(ModelService& service, int max_concurrent);
  // Stops running downloads, keeping their partials and records, so a new JobManager
  // resumes them.
  ~JobManager();

  // Queues a pull. If a job for the same model version is queued, running or paused,
  // that job is returned instead (*joined = true); a paused one is resumed.
  Result<Job> Submit(PullRequest request, int priority, bool* joined = nullptr);
  Result<Job> Get(const std::string& id);
  std::vector<Job> List();
  // NotFound for an unknown id; FailedPrecondition when the job's state does not allow it.
  Status Cancel(const std::string& id);
  Status Pause(const std::string& id);
  Status Resume(const std::string& id);
  // Forgets a job and its record: a running or queued one is cancelled first (its partial
  // download removed). NotFound for an unknown id.
  Status Remove(const std::string& id);

  // Requeues the jobs a previous run left unfinished (paused ones stay paused). A job
  // that was running when the process died is retried, but after kMaxInterruptedRuns
  // runs in a row that died without the job making progress (a job that crashes the
  // server, say) it is marked failed instead. Returns how many were requeued.
  Result<int> Recover();
  static constexpr int kMaxInterruptedRuns = 3;

  EventBus& events() { return bus_; }

 private:
  struct Entry {
    Job job;
    std::unique_ptr<StopSignal> stop;
    bool running = false;
    std::string after_stop;  // "pause", "cancel", "remove", "requeue" or "shutdown"
    int interrupted_runs = 0;      // runs in a row the process did not survive
    uint64_t run_start_bytes = 0;  // bytes done when the current run started
  };
  // Holds mu_; on destruction releases it, then publishes the events Update queued.
  class Locked;
  void Pump();                         // REQUIRES: mu_ held; starts queued jobs
  void Run(std::string id);            // a download thread
  void Update(Entry& e, const std::string& state, bool state_change);  // REQUIRES: mu_ held
  void Persist(const Entry& e);                     // REQUIRES: mu_ held (queues the write)
  void Write(uint64_t seq, store::JobRecord rec);   // REQUIRES: mu_ not held
  void MarkCancelled(Entry& e);                    // REQUIRES: mu_ held
  void Forget(const std::string& id);              // REQUIRES: mu_ held; erases the entry
  void ReapThreads();                              // REQUIRES: mu_ not held
  Result<Entry*> Find(const std::string& id);     // REQUIRES: mu_ held
  Job Snapshot(const Entry& e) const { return e.job; }

  ModelService& service_;
  const int max_concurrent_;
  EventBus bus_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> jobs_;   // GUARDED_BY(mu_)
  std::vector<std::string> order_;      // GUARDED_BY(mu_): submission order
  int running_ = 0;                     // GUARDED_BY(mu_)
  bool shutting_down_ = false;          // GUARDED_BY(mu_)
  std::map<std::thread::id, std::thread> threads_;  // GUARDED_BY(mu_): running jobs
  std::vector<std::thread> finished_threads_;     // GUARDED_BY(mu_): to join
  std::vector<JobEvent> outbox_;        // GUARDED_BY(mu_): to publish once unlocked
  std::vector<std::pair<uint64_t, store::JobRecord>> persist_outbox_;  // GUARDED_BY(mu_)
  uint64_t persist_seq_ = 0;            // GUARDED_BY(mu_)
  std::mutex write_mu_;                 // serialises registry writes, in order per job
  std::map<std::string, uint64_t> written_;  // GUARDED_BY(write_mu_): last seq per job
};

// The request as JSON and back (what the jobs table stores).
nlohmann::json PullRequestToJson(const PullRequest& r, int priority);
Result<PullRequest> PullRequestFromJson(const nlohmann::json& j, int* priority);

}  // namespace modeld::service
