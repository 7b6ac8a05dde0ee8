#include "engine/engine.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "core/fs.h"
#include "core/log.h"
#include "engine/disk_worker.h"
#include "engine/journal.h"
#include "engine/probe_decision.h"
#include "engine/rate_window.h"
#include "engine/retry_policy.h"
#include "engine/segment_planner.h"
#include "net/curl_setup.h"
#include "net/http.h"

namespace modeld::engine {

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kQueued: return "queued";
    case Stage::kResolving: return "resolving";
    case Stage::kDownloading: return "downloading";
    case Stage::kVerifying: return "verifying";
    case Stage::kInstalling: return "installing";
    case Stage::kCompleted: return "completed";
    case Stage::kFailed: return "failed";
    case Stage::kPaused: return "paused";
    case Stage::kCancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kUnknown = UINT64_MAX;
constexpr auto kProgressInterval = std::chrono::milliseconds(100);
// The probe asks for this much; its connection then continues with the rest of its lease.
// Bounded so that learning the size never means aborting a response mid-body.
constexpr uint64_t kProbeBytes = 1 << 20;
// Received bytes are written in chunks of this size: one pwrite per libcurl callback
// (16-64 KiB) costs more in syscalls than the copy into this buffer.
constexpr size_t kWriteChunk = 512 * 1024;
// ...or once the oldest buffered byte is this old, so a slow link loses little to kill -9.
constexpr auto kWriteDelay = std::chrono::milliseconds(100);

struct Transfer;

// Why the write callback stopped a response early.
enum class Abort {
  kNone,
  kLeaseEnd,     // reached the (possibly shrunk) end of the lease: success
  kBadResponse,  // status or headers unusable; see resp.status
  kFileChanged,  // validators or range show the upstream file changed: restart
  kFatal,        // fail the transfer with |fatal|
};

struct Connection {
  void* owner = nullptr;  // the Engine::Impl, for the static libcurl callbacks
  Transfer* t = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  int worker = 0;
  bool probe = false;
  bool no_range = false;     // request without a Range header (probe fallback)
  bool in_multi = false;
  std::string url;           // the URL this attempt requested
  uint64_t pos = 0;          // next byte this connection receives
  uint64_t flushed = 0;      // bytes before this are written to the file
  std::string wbuf;          // received, not yet written: bytes [flushed, pos)
  Clock::time_point wbuf_since{};  // when the first byte in wbuf arrived
  uint64_t attempt_start = 0;
  uint64_t end = kUnknown;   // single-stream end (ranged transfers ask the planner)
  uint64_t request_end = kUnknown;  // exclusive end of the range this attempt asked for
  int attempts = 0;
  std::optional<Clock::time_point> retry_at;

  // The current response's status and headers, reset per attempt and per redirect hop.
  ResponseHead resp;
  net::UpstreamGuard guard;  // the address policy's verdicts for this handle
  bool validated = false;
  Abort abort = Abort::kNone;
  Status fatal;
};

struct Transfer {
  TransferId id = 0;
  DownloadRequest req;
  EventCallback cb;
  Stage stage = Stage::kQueued;
  std::filesystem::path journal_path;
  UniqueFd fd;

  // Learned from the probe.
  std::optional<uint64_t> total;
  bool ranged = false;  // segmented; else one stream
  std::string etag, last_modified;
  std::string effective_url;  // after redirects; re-resolved through req.url on 4xx
  std::string origin;         // origin of req.url: the only one that gets req.headers

  // Resume input from the journal.
  RangeSet resume_done;
  std::optional<JournalState> journal;
  uint64_t resumed_bytes = 0;

  std::unique_ptr<SegmentPlanner> planner;
  int target_connections = 1;
  int next_worker = 1;
  std::vector<std::unique_ptr<Connection>> conns;
  std::unique_ptr<DiskWorker> worker;
  int restarts = 0;
  bool finishing = false;
  bool probed = false;       // the probe's answer has set total/ranged/validators
  uint64_t single_done = 0;  // bytes written by the one stream of an unranged transfer
  std::optional<Clock::time_point> deadline;
  ProgressBound progress;  // fails the transfer when it stops advancing

  // Progress.
  RateWindow rate;
  Clock::time_point last_emit{};
  uint64_t last_emit_bytes = kUnknown;
  Clock::time_point last_checkpoint{};
  uint64_t checkpoint_bytes = 0;  // DoneBytes() at the last checkpoint

  uint64_t DoneBytes() const { return planner ? planner->DoneBytes() : single_done; }
};

}  // namespace

struct Engine::Impl {
  Impl();
  ~Impl();

  void Post(std::function<void()> fn);
  void Loop();

  // Mailbox handlers (loop thread).
  void Start(std::unique_ptr<Transfer> t);
  void DoCancel(TransferId id, bool keep_partial);
  void DoPause(TransferId id);
  void DoResume(TransferId id);

  // Transfer state machine (loop thread).
  void StartProbe(Transfer& t);
  bool InitFromProbe(Connection& c);
  bool Validate(Connection& c);
  bool Accept(Connection& c, const ResponseCheck& check);
  void OnDone(Connection& c, CURLcode rc);
  void OnLeaseDone(Connection& c);
  void OnFailure(Connection& c, CURLcode rc);
  void FillConnections(Transfer& t);
  bool StartLease(Connection& c);
  void Launch(Connection& c, uint64_t from, uint64_t to_inclusive);
  void Detach(Connection& c);
  void RemoveConn(Connection& c);
  void StopAllConns(Transfer& t);
  void Restart(Transfer& t, const std::string& why);
  void Fail(Transfer& t, Status status, bool keep_partial);
  void AllDone(Transfer& t);
  void Finished(TransferId id, FinishResult r);
  void Checkpoint(Transfer& t);
  void Tick(Clock::time_point now);
  void TickOne(Transfer& t, Clock::time_point now);
  // Runs |fn| (work on transfer |id|); an exception fails that transfer with Internal.
  template <typename Fn>
  void Guarded(TransferId id, std::string_view what, Fn&& fn);
  void FailOnException(TransferId id, std::string_view what, std::string_view why);
  void Emit(Transfer& t, bool force);
  void SetStage(Transfer& t, Stage s);
  void Erase(Transfer& t);
  Transfer* Find(TransferId id);
  JournalState Snapshot(const Transfer& t) const;
  Connection* NewConn(Transfer& t);
  Status FlushWrites(Connection& c);
  void FlushAll(Transfer& t);

  static size_t WriteCb(char* data, size_t size, size_t n, void* user);
  static size_t HeaderCb(char* data, size_t size, size_t n, void* user);
  size_t OnHeader(Connection& c, std::string_view line);
  size_t OnBody(Connection& c, char* data, size_t len);

  CURLM* multi = nullptr;
  std::thread thread;
  std::mutex mu;
  std::deque<std::function<void()>> mailbox;  // GUARDED_BY(mu)
  bool stop = false;                          // GUARDED_BY(mu)
  TransferId next_id = 1;                     // GUARDED_BY(mu)

  // Loop-thread state.
  std::map<TransferId, std::unique_ptr<Transfer>> transfers;
  std::unordered_map<CURL*, Connection*> live;
  std::mt19937_64 rng{std::random_device{}()};
};

template <typename Fn>
void Engine::Impl::Guarded(TransferId id, std::string_view what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    FailOnException(id, what, e.what());
  } catch (...) {
    FailOnException(id, what, "unknown exception");
  }
}

// ---------------------------------------------------------------------------------------
// Public API: everything goes through the mailbox.

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

TransferId Engine::Submit(DownloadRequest request, EventCallback callback) {
  auto t = std::make_unique<Transfer>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
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
  impl_->Post([impl = impl_.get(), id] {
    impl->Guarded(id, "pausing", [&] { impl->DoPause(id); });
  });
}
void Engine::Resume(TransferId id) {
  impl_->Post([impl = impl_.get(), id] {
    impl->Guarded(id, "resuming", [&] { impl->DoResume(id); });
  });
}

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
    std::lock_guard<std::mutex> lock(mu);
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
    std::lock_guard<std::mutex> lock(mu);
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
      std::lock_guard<std::mutex> lock(mu);
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
      std::lock_guard<std::mutex> lock(mu);
      if (stop && mailbox.empty()) break;
    }

    int running = 0;
    curl_multi_perform(multi, &running);
    std::vector<std::pair<CURL*, CURLcode>> done;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) done.emplace_back(msg->easy_handle, msg->data.result);
    }
    for (auto [easy, rc] : done) {
      auto it = live.find(easy);
      if (it == live.end() || !it->second->in_multi) continue;  // removed meanwhile
      Connection* c = it->second;
      Guarded(c->t->id, "handling a response", [&] { OnDone(*c, rc); });
    }

    auto now = Clock::now();
    Tick(now);

    // Sleep until curl, a retry timer or the next progress tick needs us.
    auto wake = now + std::chrono::seconds(1);
    for (auto& [id, t] : transfers) {
      if (t->stage == Stage::kDownloading || t->stage == Stage::kResolving) {
        wake = std::min(wake, now + kProgressInterval);
      }
      for (auto& c : t->conns) {
        if (c->retry_at) wake = std::min(wake, *c->retry_at);
      }
      if (t->deadline) wake = std::min(wake, *t->deadline);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count();
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::clamp<int64_t>(ms, 0, 1000)),
                    nullptr);
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
  FillConnections(*t);
  if (t->worker) {
    t->worker->SetPrefix(t->planner ? t->planner->ContiguousPrefix() : t->DoneBytes());
  }
  // Checkpoint every interval, and also every 1 % of the file (at most 10 times a
  // second), so kill -9 loses little of a fast download too.
  if (t->planner) {
    auto since = now - t->last_checkpoint;
    uint64_t step = std::max<uint64_t>(t->planner->total() / 100, 1 << 20);
    if (since >= t->req.options.checkpoint_interval ||
        (since >= kProgressInterval && t->DoneBytes() >= t->checkpoint_bytes + step)) {
      Checkpoint(*t);
    }
  }
  if (now - t->last_emit >= kProgressInterval) Emit(*t, false);
}

// ---------------------------------------------------------------------------------------
// Transfer lifecycle.

Transfer* Engine::Impl::Find(TransferId id) {
  auto it = transfers.find(id);
  return it == transfers.end() ? nullptr : it->second.get();
}

void Engine::Impl::Start(std::unique_ptr<Transfer> owned) {
  Transfer& t = *owned;
  transfers[t.id] = std::move(owned);
  auto& req = t.req;
  auto& opt = req.options;
  opt.max_connections = std::clamp(opt.max_connections, 1, 64);
  opt.retry_count = std::max(opt.retry_count, 0);
  opt.buffer_size = std::clamp<size_t>(opt.buffer_size, 1024, 10 * 1024 * 1024);
  if (req.part_path.empty()) {
    req.part_path = req.dest;
    req.part_path += ".part";
  }
  t.journal_path = req.part_path;
  t.journal_path += ".journal";
  t.origin = net::UrlOrigin(req.url);
  t.effective_url = req.url;
  if (opt.total_timeout.count() > 0) t.deadline = Clock::now() + opt.total_timeout;
  t.progress.Restart(Clock::now());
  SetStage(t, Stage::kResolving);

  if (t.origin.empty()) {
    return Fail(t, Status::InvalidArgument("not an absolute URL: '" + req.url + "'"), false);
  }
  if (req.checksum && req.checksum->algorithm == HashAlgorithm::kGitSha1 && !req.expected_size) {
    return Fail(t, Status::InvalidArgument("a git-sha1 checksum needs the file's size"), false);
  }
  std::error_code ec;
  if (!req.part_path.parent_path().empty()) {
    std::filesystem::create_directories(req.part_path.parent_path(), ec);
  }
  if (!req.dest.parent_path().empty()) std::filesystem::create_directories(req.dest.parent_path(), ec);
  t.fd.Reset(::open(req.part_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!t.fd.valid()) {
    return Fail(t, ErrnoStatus("open " + req.part_path.string(), errno), false);
  }
  if (::flock(t.fd.get(), LOCK_EX | LOCK_NB) != 0) {
    Status s = errno == EWOULDBLOCK
                   ? Status::FailedPrecondition("another download of " + req.dest.string() +
                                                " is in progress (" + req.part_path.string() +
                                                " is locked)")
                   : ErrnoStatus("lock " + req.part_path.string(), errno);
    t.fd.Reset();  // not ours: do not touch the other download's files
    return Fail(t, s, /*keep_partial=*/true);
  }

  // Resume state: the journal's written ranges, if the part file still holds them.
  auto loaded = Journal::Load(t.journal_path);
  if (loaded.has_value() && loaded->has_value()) {
    JournalState js = std::move(**loaded);
    struct stat st {};
    ::fstat(t.fd.get(), &st);
    uint64_t max_end = 0;
    for (const auto& r : js.written) max_end = std::max(max_end, r.end);
    if (js.size && max_end <= *js.size && max_end <= static_cast<uint64_t>(st.st_size)) {
      for (const auto& r : js.written) t.resume_done.Add(r.begin, r.end);
      t.journal = std::move(js);
    }
  } else if (!loaded.has_value()) {
    log::Warn("ignoring unreadable journal {}: {}", t.journal_path.string(),
              loaded.error().ToString());
  }
  if (!t.journal) {
    t.resume_done.Clear();
    if (::ftruncate(t.fd.get(), 0) != 0) {
      return Fail(t, ErrnoStatus("truncate " + req.part_path.string(), errno), false);
    }
  }
  t.worker = std::make_unique<DiskWorker>(t.fd.get(), req.part_path, t.journal_path, req.checksum,
                                          req.expected_size);
  if (!t.journal) t.worker->Reset();
  StartProbe(t);
}

Connection* Engine::Impl::NewConn(Transfer& t) {
  auto c = std::make_unique<Connection>();
  c->owner = this;
  c->t = &t;
  c->worker = t.next_worker++;
  c->easy = curl_easy_init();
  live[c->easy] = c.get();
  t.conns.push_back(std::move(c));
  return t.conns.back().get();
}

void Engine::Impl::StartProbe(Transfer& t) {
  Connection* c = NewConn(t);
  c->probe = true;
  c->no_range = false;
  c->pos = t.resume_done.ContiguousEnd(0);
  // Everything already on disk (killed while publishing): re-check the last byte's
  // range rather than asking for bytes past the end.
  if (t.journal && t.journal->size && *t.journal->size > 0 && c->pos >= *t.journal->size) {
    c->pos = *t.journal->size - 1;
  }
  Launch(*c, c->pos, c->pos + kProbeBytes - 1);
}

// Configures |c|'s easy handle for bytes [from, to_inclusive] (kUnknown: to the end) and
// adds it to the multi handle.
void Engine::Impl::Launch(Connection& c, uint64_t from, uint64_t to_inclusive) {
  Transfer& t = *c.t;
  const auto& opt = t.req.options;
  CURL* e = c.easy;
  curl_easy_reset(e);
  c.url = t.effective_url;
  c.pos = from;
  c.flushed = from;
  c.wbuf.clear();
  c.attempt_start = from;
  c.request_end = to_inclusive == kUnknown ? kUnknown : to_inclusive + 1;
  c.resp = {};
  c.validated = false;
  c.abort = Abort::kNone;
  c.fatal = Status::OK();

  net::UpstreamRequestOptions up;
  up.verify_ssl = opt.verify_ssl;
  up.connect_timeout = opt.connect_timeout;
  up.stall_timeout = std::max<std::chrono::milliseconds>(opt.stall_timeout, std::chrono::seconds(1));
  net::SetUpUpstreamHandle(e, up, &c.guard);
  curl_easy_setopt(e, CURLOPT_URL, c.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &c);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::WriteCb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &c);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::HeaderCb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &c);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(opt.buffer_size));
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));

  if (c.headers) curl_slist_free_all(c.headers);
  c.headers = nullptr;
  // Credentials go to the origin the user named only. curl also drops a custom
  // Authorization header when a redirect changes host or port; this covers the requests
  // we send straight to a redirect target (the effective URL).
  if (net::UrlOrigin(c.url) == t.origin) {
    for (const auto& h : t.req.headers) c.headers = curl_slist_append(c.headers, h.c_str());
  }
  if (!c.no_range) {
    std::string range = std::to_string(from) + "-";
    if (to_inclusive != kUnknown) range += std::to_string(to_inclusive);
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());
    // A resumed range is only good for the same file: If-Range turns a changed file into
    // a 200 with the whole new body instead of a 206 of the wrong bytes.
    const std::string& etag = t.etag.empty() && t.journal ? t.journal->etag : t.etag;
    const std::string& lm =
        t.last_modified.empty() && t.journal ? t.journal->last_modified : t.last_modified;
    if (from > 0 && !etag.empty() && !net::IsWeakEtag(etag)) {
      c.headers = curl_slist_append(c.headers, ("If-Range: " + etag).c_str());
    } else if (from > 0 && !lm.empty()) {
      c.headers = curl_slist_append(c.headers, ("If-Range: " + lm).c_str());
    }
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c.headers);
  log::Debug("job={} conn={} GET {} bytes={}-{}{}", t.id, c.worker, c.url, from,
             to_inclusive == kUnknown ? std::string() : std::to_string(to_inclusive),
             c.probe ? " (probe)" : "");
  curl_multi_add_handle(multi, e);
  c.in_multi = true;
}

void Engine::Impl::Detach(Connection& c) {
  if (c.in_multi) {
    curl_multi_remove_handle(multi, c.easy);
    c.in_multi = false;
  }
}

void Engine::Impl::RemoveConn(Connection& c) {
  Transfer& t = *c.t;
  Detach(c);
  (void)FlushWrites(c);  // on failure the bytes are simply not counted as written
  if (t.planner) t.planner->Release(c.worker);
  live.erase(c.easy);
  curl_easy_cleanup(c.easy);
  if (c.headers) curl_slist_free_all(c.headers);
  auto it = std::find_if(t.conns.begin(), t.conns.end(),
                         [&](const auto& p) { return p.get() == &c; });
  if (it != t.conns.end()) t.conns.erase(it);
}

void Engine::Impl::StopAllConns(Transfer& t) {
  while (!t.conns.empty()) RemoveConn(*t.conns.back());
}

// ---------------------------------------------------------------------------------------
// libcurl callbacks (inside curl_multi_perform: no multi calls here).

size_t Engine::Impl::HeaderCb(char* data, size_t size, size_t n, void* user) {
  auto& c = *static_cast<Connection*>(user);
  try {
    return static_cast<Impl*>(c.owner)->OnHeader(c, std::string_view(data, size * n));
  } catch (const std::exception& e) {  // nothing may unwind through libcurl
    c.abort = Abort::kFatal;
    c.fatal = Status::Internal(std::string("internal error while reading headers from ") +
                               net::UrlForMessages(c.url) + ": " + e.what());
    return 0;
  }
}

size_t Engine::Impl::OnHeader(Connection& c, std::string_view line) {
  c.resp.AddLine(line);
  return line.size();
}

size_t Engine::Impl::WriteCb(char* data, size_t size, size_t n, void* user) {
  auto& c = *static_cast<Connection*>(user);
  try {
    return static_cast<Impl*>(c.owner)->OnBody(c, data, size * n);
  } catch (const std::exception& e) {  // nothing may unwind through libcurl
    c.abort = Abort::kFatal;
    c.fatal = Status::Internal(std::string("internal error while receiving ") +
                               net::UrlForMessages(c.url) + ": " + e.what());
    return 0;
  }
}

size_t Engine::Impl::OnBody(Connection& c, char* data, size_t len) {
  Transfer& t = *c.t;
  if (!c.validated) {
    if (!Validate(c)) return 0;  // abort this response; OnDone decides what next
    c.validated = true;
  }
  uint64_t end = t.planner ? t.planner->LeaseEnd(c.worker) : c.end;
  uint64_t room = end == kUnknown ? len : end - c.pos;
  size_t take = static_cast<size_t>(std::min<uint64_t>(len, room));
  if (take > 0) {
    auto now = Clock::now();
    if (c.wbuf.empty()) c.wbuf_since = now;
    c.wbuf.append(data, take);
    c.pos += take;
    if (c.wbuf.size() >= kWriteChunk || c.pos == end || now - c.wbuf_since >= kWriteDelay) {
      if (Status s = FlushWrites(c); !s.ok()) {
        c.abort = Abort::kFatal;
        c.fatal = s;
        return 0;
      }
    }
  }
  if (take < len) {
    c.abort = Abort::kLeaseEnd;  // the rest belongs to another lease (or past the end)
    return 0;
  }
  return len;
}

// Writes |c|'s buffered bytes at their offset and only then tells the planner (and so
// the journal) about them. Bytes past a lease end that a steal moved down are dropped:
// the thief fetches them.
Status Engine::Impl::FlushWrites(Connection& c) {
  Transfer& t = *c.t;
  if (c.wbuf.empty()) return Status::OK();
  uint64_t limit = kUnknown;
  if (t.planner) {
    if (!t.planner->HasLease(c.worker)) {
      c.wbuf.clear();
      return Status::OK();
    }
    limit = t.planner->LeaseEnd(c.worker);
  }
  size_t n = static_cast<size_t>(
      std::min<uint64_t>(c.wbuf.size(), limit == kUnknown ? c.wbuf.size() : limit - c.flushed));
  Status s = PwriteAll(t.fd.get(), c.wbuf.data(), n, c.flushed);
  c.wbuf.clear();
  if (!s.ok()) {
    c.pos = c.flushed;  // nothing of the buffer counts
    return s.code() == Status::Code::kNoSpace
               ? Status::NoSpace("disk full while writing " + t.req.part_path.string() +
                                 " (partial download kept for resume)")
               : s.WithContext(t.req.part_path.string());
  }
  c.flushed += n;
  if (t.planner) {
    t.planner->Advance(c.worker, c.flushed);
  } else {
    t.single_done = c.flushed;
  }
  return Status::OK();
}

void Engine::Impl::FlushAll(Transfer& t) {
  for (auto& c : t.conns) (void)FlushWrites(*c);
}

// Checks the response to one request, at its first body byte (or at its end when it had
// no body). Returns false to abort it; c.abort says why.
bool Engine::Impl::Validate(Connection& c) {
  if (c.probe) return InitFromProbe(c);
  const Transfer& t = *c.t;
  return Accept(c, CheckRangeResponse(c.resp, c.pos, t.total, t.etag, c.url));
}

// Returns whether |check| accepts the response; if not, sets c.abort to say why.
bool Engine::Impl::Accept(Connection& c, const ResponseCheck& check) {
  switch (check.verdict) {
    case ResponseVerdict::kAccept:
      return true;
    case ResponseVerdict::kBadStatus:
      c.abort = Abort::kBadResponse;
      return false;
    case ResponseVerdict::kFileChanged:
      c.abort = Abort::kFileChanged;
      return false;
    case ResponseVerdict::kFatal:
      c.abort = Abort::kFatal;
      c.fatal = check.fatal;
      return false;
  }
  return false;
}

// The first response tells us the file: its size, validators and whether it can be
// fetched in ranges. Sets up the plan and turns the probe into an ordinary connection.
bool Engine::Impl::InitFromProbe(Connection& c) {
  Transfer& t = *c.t;
  const auto& req = t.req;
  ProbeContext ctx;
  ctx.url = req.url;
  ctx.request_url = c.url;
  ctx.from = c.pos;
  ctx.journal = t.journal ? &*t.journal : nullptr;
  ctx.expected_size = req.expected_size;
  ProbeDecision d = DecideProbe(c.resp, ctx);
  if (d.discard_partial) {
    log::Info("{}: server sent the whole file instead of a range; discarding {} of partial data",
              req.url, HumanBytes(t.resume_done.TotalBytes()));
    t.resume_done.Clear();
    t.journal.reset();
    t.worker->Reset();
    c.pos = 0;
    c.flushed = 0;
    c.attempt_start = 0;
  }
  if (!Accept(c, d.check)) return false;
  const std::optional<uint64_t> total = d.total;
  const bool ranged = d.ranged;
  t.total = total;
  t.ranged = ranged;
  t.probed = true;
  t.etag = c.resp.etag;
  t.last_modified = c.resp.last_modified;
  char* eff = nullptr;
  curl_easy_getinfo(c.easy, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff) t.effective_url = eff;
  t.resumed_bytes = t.resume_done.TotalBytes();

  if (total) {
    // Reserve the space now: fail before the first byte rather than at 90 %.
    struct stat st {};
    ::fstat(t.fd.get(), &st);
    uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
    uint64_t needed = *total > allocated ? *total - allocated : 0;
    auto avail = AvailableBytes(req.part_path);
    if (avail.has_value() && *avail < needed) {
      c.abort = Abort::kFatal;
      c.fatal = Status::NoSpace("Insufficient storage space for " + req.dest.string() +
                                ". Required: " + HumanBytes(needed) + " (" +
                                std::to_string(needed) + " bytes), Available: " +
                                HumanBytes(*avail) + " (" + std::to_string(*avail) + " bytes)");
      return false;
    }
    if (*total > 0 && ::fallocate(t.fd.get(), 0, 0, static_cast<off_t>(*total)) != 0) {
      int err = errno;
      if (err == ENOSPC || err == EDQUOT) {
        c.abort = Abort::kFatal;
        c.fatal = Status::NoSpace("Insufficient storage space for " + req.dest.string() +
                                  ". Required: " + HumanBytes(needed) +
                                  ", Available: " + HumanBytes(avail.has_value() ? *avail : 0));
        return false;
      }
      if (err != EOPNOTSUPP && err != ENOSYS) {
        c.abort = Abort::kFatal;
        c.fatal = ErrnoStatus("fallocate " + req.part_path.string(), err);
        return false;
      }
    }
  }

  c.probe = false;
  if (ranged) {
    const auto& opt = req.options;
    uint64_t remaining = *total - t.resume_done.TotalBytes();
    t.target_connections = static_cast<int>(std::clamp<uint64_t>(
        remaining / (4ull << 20), 1, static_cast<uint64_t>(opt.max_connections)));
    uint64_t piece = opt.piece_size;
    if (piece == 0 && t.target_connections == 1) {
      piece = remaining;
    } else if (piece == 0) {
      piece = std::clamp<uint64_t>(remaining / (static_cast<uint64_t>(t.target_connections) * 4),
                                   1 << 20, 8 << 20);
    }
    t.planner = std::make_unique<SegmentPlanner>(*total, piece, opt.min_split, t.resume_done);
    auto lease = t.planner->Lease(c.worker);
    if (!lease || lease->begin != c.pos) {
      // Only possible when nothing is left: the whole file was already on disk.
      if (lease) t.planner->Release(c.worker);
      c.abort = Abort::kLeaseEnd;
      return false;
    }
  } else {
    t.target_connections = 1;
    c.end = total ? *total : kUnknown;
  }
  SetStage(t, Stage::kDownloading);
  Checkpoint(t);
  return true;
}

// ---------------------------------------------------------------------------------------
// Completion of one request.

void Engine::Impl::OnDone(Connection& c, CURLcode rc) {
  Transfer& t = *c.t;
  Detach(c);
  if (Status s = FlushWrites(c); !s.ok()) return Fail(t, s, true);
  if (rc == CURLE_OK && !c.validated && c.abort == Abort::kNone) {
    // No body at all (an empty file, or an empty range): validate now.
    if (Validate(c)) c.validated = true;
  }
  switch (c.abort) {
    case Abort::kFatal:
      return Fail(t, c.fatal, true);
    case Abort::kFileChanged:
      return Restart(t, "the file at " + t.req.url + " changed on the server");
    case Abort::kLeaseEnd:
      return OnLeaseDone(c);
    case Abort::kBadResponse:
      return OnFailure(c, rc);
    case Abort::kNone:
      break;
  }
  if (rc == CURLE_OK && c.validated) {
    uint64_t end = t.planner ? t.planner->LeaseEnd(c.worker) : c.end;
    if (end == kUnknown || c.pos == end) return OnLeaseDone(c);
    if (t.planner && c.pos == c.request_end && c.pos < end) {
      // The request was shorter than the lease (the probe's): carry on with the rest.
      return Launch(c, c.pos, end - 1);
    }
  }
  OnFailure(c, rc);
}

void Engine::Impl::OnLeaseDone(Connection& c) {
  Transfer& t = *c.t;
  c.attempts = 0;
  if (!t.planner) {  // single stream: done
    if (!t.total) t.total = c.pos;
    if (c.pos != *t.total) {
      return OnFailure(c, CURLE_PARTIAL_FILE);
    }
    return AllDone(t);
  }
  t.planner->Release(c.worker);
  if (t.planner->Finished()) return AllDone(t);
  if (!StartLease(c)) RemoveConn(c);
  FillConnections(t);
}

bool Engine::Impl::StartLease(Connection& c) {
  Transfer& t = *c.t;
  if (t.planner->HasLease(c.worker)) t.planner->Release(c.worker);
  auto lease = t.planner->Lease(c.worker);
  if (!lease) return false;
  Launch(c, lease->begin, lease->end - 1);
  return true;
}

void Engine::Impl::FillConnections(Transfer& t) {
  if (!t.planner || t.stage != Stage::kDownloading) return;
  while (static_cast<int>(t.conns.size()) < t.target_connections && t.planner->HasWork()) {
    Connection* c = NewConn(t);
    if (!StartLease(*c)) {
      RemoveConn(*c);
      break;
    }
  }
}

void Engine::Impl::OnFailure(Connection& c, CURLcode rc) {
  Transfer& t = *c.t;
  const auto& opt = t.req.options;
  FailedAttempt f;
  f.original_url = t.req.url;
  f.request_url = c.url;
  f.curl_code = rc;
  if (rc != CURLE_OK) f.transport = net::UpstreamStatus("GET " + c.url, rc, c.guard);
  f.stopped_by_engine = c.abort != Abort::kNone;
  f.http_status = c.resp.status;
  f.retry_after = c.resp.retry_after;
  f.now = std::chrono::system_clock::now();
  f.probe = c.probe;
  f.ranged_request = !c.no_range;
  f.attempt_start = c.attempt_start;
  f.pos = c.pos;
  f.total = t.total;
  f.attempts = c.attempts;
  RetryDecision d = DecideRetry(f, opt, [this](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  });
  c.attempts = d.attempts;
  if (d.resolve_again) {
    log::Info("{}: HTTP {} from {}; resolving again through {}", t.req.url, c.resp.status, c.url,
              t.req.url);
    t.effective_url = t.req.url;
  }
  switch (d.action) {
    case RetryDecision::Action::kFail:
      return Fail(t, std::move(d.status), true);
    case RetryDecision::Action::kRestartFile:
      return Restart(t, d.why);
    case RetryDecision::Action::kFetchWhole:
      c.no_range = true;
      return Launch(c, 0, kUnknown);
    case RetryDecision::Action::kRetry:
      break;
  }
  log::Info("job={} conn={} {}: {} at byte {} (this attempt: {} bytes); retry {} of {} in {} ms",
            t.id, c.worker, t.req.url, d.status.ToString(), c.pos, c.pos - c.attempt_start,
            c.attempts, opt.retry_count, d.delay.count());
  if (t.planner) {
    t.planner->Release(c.worker);  // others may pick the rest up meanwhile
  } else if (!c.probe) {
    // One stream without ranges: start over from byte 0.
    c.pos = 0;
    c.flushed = 0;
    c.wbuf.clear();
    t.single_done = 0;
    t.probed = false;
    t.worker->Reset();
    c.probe = true;
  }
  c.retry_at = Clock::now() + d.delay;
}

// ---------------------------------------------------------------------------------------
// Whole-transfer transitions.

void Engine::Impl::Restart(Transfer& t, const std::string& why) {
  if (Status s = CheckRestart(++t.restarts, why); !s.ok()) return Fail(t, std::move(s), false);
  log::Warn("{}; starting over", why);
  StopAllConns(t);
  t.planner.reset();
  t.resume_done.Clear();
  t.journal.reset();
  t.total.reset();
  t.etag.clear();
  t.last_modified.clear();
  t.effective_url = t.req.url;
  t.resumed_bytes = 0;
  t.probed = false;
  t.single_done = 0;
  t.rate.Clear();
  if (::ftruncate(t.fd.get(), 0) != 0) {
    return Fail(t, ErrnoStatus("truncate " + t.req.part_path.string(), errno), false);
  }
  t.worker->Reset();
  SetStage(t, Stage::kResolving);
  StartProbe(t);
}

JournalState Engine::Impl::Snapshot(const Transfer& t) const {
  JournalState s;
  s.url = t.req.url;
  s.etag = t.etag;
  s.last_modified = t.last_modified;
  s.size = t.total;
  if (t.planner) s.written = t.planner->Written().Ranges();
  return s;
}

void Engine::Impl::Checkpoint(Transfer& t) {
  t.last_checkpoint = Clock::now();
  t.checkpoint_bytes = t.DoneBytes();
  if (t.worker && t.planner) t.worker->Checkpoint(Snapshot(t));
}

void Engine::Impl::Fail(Transfer& t, Status status, bool keep_partial) {
  log::Info("{}: failed: {}", t.req.url, status.ToString());
  bool resumable = keep_partial && t.planner && t.fd.valid();
  FlushAll(t);
  if (resumable) Checkpoint(t);
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
  ev.status = Status::Cancelled(keep_partial ? "stopped; the partial download is kept"
                                             : "cancelled");
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
  Emit(t, true);
}

void Engine::Impl::Emit(Transfer& t, bool force) {
  auto now = Clock::now();
  uint64_t done = t.DoneBytes();
  t.rate.Add(now, done);
  if (!force && done == t.last_emit_bytes && now - t.last_emit < std::chrono::seconds(1)) return;
  TransferEvent ev;
  ev.id = t.id;
  ev.stage = t.stage;
  ev.done_bytes = done;
  ev.total_bytes = t.total;
  ev.resumed_bytes = t.resumed_bytes;
  ev.connections = static_cast<int>(t.conns.size());
  ev.path = t.req.dest;
  ev.bytes_per_second = t.rate.BytesPerSecond();
  ev.eta_seconds = t.rate.EtaSeconds(t.total);
  t.last_emit = now;
  t.last_emit_bytes = done;
  t.cb(ev);
}

}  // namespace modeld::engine
