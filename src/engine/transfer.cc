// The transfer state machine: Engine::Impl's methods that take one transfer from its
// start to its last byte (engine_impl.h).

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>

#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/log.h"
#include "engine/engine_impl.h"
#include "net/curl_setup.h"
#include "net/http.h"

namespace modeld::engine {

namespace {

// Reserves |total| bytes for |t|'s partial file now, to fail before the first byte rather
// than at 90 %: NoSpace when the disk cannot hold what is not yet allocated, the errno's
// Status when fallocate fails otherwise (a file system without fallocate is fine).
Status ReserveSpace(const Transfer& t, uint64_t total) {
  const auto& req = t.req;
  struct stat st {};
  ::fstat(t.fd.get(), &st);
  uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  uint64_t needed = total > allocated ? total - allocated : 0;
  auto avail = AvailableBytes(req.part_path);
  auto no_space = [&](const std::string& msg, uint64_t available) {
    return Status::NoSpace(msg).WithInfo({reason::kNoSpace,
                                          {{"path", req.dest.string()},
                                           {"required", std::to_string(needed)},
                                           {"available", std::to_string(available)}}});
  };
  if (avail.has_value() && *avail < needed) {
    return no_space("Insufficient storage space for " + req.dest.string() +
                        ". Required: " + HumanBytes(needed) + " (" + std::to_string(needed) +
                        " bytes), Available: " + HumanBytes(*avail) + " (" +
                        std::to_string(*avail) + " bytes)",
                    *avail);
  }
  if (total > 0 && ::fallocate(t.fd.get(), 0, 0, static_cast<off_t>(total)) != 0) {
    int err = errno;
    if (err == ENOSPC || err == EDQUOT) {
      return no_space("Insufficient storage space for " + req.dest.string() +
                          ". Required: " + HumanBytes(needed) +
                          ", Available: " + HumanBytes(avail.has_value() ? *avail : 0),
                      avail.has_value() ? *avail : 0);
    }
    if (err != EOPNOTSUPP && err != ENOSYS) {
      return ErrnoStatus("fallocate " + req.part_path.string(), err);
    }
  }
  return Status::OK();
}

}  // namespace

JournalState Transfer::Snapshot() const {
  JournalState s;
  s.url = req.url;
  s.etag = etag;
  s.last_modified = last_modified;
  s.size = total;
  if (planner) s.written = planner->Written().Ranges();
  return s;
}

// ---------------------------------------------------------------------------------------
// Start and probe.

void Engine::Impl::Start(std::unique_ptr<Transfer> owned) {
  Transfer& t = *owned;
  transfers[t.id] = std::move(owned);
  auto& req = t.req;
  auto& opt = req.options;
  opt.max_connections = std::clamp(opt.max_connections, 1, 64);
  opt.retry_count = std::max(opt.retry_count, -1);
  opt.retry_for = std::max(opt.retry_for, std::chrono::milliseconds(0));
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
  if (!req.dest.parent_path().empty())
    std::filesystem::create_directories(req.dest.parent_path(), ec);
  t.fd.Reset(::open(req.part_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!t.fd.valid()) {
    return Fail(t, ErrnoStatus("open " + req.part_path.string(), errno), false);
  }
  if (::flock(t.fd.get(), LOCK_EX | LOCK_NB) != 0) {
    Status s = ErrnoStatus("lock " + req.part_path.string(), errno);
    if (errno == EWOULDBLOCK) {
      auto pid = FlockHolder(req.part_path);
      std::string who = pid && *pid != ::getpid()
                            ? "another modeld (pid " + std::to_string(*pid) + ") is downloading "
                            : "another download is writing ";
      s = Status::FailedPrecondition(who + req.dest.string() + " (" + req.part_path.string() +
                                     " is locked); wait for it to finish, or stop it and run "
                                     "this again to resume its partial download");
    }
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
  t.worker = std::make_unique<DiskWorker>(
      t.fd.get(), req.part_path, t.journal_path, req.checksum, req.expected_size,
      DiskWorker::Options{.drop_cache = req.drop_cache,
                          .durable_interval = opt.checkpoint_interval});
  if (!t.journal) t.worker->Reset();
  StartProbe(t);
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
    if (t.req.observer) t.req.observer->Reset();
    c.pos = 0;
    c.flushed = 0;
    c.attempt_start = 0;
  }
  if (!Accept(c, d.check)) return false;
  t.total = d.total;
  t.ranged = d.ranged;
  t.probed = true;
  t.etag = c.resp.etag;
  t.last_modified = c.resp.last_modified;
  char* eff = nullptr;
  curl_easy_getinfo(c.easy, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff) t.effective_url = eff;
  t.resumed_bytes = t.resume_done.TotalBytes();
  if (t.req.observer) {
    for (const ByteRange& r : t.resume_done.Ranges()) t.req.observer->Written(r.begin, r.end);
  }
  if (t.total) {
    if (Status s = ReserveSpace(t, *t.total); !s.ok()) {
      c.abort = Abort::kFatal;
      c.fatal = std::move(s);
      return false;
    }
  }

  c.probe = false;
  if (t.ranged) {
    const auto& opt = req.options;
    SplitPlan split =
        PlanSplit(*t.total - t.resume_done.TotalBytes(), opt.max_connections, opt.piece_size);
    t.target_connections = split.connections;
    t.ramp = RampState{};
    t.ramp.limit = std::min(split.connections, kRampStart);
    t.ramp_since = Clock::now();
    t.ramp_since_bytes = t.resume_done.TotalBytes();
    t.planner =
        std::make_unique<SegmentPlanner>(*t.total, split.piece, opt.min_split, t.resume_done);
    auto lease = t.planner->Lease(c.worker);
    if (!lease || lease->begin != c.pos) {
      // Only possible when nothing is left: the whole file was already on disk.
      if (lease) t.planner->Release(c.worker);
      c.abort = Abort::kLeaseEnd;
      return false;
    }
  } else {
    t.target_connections = 1;
    c.end = t.total ? *t.total : kUnknown;
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
  c.failing_since.reset();
  if (!t.planner) {  // single stream: done
    if (!t.total) t.total = c.pos;
    if (c.pos != *t.total) {
      return OnFailure(c, CURLE_PARTIAL_FILE);
    }
    return AllDone(t);
  }
  t.planner->Release(c.worker);
  if (t.planner->Finished()) return AllDone(t);
  // More connections than the transfer may have now (the ramp went back, or another
  // transfer shares the host's cap): this one ends here.
  int limit = ConnLimit(t);
  bool over = static_cast<int>(t.conns.size()) > limit ||
              (HostFull(c.host) && host_conns[c.host] > host_cap.load() && t.conns.size() > 1);
  if (over || !StartLease(c)) RemoveConn(c);
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
  int limit = ConnLimit(t);
  const std::string& host = t.HostKey();
  // New connections for ranges nobody holds, or to steal from a lease with much left: one
  // made to steal a little costs a connection set-up and what the victim's server had
  // already sent past the split. Connections that finish their lease still steal
  // (OnLeaseDone), and a slow one is replaced (pacing.cc).
  auto worth_a_connection = [&] {
    return t.planner->HasFreeWork() || t.planner->LargestLeft() >= 8 * t.req.options.min_split;
  };
  // A transfer with no connection gets one even when the host is full (others give theirs
  // back as their pieces end, down to their share).
  while (static_cast<int>(t.conns.size()) < limit && worth_a_connection() &&
         (!HostFull(host) || t.conns.empty())) {
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
  long os_errno = 0;
  if (rc != CURLE_OK) curl_easy_getinfo(c.easy, CURLINFO_OS_ERRNO, &os_errno);
  f.os_errno = static_cast<int>(os_errno);
  f.steady_now = Clock::now();
  f.failing_since = c.failing_since;
  RetryDecision d = DecideRetry(f, opt, [this](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  });
  c.attempts = d.attempts;
  c.failing_since = d.failing_since;
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
  log::Info("job={} conn={} {}: {} at byte {} (this attempt: {} bytes); retry {} in {} ms", t.id,
            c.worker, t.req.url, d.status.ToString(), c.pos, c.pos - c.attempt_start, c.attempts,
            d.delay.count());
  // Tell the caller once per round of retries: the first connection to reach an attempt
  // number speaks for the others.
  if (!d.resolve_again && c.attempts > t.retry_told) {
    t.retry_told = c.attempts;
    t.retry_told_at = Clock::now();
    metrics.retries.Inc();
    Emit(t, true, RetryNotice{d.reason, d.delay, c.attempts + 1});
  }
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
  c.speed_reset = true;
}

// ---------------------------------------------------------------------------------------
// Start over, checkpoint.

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
  if (t.req.observer) t.req.observer->Reset();
  if (::ftruncate(t.fd.get(), 0) != 0) {
    return Fail(t, ErrnoStatus("truncate " + t.req.part_path.string(), errno), false);
  }
  t.worker->Reset();
  SetStage(t, Stage::kResolving);
  StartProbe(t);
}

void Engine::Impl::Checkpoint(Transfer& t) {
  t.last_checkpoint = Clock::now();
  t.checkpoint_bytes = t.DoneBytes();
  if (t.worker && t.planner) t.worker->Checkpoint(t.Snapshot());
}

}  // namespace modeld::engine
