// How fast and over how many connections: Engine::Impl's rate limits, per-host cap,
// connection ramp and slow-connection replacement (engine_impl.h; the decisions are
// pacing_policy.h's).

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <tuple>
#include <vector>

#include "core/fs.h"
#include "core/log.h"
#include "engine/engine_impl.h"
#include "net/http.h"

namespace modeld::engine {

namespace {

// A connection's rate counts once it has been measured this long since its last failure.
constexpr auto kMeasureFor = std::chrono::milliseconds(150);
// It may be judged slow once it is this old (past the first round trips of TCP's slow
// start), over a window long enough for the reference rate to bring kJudgeBytes: 200 ms
// when the others bring 150 MB/s, 2 s when they bring 512 KB/s, so that a verdict is
// never made on a few packets.
constexpr auto kJudgeAfter = std::chrono::milliseconds(300);
constexpr double kJudgeBytes = 1 << 20;
constexpr auto kMinWindow = std::chrono::milliseconds(200);
constexpr auto kMaxWindow = std::chrono::seconds(2);
// At most one replacement a transfer in this long.
constexpr auto kHedgeGap = std::chrono::seconds(1);
// How long each connection count runs, from when every connection brings bytes, before the
// ramp compares throughputs.
constexpr auto kRampStep = std::chrono::milliseconds(250);

}  // namespace

// ---------------------------------------------------------------------------------------
// Rate limits.

bool Engine::Impl::Throttled(Transfer& t, Clock::time_point now) {
  bool empty = false;
  uint64_t g = global_rate.rate();
  global_rate.bucket().Refill(now, g);
  if (g > 0) empty = global_rate.bucket().Empty();
  if (const auto& l = t.req.rate_limit) {
    uint64_t r = l->rate();
    l->bucket().Refill(now, r);
    if (r > 0) empty = empty || l->bucket().Empty();
  }
  return empty;
}

void Engine::Impl::Charge(Transfer& t, uint64_t bytes) {
  if (global_rate.rate() > 0) global_rate.bucket().Take(bytes);
  if (const auto& l = t.req.rate_limit; l && l->rate() > 0) l->bucket().Take(bytes);
}

uint64_t Engine::Impl::RateCap(const Transfer& t) const {
  uint64_t cap = global_rate.rate();
  if (const auto& l = t.req.rate_limit; l && l->rate() > 0) {
    cap = cap == 0 ? l->rate() : std::min(cap, l->rate());
  }
  return cap;
}

std::optional<Clock::time_point> Engine::Impl::Unthrottle(Clock::time_point now) {
  std::vector<Connection*> paused;
  for (auto& [id, t] : transfers) {
    for (auto& c : t->conns) {
      if (!c->rate_paused) continue;
      if (!c->in_multi) {
        c->rate_paused = false;  // detached meanwhile: its next Launch starts unpaused
        continue;
      }
      paused.push_back(c.get());
    }
  }
  if (paused.empty()) return std::nullopt;
  // Turns: the transfer served longest ago first (so a transfer of one connection gets its
  // share beside one of sixteen), then its connection paused longest ago.
  std::sort(paused.begin(), paused.end(), [](const Connection* a, const Connection* b) {
    return std::tie(a->t->last_grant, a->paused_at) < std::tie(b->t->last_grant, b->paused_at);
  });
  std::optional<Clock::time_point> next;
  for (Connection* c : paused) {
    Transfer& t = *c->t;
    if (Throttled(t, now)) {
      auto wait = global_rate.bucket().TimeToRefill(global_rate.rate());
      if (const auto& l = t.req.rate_limit) {
        wait = std::max(wait, l->bucket().TimeToRefill(l->rate()));
      }
      auto at = now + std::max<Clock::duration>(wait, std::chrono::milliseconds(1));
      next = next ? std::min(*next, at) : at;
      continue;
    }
    c->rate_paused = false;
    t.last_grant = now;
    // May deliver the bytes libcurl kept at once (OnBody, which may pause it again). A
    // failure there ends the request (OnBody refuses more), and OnDone says why.
    if (CURLcode rc = curl_easy_pause(c->easy, CURLPAUSE_CONT); rc != CURLE_OK) {
      log::Debug("job={} conn={}: unpausing: {}", t.id, c->worker, curl_easy_strerror(rc));
    }
  }
  return next;
}

// ---------------------------------------------------------------------------------------
// Connections per transfer and per host.

int Engine::Impl::ConnLimit(const Transfer& t) const {
  int limit = std::min(t.target_connections, std::max(1, t.ramp.limit));
  // A fair share of the host's cap when other transfers download from it too.
  const std::string& host = t.HostKey();
  int sharing = 0;
  for (const auto& [id, o] : transfers) {
    if (o->planner && !o->finishing && o->stage == Stage::kDownloading && o->HostKey() == host) {
      ++sharing;
    }
  }
  if (sharing > 1) limit = std::min(limit, std::max(1, host_cap.load() / sharing));
  return limit;
}

bool Engine::Impl::HostFull(const std::string& host) const {
  auto it = host_conns.find(host);
  return it != host_conns.end() && it->second >= host_cap.load();
}

void Engine::Impl::SetHost(Connection& c, std::string host) {
  if (c.host == host) return;
  if (!c.host.empty()) {
    auto it = host_conns.find(c.host);
    if (it != host_conns.end() && --it->second <= 0) host_conns.erase(it);
  }
  c.host = std::move(host);
  if (!c.host.empty()) ++host_conns[c.host];
}

// ---------------------------------------------------------------------------------------
// Measuring, the ramp, and slow connections.

void Engine::Impl::Pace(Transfer& t, Clock::time_point now) {
  for (auto& c : t.conns) {
    if (c->in_multi && !c->rate_paused) c->speed.Add(now, c->received);
  }
  StepRamp(t, now);
  HedgeSlow(t, now);
}

void Engine::Impl::StepRamp(Transfer& t, Clock::time_point now) {
  if (t.ramp.done) return;
  bool flowing = std::all_of(t.conns.begin(), t.conns.end(),
                             [](const auto& c) { return c->received > 0 || !c->in_multi; });
  if ((static_cast<int>(t.conns.size()) < t.ramp.limit && t.planner->HasFreeWork()) || !flowing) {
    // Not at the count yet (connecting, or held by the host's cap), or a new connection has
    // not had its first byte: measure from when all of them bring bytes.
    t.ramp_since = now;
    t.ramp_since_bytes = t.DoneBytes();
    return;
  }
  if (now - t.ramp_since < kRampStep) return;
  double secs = std::chrono::duration<double>(now - t.ramp_since).count();
  double rate = static_cast<double>(t.DoneBytes() - t.ramp_since_bytes) / secs;
  int before = t.ramp.limit;
  // A step during which a rate limit held the transfer says nothing about what more
  // connections would bring (they would only share the same allowance): it holds.
  uint64_t cap = t.throttled_at >= t.ramp_since ? static_cast<uint64_t>(std::max(rate, 1.0)) : 0;
  t.ramp = NextRampStep(t.ramp, rate, t.target_connections, cap);
  if (t.ramp.limit != before) {
    log::Debug("job={} {}: {:.1f} MB/s over {} connections; now {}", t.id, t.req.url, rate / 1e6,
               before, t.ramp.limit);
  }
  t.ramp_since = now;
  t.ramp_since_bytes = t.DoneBytes();
}

void Engine::Impl::HedgeSlow(Transfer& t, Clock::time_point now) {
  // Under a rate limit that holds, connections wait on purpose: a slow one is not a bad
  // one, and a window that spans a pause measures the limit (and what drains from the
  // socket after it, the best rate). Judged again once no pause is in any window.
  if (now - t.throttled_at < kMaxWindow) {
    t.best_rate = 0;
    return;
  }
  auto measurable = [&](const Connection& c) {
    return c.in_multi && !c.probe && c.validated && now - c.speed_since >= kMeasureFor;
  };
  for (auto& c : t.conns) {
    if (measurable(*c)) {
      t.best_rate =
          std::max(t.best_rate, c->speed.BytesPerSecondOver(std::chrono::milliseconds(500)));
    }
  }
  if (t.best_rate <= 0) return;
  auto window =
      std::clamp<Clock::duration>(std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(kJudgeBytes / t.best_rate)),
                                  kMinWindow, kMaxWindow);
  std::vector<ConnRate> measured;
  for (auto& c : t.conns) {
    if (!measurable(*c) || now - c->born < kJudgeAfter || now - c->speed_since < window ||
        !t.planner->HasLease(c->worker)) {
      continue;
    }
    uint64_t end = t.planner->LeaseEnd(c->worker);
    measured.push_back({c->worker, c->speed.BytesPerSecondOver(window),
                        end > c->pos ? end - c->pos : 0, c->hedge});
  }
  if (now - t.last_hedge < kHedgeGap) return;
  auto slow = PickSlowConnection(measured, t.best_rate);
  if (!slow) return;
  auto it = std::find_if(t.conns.begin(), t.conns.end(),
                         [&](const auto& c) { return c->worker == *slow; });
  if (it == t.conns.end()) return;
  Connection& c = **it;
  uint64_t end = t.planner->LeaseEnd(c.worker);
  uint64_t left = end > c.pos ? end - c.pos : 0;
  log::Info(
      "job={} conn={} {}: {}/s, far below the other connections (best {}/s); a fresh "
      "connection takes over its {} left",
      t.id, c.worker, net::UrlForMessages(t.req.url),
      HumanBytes(static_cast<uint64_t>(c.speed.BytesPerSecondOver(window))),
      HumanBytes(static_cast<uint64_t>(t.best_rate)), HumanBytes(left));
  metrics.hedges.Inc();
  t.last_hedge = now;
  RemoveConn(c);  // writes what it received; the rest of its lease goes back to the pool
  Connection* h = NewConn(t);
  h->hedge = true;
  if (!StartLease(*h)) RemoveConn(*h);
}

}  // namespace modeld::engine
