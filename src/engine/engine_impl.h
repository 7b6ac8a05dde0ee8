// Engine::Impl: the engine's loop thread, its mailbox, and the transfer state machine.
//
// Internal to the engine. Its methods are spread over three files, one responsibility
// each:
// - engine.cc: the public Engine methods, the mailbox and the loop (curl_multi_perform,
//   timers), the mailbox handlers (cancel, stop, pause, resume), terminal transitions
//   (fail, verify and install, erase) and events.
// - transfer.cc: one transfer from start to last byte: open and lock the partial, load
//   the journal, probe, reserve space, plan, lease pieces to connections, handle each
//   finished request (applying retry_policy.h), restart, checkpoint.
// - connection.cc: one connection's libcurl handle: set-up for a range request (the
//   rest is net/curl_setup.h), the header and body callbacks, buffered writes.
// - pacing.cc: how fast and over how many connections: rate limits (pausing connections
//   whose bucket is empty), the per-host connection cap and each transfer's fair share
//   of it, the connection ramp, and replacing slow connections (pacing_policy.h decides).
//
// Thread safety: Post may be called from any thread (|mu| guards the mailbox). Every
// other member and method belongs to the loop thread; libcurl's callbacks run on it too,
// inside curl_multi_perform, where they must not call the multi handle.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "core/mutex.h"
#include "engine/engine.h"
#include "engine/transfer.h"

namespace modeld::engine {

// The engine's metrics, in the process's registry (engine.h lists them).
struct EngineMetrics {
  metrics::Gauge& connections;
  metrics::Counter& retries;
  metrics::Counter& reconnects;
  metrics::Counter& hedges;
  static EngineMetrics& Get();
};

struct Engine::Impl {
  Impl();
  ~Impl();

  // Runs |fn| on the loop thread soon (dropped once the engine is stopping).
  void Post(std::function<void()> fn) EXCLUDES(mu);
  void Loop() EXCLUDES(mu);

  // Mailbox handlers (engine.cc, transfer.cc for Start).
  void Start(std::unique_ptr<Transfer> t);
  void DoCancel(TransferId id, bool keep_partial);
  void DoPause(TransferId id);
  void DoResume(TransferId id);

  // Timers (engine.cc).
  void Tick(Clock::time_point now);
  void TickOne(Transfer& t, Clock::time_point now);

  // The transfer state machine (transfer.cc).
  void StartProbe(Transfer& t);
  bool Validate(Connection& c);
  bool Accept(Connection& c, const ResponseCheck& check);
  bool InitFromProbe(Connection& c);
  void OnDone(Connection& c, CURLcode rc);
  void OnLeaseDone(Connection& c);
  void OnFailure(Connection& c, CURLcode rc);
  void FillConnections(Transfer& t);
  bool StartLease(Connection& c);
  void Restart(Transfer& t, const std::string& why);
  void Checkpoint(Transfer& t);

  // Pacing (pacing.cc).
  // Whether a byte of |t| must wait for a rate limit now (refilling its buckets).
  bool Throttled(Transfer& t, Clock::time_point now);
  // Takes |bytes| from the buckets that apply to |t|.
  void Charge(Transfer& t, uint64_t bytes);
  // The tightest rate limit on |t| now (0: none).
  uint64_t RateCap(const Transfer& t) const;
  // Unpauses the connections a rate limit paused whose buckets have refilled; returns
  // when the loop should look again (nullopt: none paused).
  std::optional<Clock::time_point> Unthrottle(Clock::time_point now);
  // How many connections |t| may have now: its ramp's count, its share of its host's cap.
  int ConnLimit(const Transfer& t) const;
  // Whether |host| has reached the per-host cap.
  bool HostFull(const std::string& host) const;
  // Counts |c| against |host| ("" when it holds none).
  void SetHost(Connection& c, std::string host);
  // Samples each connection's rate; replaces a slow one; steps the ramp.
  void Pace(Transfer& t, Clock::time_point now);
  void StepRamp(Transfer& t, Clock::time_point now);
  void HedgeSlow(Transfer& t, Clock::time_point now);

  // Connections (connection.cc).
  Connection* NewConn(Transfer& t);
  // Configures |c|'s easy handle for bytes [from, to_inclusive] (kUnknown: to the end)
  // and adds it to the multi handle.
  void Launch(Connection& c, uint64_t from, uint64_t to_inclusive);
  void Detach(Connection& c);
  void RemoveConn(Connection& c);
  void StopAllConns(Transfer& t);
  Status FlushWrites(Connection& c);
  void FlushAll(Transfer& t);
  static size_t WriteCb(char* data, size_t size, size_t n, void* user);
  static size_t HeaderCb(char* data, size_t size, size_t n, void* user);
  size_t OnHeader(Connection& c, std::string_view line);
  size_t OnBody(Connection& c, char* data, size_t len);

  // Terminal transitions and events (engine.cc).
  void Fail(Transfer& t, Status status, bool keep_partial);
  void AllDone(Transfer& t);
  void Finished(TransferId id, FinishResult r);
  void Erase(Transfer& t);
  Transfer* Find(TransferId id);
  void Emit(Transfer& t, bool force, std::optional<RetryNotice> retry = std::nullopt);
  void SetStage(Transfer& t, Stage s);

  // Runs |fn| (work on transfer |id|); an exception fails that transfer with Internal.
  template <typename Fn>
  void Guarded(TransferId id, std::string_view what, Fn&& fn);
  void FailOnException(TransferId id, std::string_view what, std::string_view why);

  CURLM* multi = nullptr;
  std::thread thread;
  Mutex mu;
  std::deque<std::function<void()>> mailbox GUARDED_BY(mu);
  bool stop GUARDED_BY(mu) = false;
  TransferId next_id GUARDED_BY(mu) = 1;

  // Loop-thread state.
  std::map<TransferId, std::unique_ptr<Transfer>> transfers;
  std::unordered_map<CURL*, Connection*> live;
  RateLimit global_rate;  // Engine::SetMaxRate; its bucket is the loop's
  std::atomic<int> host_cap{Engine::kDefaultConnectionsPerHost};
  std::unordered_map<std::string, int> host_conns;  // connections per UrlOrigin
  std::mt19937_64 rng{std::random_device{}()};      // the retry backoff's jitter
  EngineMetrics& metrics = EngineMetrics::Get();
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

}  // namespace modeld::engine
