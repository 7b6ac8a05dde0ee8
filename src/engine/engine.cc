#include "engine/engine.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <vector>

#include "core/fs.h"
#include "core/log.h"
#include "engine/engine_impl.h"
#include "net/http.h"

namespace modeld::engine {

namespace {
// Checkpoint policy (TickOne): every 1/kCheckpointStep of the file, at least
// kMinCheckpointStep, at most once per kCheckpointGap (bench/README.md, "Crash loss").
constexpr uint64_t kCheckpointStep = 1024;
constexpr uint64_t kMinCheckpointStep = 256 << 10;
constexpr auto kCheckpointGap = std::chrono::milliseconds(5);
uint64_t CheckpointStep(const Transfer& t) {
  return std::max<uint64_t>(t.planner->total() / kCheckpointStep, kMinCheckpointStep);
}
}  // namespace

EngineMetrics& EngineMetrics::Get() {
  static EngineMetrics* m = [] {
    auto& r = metrics::DefaultRegistry();
    return new EngineMetrics{
        r.AddGauge("modeld_engine_connections",
                   "HTTP requests the download engine has in flight (connections in use).")
            .Get({}),
        r.AddCounter("modeld_download_retries_total",
                     "Rounds of retries of a file after failed requests (each retry notice a "
                     "client is told: one per attempt number, however many connections "
                     "failed).")
            .Get({}),
        r.AddCounter("modeld_download_reconnects_total",
                     "Requests made again after a failed one's backoff (one per connection).")
            .Get({}),
        r.AddCounter("modeld_download_hedges_total",
                     "Slow connections replaced by a fresh one that took over their range.")
            .Get({})};
  }();
  return *m;
}

void RegisterEngineMetrics() { EngineMetrics::Get(); }

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kQueued:
      return "queued";
    case Stage::kResolving:
      return "resolving";
    case Stage::kDownloading:
      return "downloading";
    case Stage::kVerifying:
      return "verifying";
    case Stage::kInstalling:
      return "installing";
    case Stage::kCompleted:
      return "completed";
    case Stage::kFailed:
      return "failed";
    case Stage::kPaused:
      return "paused";
    case Stage::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
// Public API: everything goes through the mailbox.

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

TransferId Engine::Submit(DownloadRequest request, EventCallback callback) {
  auto t = std::make_unique<Transfer>();
  {
    MutexLock lock(&impl_->mu);
    t->id = impl_->next_id++;
  }
  TransferId id = t->id;
  t->req = std::move(request);
  t->cb = std::move(callback);
  auto* raw = t.release();
  impl_->Post([impl = impl_.get(), raw, id] {
    impl->Guarded(id, "starting", [&] { impl->Start(std::unique_ptr<Transfer>(raw)); });
  });
  return id;
}

void Engine::Cancel(TransferId id) {
  impl_->Post([impl = impl_.get(), id] {
    impl->Guarded(id, "cancelling", [&] { impl->DoCancel(id, false); });
  });
}
void Engine::Stop(TransferId id) {
  impl_->Post([impl = impl_.get(), id] {
    impl->Guarded(id, "stopping", [&] { impl->DoCancel(id, true); });
  });
}
void Engine::Pause(TransferId id) {
  impl_->Post(
      [impl = impl_.get(), id] { impl->Guarded(id, "pausing", [&] { impl->DoPause(id); }); });
}
void Engine::Resume(TransferId id) {
  impl_->Post(
      [impl = impl_.get(), id] { impl->Guarded(id, "resuming", [&] { impl->DoResume(id); }); });
}

void Engine::SetMaxRate(uint64_t bytes_per_second) {
  impl_->global_rate.Set(bytes_per_second);
  curl_multi_wakeup(impl_->multi);  // paused connections look again now
}
uint64_t Engine::max_rate() const { return impl_->global_rate.rate(); }
void Engine::SetMaxConnectionsPerHost(int n) { impl_->host_cap.store(std::clamp(n, 1, 256)); }

Engine::Impl::Impl() {
  net::EnsureCurlGlobalInit();
  multi = curl_multi_init();
  // One connection per segment: multiplexing segments over one HTTP/2 connection would
  // defeat per-connection rate limits, which is the point of segmenting.
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 128L);
  thread = std::thread([this] { Loop(); });
}

Engine::Impl::~Impl() {
  Post([this] {
    std::vector<TransferId> ids;
    for (auto& [id, t] : transfers) ids.push_back(id);
    for (auto id : ids) DoCancel(id, true);
    MutexLock lock(&mu);
    stop = true;
  });
  thread.join();
  // Transfers still publishing finish here; their completion posts are dropped.
  for (auto& [id, t] : transfers) StopAllConns(*t);
  transfers.clear();
  curl_multi_cleanup(multi);
}

void Engine::Impl::Post(std::function<void()> fn) {
  {
    MutexLock lock(&mu);
    if (stop) return;  // shutting down
    mailbox.push_back(std::move(fn));
  }
  curl_multi_wakeup(multi);
}

// ---------------------------------------------------------------------------------------
// The loop.

void Engine::Impl::Loop() {
  for (;;) {
    std::deque<std::function<void()>> work;
    {
      MutexLock lock(&mu);
      work.swap(mailbox);
    }
    for (auto& fn : work) {
      try {
        fn();  // each is Guarded by its transfer; this is the last line of defence
      } catch (const std::exception& e) {
        log::Error("engine: exception in a mailbox task: {}", e.what());
      } catch (...) {
        log::Error("engine: unknown exception in a mailbox task");
      }
    }
    {
      MutexLock lock(&mu);
      if (stop && mailbox.empty()) break;
    }

    int running = 0;
    curl_multi_perform(multi, &running);
    std::vector<std::pair<CURL*, CURLcode>> done;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) done.emplace_back(msg->easy_handle, msg->data.result);
    }
    for (auto [easy, result] : done) {
      auto it = live.find(easy);
      if (it == live.end() || !it->second->in_multi) continue;  // removed meanwhile
      Connection* c = it->second;
      CURLcode rc = result;  // a structured binding: clang 14 cannot capture it
      Guarded(c->t->id, "handling a response", [&] { OnDone(*c, rc); });
    }

    auto now = Clock::now();
    Tick(now);

    // Sleep until curl, a retry timer, a rate limit's refill or the next progress tick
    // needs us.
    auto wake = now + std::chrono::seconds(1);
    if (auto refill = Unthrottle(now)) wake = std::min(wake, *refill);
    for (auto& [id, t] : transfers) {
      if (t->stage == Stage::kDownloading || t->stage == Stage::kResolving) {
        wake = std::min(wake, now + kProgressInterval);
      }
      bool moving = t->stage == Stage::kDownloading;  // TickOne flushes and checkpoints
      for (auto& c : t->conns) {
        if (c->retry_at) wake = std::min(wake, *c->retry_at);
        if (moving && !c->wbuf.empty()) wake = std::min(wake, c->wbuf_since + kWriteDelay);
      }
      if (moving && t->planner && t->DoneBytes() >= t->checkpoint_bytes + CheckpointStep(*t)) {
        wake = std::min(wake, t->last_checkpoint + kCheckpointGap);
      }
      if (t->deadline) wake = std::min(wake, *t->deadline);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count();
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::clamp<int64_t>(ms, 0, 1000)), nullptr);
  }
}

void Engine::Impl::Tick(Clock::time_point now) {
  std::vector<TransferId> all;
  for (auto& [id, t] : transfers) all.push_back(id);
  for (TransferId id : all) {
    Transfer* t = Find(id);  // an earlier one's failure never erases another, but be sure
    if (t) Guarded(id, "a timer tick", [&] { TickOne(*t, now); });
  }
}

void Engine::Impl::FailOnException(TransferId id, std::string_view what, std::string_view why) {
  log::Error("job={} engine: exception while {}: {}", id, what, why);
  try {
    Transfer* t = Find(id);
    if (!t) return;  // it had already ended (its last event's callback threw, say)
    Fail(*t,
         Status::Internal("internal error while " + std::string(what) + " for " +
                          net::UrlForMessages(t->req.url) + ": " + std::string(why)),
         true);
  } catch (...) {
    log::Error("job={} engine: exception while failing the transfer; dropping it", id);
    try {
      if (Transfer* t = Find(id)) {
        StopAllConns(*t);
        transfers.erase(id);
      }
    } catch (...) {
    }
  }
}

void Engine::Impl::TickOne(Transfer& tr, Clock::time_point now) {
  Transfer* t = &tr;
  if (t->deadline && now >= *t->deadline && !t->finishing && t->stage != Stage::kPaused) {
    Fail(*t,
         Status::Unavailable("download of " + t->req.url + " timed out after " +
                             std::to_string(t->req.options.total_timeout.count() / 1000) + " s"),
         true);
    return;
  }
  // The no-progress bound: reconnects do not reset it, only bytes do.
  if (!t->finishing && (t->stage == Stage::kDownloading || t->stage == Stage::kResolving)) {
    // Held back by a rate limit is not a stuck upstream: the bound counts from when the
    // limit last let go.
    if (now - t->throttled_at < std::chrono::seconds(1)) t->progress.Restart(now);
    Status s = t->progress.Check(t->DoneBytes(), t->total, now, t->req.options.progress_timeout,
                                 t->req.url);
    if (!s.ok()) return Fail(*t, std::move(s), true);
  }
  // Connections waiting out a backoff.
  std::vector<Connection*> due;
  for (auto& c : t->conns) {
    if (c->retry_at && *c->retry_at <= now) due.push_back(c.get());
  }
  for (Connection* c : due) {
    c->retry_at.reset();
    metrics.reconnects.Inc();
    if (c->probe) {
      Launch(*c, c->pos, c->no_range ? kUnknown : c->pos + kProbeBytes - 1);
    } else if (!StartLease(*c)) {
      RemoveConn(*c);
    }
  }
  if (t->stage != Stage::kDownloading) return;
  Status flushed;
  for (auto& c : t->conns) {
    if (!c->wbuf.empty() && now - c->wbuf_since >= kWriteDelay) {
      flushed = FlushWrites(*c);
      if (!flushed.ok()) break;
    }
  }
  if (!flushed.ok()) {
    Fail(*t, flushed, true);  // erases *t
    return;
  }
  // Pacing samples every kPaceInterval, not at every turn of the loop (thousands a second
  // when bytes stream): each connection's window then holds a few dozen samples.
  if (t->planner && !t->finishing && now - t->last_pace >= kPaceInterval) {
    t->last_pace = now;
    Pace(*t, now);
  }
  FillConnections(*t);
  if (t->worker) {
    t->worker->SetPrefix(t->planner ? t->planner->ContiguousPrefix() : t->DoneBytes());
  }
  // Checkpoint every interval, and also every kCheckpointStep of the file (at most every
  // kCheckpointGap), so kill -9 loses little of a fast download too: a checkpoint is
  // recorded at once without a sync (the DiskWorker makes it durable later).
  if (t->planner) {
    auto since = now - t->last_checkpoint;
    if (since >= t->req.options.checkpoint_interval ||
        (since >= kCheckpointGap && t->DoneBytes() >= t->checkpoint_bytes + CheckpointStep(*t))) {
      Checkpoint(*t);
    }
  }
  if (now - t->last_emit >= kProgressInterval) Emit(*t, false);
}

// ---------------------------------------------------------------------------------------
// Lookup, terminal transitions and the mailbox handlers.

Transfer* Engine::Impl::Find(TransferId id) {
  auto it = transfers.find(id);
  return it == transfers.end() ? nullptr : it->second.get();
}

void Engine::Impl::Fail(Transfer& t, Status status, bool keep_partial) {
  log::Info("{}: failed: {}", t.req.url, status.ToString());
  // A partial this run resumed stays when the run fails before its plan exists (the
  // probe met a 503, a 404, no network): the bytes the journal records are still good.
  bool resumable = keep_partial && t.fd.valid() && (t.planner || t.journal);
  FlushAll(t);
  if (resumable && t.planner) Checkpoint(t);
  StopAllConns(t);
  t.worker.reset();  // writes the last checkpoint
  if (!resumable && t.fd.valid()) {
    ::unlink(t.req.part_path.c_str());
    ::unlink(t.journal_path.c_str());
  }
  t.stage = Stage::kFailed;
  TransferEvent ev;
  ev.id = t.id;
  ev.stage = Stage::kFailed;
  ev.done_bytes = t.DoneBytes();
  ev.total_bytes = t.total;
  ev.resumed_bytes = t.resumed_bytes;
  ev.status = std::move(status);
  ev.path = t.req.dest;
  auto cb = t.cb;
  Erase(t);
  cb(ev);
}

void Engine::Impl::AllDone(Transfer& t) {
  t.finishing = true;
  uint64_t total = t.total.value_or(t.DoneBytes());
  t.total = total;
  StopAllConns(t);
  Emit(t, true);
  SetStage(t, Stage::kVerifying);
  TransferId id = t.id;
  t.worker->SetPrefix(total);
  t.worker->Finish(
      total, t.req.dest,
      [this, id] {
        Post([this, id] {
          Guarded(id, "installing", [&] {
            if (Transfer* tt = Find(id)) SetStage(*tt, Stage::kInstalling);
          });
        });
      },
      [this, id](FinishResult r) {
        Post([this, id, r] { Guarded(id, "finishing", [&] { Finished(id, r); }); });
      });
}

void Engine::Impl::Finished(TransferId id, FinishResult r) {
  Transfer* t = Find(id);
  if (!t) return;
  if (!r.status.ok()) return Fail(*t, r.status, false);
  TransferEvent ev;
  ev.id = t->id;
  ev.stage = Stage::kCompleted;
  ev.done_bytes = ev.total_bytes.emplace(t->total.value_or(0));
  ev.resumed_bytes = t->resumed_bytes;
  ev.sha256 = r.sha256;
  ev.path = t->req.dest;
  auto cb = t->cb;
  Erase(*t);
  cb(ev);
}

void Engine::Impl::Erase(Transfer& t) {
  StopAllConns(t);
  t.worker.reset();
  transfers.erase(t.id);
}

void Engine::Impl::DoCancel(TransferId id, bool keep_partial) {
  Transfer* t = Find(id);
  if (!t || t->finishing) return;
  FlushAll(*t);
  if (keep_partial) {
    Checkpoint(*t);
  } else if (t->worker) {
    t->worker->Abandon();  // no journal record may land after the unlink below
  }
  StopAllConns(*t);
  if (!keep_partial && t->fd.valid()) {
    ::unlink(t->req.part_path.c_str());
    ::unlink(t->journal_path.c_str());
  }
  // Tell the caller first; then wait for the disk worker (it may be in an fsync) and only
  // after it has stopped close the file it uses.
  auto worker = std::move(t->worker);
  UniqueFd fd = std::move(t->fd);
  TransferEvent ev;
  ev.id = id;
  ev.stage = Stage::kCancelled;
  ev.done_bytes = t->DoneBytes();
  ev.total_bytes = t->total;
  ev.resumed_bytes = t->resumed_bytes;
  ev.status =
      Status::Cancelled(keep_partial ? "stopped; the partial download is kept" : "cancelled");
  ev.path = t->req.dest;
  auto cb = t->cb;
  Erase(*t);
  cb(ev);
  worker.reset();
  fd.Reset();
}

void Engine::Impl::DoPause(TransferId id) {
  Transfer* t = Find(id);
  if (!t || t->finishing || t->stage == Stage::kPaused) return;
  FlushAll(*t);
  Checkpoint(*t);
  StopAllConns(*t);
  SetStage(*t, Stage::kPaused);
}

void Engine::Impl::DoResume(TransferId id) {
  Transfer* t = Find(id);
  if (!t || t->stage != Stage::kPaused) return;
  t->rate.Clear();
  t->progress.Restart(Clock::now());  // paused time is not time without progress
  if (t->planner) {
    SetStage(*t, Stage::kDownloading);
    FillConnections(*t);
  } else {
    // Paused before the plan existed, or a single stream that cannot resume mid-file.
    if (t->probed) {
      t->worker->Reset();
      t->single_done = 0;
      t->probed = false;
      if (t->req.observer) t->req.observer->Reset();
      if (::ftruncate(t->fd.get(), 0) != 0) {
        return Fail(*t, ErrnoStatus("truncate " + t->req.part_path.string(), errno), false);
      }
    }
    SetStage(*t, Stage::kResolving);
    StartProbe(*t);
  }
}

// ---------------------------------------------------------------------------------------
// Events.

void Engine::Impl::SetStage(Transfer& t, Stage s) {
  if (t.stage == s) return;
  t.stage = s;
  if (s == Stage::kDownloading) t.last_byte_at = Clock::now();  // stalled counts from here
  Emit(t, true);
}

void Engine::Impl::Emit(Transfer& t, bool force, std::optional<RetryNotice> retry) {
  auto now = Clock::now();
  uint64_t done = t.DoneBytes();
  t.rate.Add(now, done);
  if (done != t.last_byte_count) {
    t.last_byte_count = done;
    t.last_byte_at = now;
  }
  bool stalled =
      t.stage == Stage::kDownloading && now - t.last_byte_at >= t.req.options.stalled_after;
  if (!force && !retry && done == t.last_emit_bytes && stalled == t.stalled_told &&
      now - t.last_emit < std::chrono::seconds(1)) {
    return;
  }
  t.stalled_told = stalled;
  TransferEvent ev;
  ev.id = t.id;
  ev.stage = t.stage;
  ev.done_bytes = done;
  ev.total_bytes = t.total;
  ev.resumed_bytes = t.resumed_bytes;
  ev.connections = static_cast<int>(t.conns.size());
  ev.path = t.req.dest;
  ev.stalled = stalled;
  if (!stalled) {
    ev.bytes_per_second = t.rate.BytesPerSecond();
    ev.eta_seconds = t.rate.EtaSeconds(t.total);
  }
  ev.retry = std::move(retry);
  t.last_emit = now;
  t.last_emit_bytes = done;
  t.cb(ev);
}

}  // namespace modeld::engine
