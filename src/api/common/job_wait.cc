#include "api/common/job_wait.h"

#include <atomic>

#include "core/mutex.h"

namespace modeld::api {

void WhenJobEnds(service::JobManager& jobs, const std::string& id,
                 std::function<void(Result<service::Job>)> done) {
  struct State {
    std::atomic<bool> answered{false};
    std::atomic<uint64_t> sub{0};
  };
  auto st = std::make_shared<State>();
  auto finish = [&jobs, id, done, st]() {
    if (st->answered.exchange(true)) return;
    if (uint64_t sub = st->sub.exchange(0)) jobs.events().Unsubscribe(sub);
    done(jobs.Get(id));
  };
  st->sub = jobs.events().Subscribe([id, finish](const service::JobEvent& ev) {
    // Events are published after the job manager's lock is released: finishing here
    // may read the job again.
    if (ev.job_id == id && ev.terminal()) finish();
  });
  // It may have ended (or never existed) before we subscribed.
  auto job = jobs.Get(id);
  if (!job.has_value() || job->last.terminal()) finish();
}

Status FollowJob(service::JobManager& jobs, const std::string& id,
                 std::shared_ptr<EventStream> stream,
                 std::function<bool(EventStream&, const service::JobEvent&)> on_event) {
  struct State {
    Mutex mu;  // one call of on_event at a time; none after it said stop
    bool done GUARDED_BY(mu) = false;
  };
  auto st = std::make_shared<State>();
  std::weak_ptr<EventStream> weak = stream;
  auto deliver = [st, weak, on_event](const service::JobEvent& ev) {
    auto s = weak.lock();
    if (!s) return;
    MutexLock lock(&st->mu);
    if (st->done) return;
    if (!on_event(*s, ev)) {
      st->done = true;
      s->Close();
    }
  };
  auto& bus = jobs.events();
  uint64_t sub = bus.Subscribe([id, deliver](const service::JobEvent& ev) {
    if (ev.job_id == id) deliver(ev);
  });
  stream->OnClose([&bus, sub] { bus.Unsubscribe(sub); });
  auto job = jobs.Get(id);
  if (!job.has_value()) {
    bus.Unsubscribe(sub);
    return job.error();
  }
  deliver(job->last);  // where it stands now
  return Status::OK();
}

void FollowAllJobs(service::JobManager& jobs, const std::shared_ptr<EventStream>& stream,
                   std::function<void(EventStream&, const service::JobEvent&)> on_event,
                   bool removals) {
  auto& bus = jobs.events();
  std::weak_ptr<EventStream> weak = stream;
  uint64_t sub = bus.Subscribe(
      [weak, on_event](const service::JobEvent& ev) {
        if (auto s = weak.lock()) on_event(*s, ev);
      },
      removals);
  stream->OnClose([&bus, sub] { bus.Unsubscribe(sub); });
}

}  // namespace modeld::api
