// The engine's pacing decisions, as pure functions: when a connection is so much slower
// than it should be that a fresh one takes over its range (a hedge), and how many
// connections a transfer uses (start with a few, add while throughput rises).
//
// Engine::Impl (pacing.cc) measures and acts; these decide. Pure, no I/O, no clock of
// their own. Thread safety: none needed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace modeld::engine {

// --- Slow connections --------------------------------------------------------------------

// One connection's rate over its last half second (Connection::speed).
struct ConnRate {
  int worker = 0;
  double bytes_per_second = 0;
  uint64_t left = 0;   // bytes of its lease not yet received
  bool hedge = false;  // it is itself a hedge (never replaced again for slowness)
};

struct HedgeParams {
  // A connection is slow below reference / ratio...
  double ratio = 4;
  // ...where the reference is the median of its siblings' rates (with at least
  // min_siblings others measured), else the best rate a connection of this transfer has
  // had (a fresh connection's rate), and at least min_reference bytes a second (below
  // that every connection is slow: the network is, not one connection).
  int min_siblings = 2;
  double min_reference = 256 * 1024;
  // Only worth it when the slow one would take this much longer over what it has left
  // than a fresh connection at the reference rate (a reconnect costs a round trip or two).
  double min_gain_seconds = 0.5;
};

// The connection to replace, if any: the slowest one that is slow by the rule above.
// |measured| holds only connections measured over a full window (not paused by a rate
// limit, not just started). |best_rate| is the transfer's best per-connection rate.
std::optional<int> PickSlowConnection(const std::vector<ConnRate>& measured, double best_rate,
                                      const HedgeParams& params = {});

// --- How many connections ----------------------------------------------------------------

// A transfer starts with min(kRampStart, its planned count) connections; each time the
// current count has run for a step, its throughput over that step is compared with the
// step before: a gain of at least kRampGain doubles the count (up to the planned count);
// less ends the ramp, going back to the previous count when there was no gain at all
// (those connections only cost the server). A rate limit that the throughput already
// meets holds the count without ending the ramp.
inline constexpr int kRampStart = 8;
inline constexpr double kRampGain = 1.2;
inline constexpr double kRampNoGain = 1.05;

struct RampState {
  int limit = 1;           // connections allowed now
  int previous = 0;        // the count before the last step (0: none yet)
  double rate_before = 0;  // throughput at the previous count
  bool done = false;
};

// What to do after a step that ran at |state.limit| connections and reached |rate| bytes
// a second; |planned| is the most the transfer may use, |cap| the rate limit in force
// (0: none). Returns the new state.
RampState NextRampStep(RampState state, double rate, int planned, uint64_t cap);

}  // namespace modeld::engine
