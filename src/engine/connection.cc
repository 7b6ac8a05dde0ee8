// One connection's libcurl handle: Engine::Impl's methods that set it up for a range
// request, take its headers and body, and write what it received (engine_impl.h).

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>

#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/log.h"
#include "engine/engine_impl.h"
#include "net/curl_setup.h"
#include "net/http.h"

namespace modeld::engine {

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
  c.launched = Clock::now();
  c.request_end = to_inclusive == kUnknown ? kUnknown : to_inclusive + 1;
  c.resp = {};
  c.validated = false;
  c.abort = Abort::kNone;
  c.fatal = Status::OK();
  c.rate_paused = false;
  if (c.speed_reset) {
    c.speed.Clear();
    c.speed_since = c.launched;
    c.speed_reset = false;
  }
  SetHost(c, net::UrlOrigin(c.url));

  net::UpstreamRequestOptions up;
  up.verify_ssl = opt.verify_ssl;
  up.connect_timeout = opt.connect_timeout;
  up.stall_timeout =
      std::max<std::chrono::milliseconds>(opt.stall_timeout, std::chrono::seconds(1));
  net::SetUpUpstreamHandle(e, up, &c.guard);
  curl_easy_setopt(e, CURLOPT_URL, c.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &c);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::WriteCb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &c);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::HeaderCb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &c);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  // Under a rate limit, smaller reads: each may overdraw the limit's bucket by one.
  size_t buffer = opt.buffer_size;
  if (uint64_t cap = RateCap(t); cap > 0) {
    buffer = static_cast<size_t>(std::clamp<uint64_t>(cap / 20, 1024, buffer));
  }
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(buffer));
  // HTTP/1.1 while a rate limit applies: libcurl 7.88's HTTP/2 streams can stay stuck
  // after being paused and resumed many times (curl issue 10988, fixed in 8.1).
  curl_easy_setopt(
      e, CURLOPT_HTTP_VERSION,
      static_cast<long>(RateCap(t) > 0 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS));

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
  if (!c.in_multi) metrics.connections.Inc();
  c.in_multi = true;
}

void Engine::Impl::Detach(Connection& c) {
  if (c.in_multi) {
    curl_multi_remove_handle(multi, c.easy);
    c.in_multi = false;
    metrics.connections.Dec();
  }
}

void Engine::Impl::RemoveConn(Connection& c) {
  Transfer& t = *c.t;
  Detach(c);
  (void)FlushWrites(c);  // on failure the bytes are simply not counted as written
  if (t.planner) t.planner->Release(c.worker);
  SetHost(c, "");
  live.erase(c.easy);
  curl_easy_cleanup(c.easy);
  if (c.headers) curl_slist_free_all(c.headers);
  auto it =
      std::find_if(t.conns.begin(), t.conns.end(), [&](const auto& p) { return p.get() == &c; });
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
  if (c.abort != Abort::kNone) return 0;  // already stopped (bytes kept by a pause, say)
  if (!c.validated) {
    if (!Validate(c)) return 0;  // abort this response; OnDone decides what next
    c.validated = true;
  }
  uint64_t end = t.planner ? t.planner->LeaseEnd(c.worker) : c.end;
  uint64_t room = end == kUnknown ? len : end - c.pos;
  size_t take = static_cast<size_t>(std::min<uint64_t>(len, room));
  if (take > 0 && RateCap(t) > 0) {
    auto now = Clock::now();
    if (Throttled(t, now)) {
      c.rate_paused = true;  // libcurl keeps these bytes; Unthrottle lets them in
      c.paused_at = now;
      t.throttled_at = now;
      return CURL_WRITEFUNC_PAUSE;
    }
    Charge(t, take);  // what goes past a (shortened) lease end is not taken, nor charged
  }
  if (take > 0) {
    auto now = Clock::now();
    // Bytes on a request made since the last retry notice: the failures are over, and
    // the next run of them is told from its first retry again.
    if (t.retry_told > 0 && c.launched > t.retry_told_at) t.retry_told = 0;
    if (c.wbuf.empty()) c.wbuf_since = now;
    c.wbuf.append(data, take);
    c.pos += take;
    c.received += take;
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
                     .WithInfo({reason::kNoSpace, {{"path", t.req.part_path.string()}}})
               : s.WithContext(t.req.part_path.string());
  }
  if (t.req.observer) t.req.observer->Written(c.flushed, c.flushed + n);
  c.flushed += n;
  if (t.req.downloaded) t.req.downloaded->Inc(n);
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

}  // namespace modeld::engine
