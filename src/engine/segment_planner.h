// SegmentPlanner: decides which byte range each connection of one transfer fetches.
//
// The file is cut into pieces handed out in file order, so completed bytes grow as a
// window just behind the contiguous prefix (which the inline hasher follows). When no
// unassigned piece is left, an idle worker steals: the active lease with the most bytes
// left is split and its second half is leased to the idle worker, so the tail of a
// download is shared instead of crawling on one slow connection.
//
// Pure logic, no I/O. Thread safety: not thread-safe; owned by the engine loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "engine/range_set.h"

namespace modeld::engine {

// How many connections fetch |remaining| bytes, and the size of a fresh lease: one
// connection per 4 MiB, from 1 to |max_connections|; pieces of |piece_size|, or when that
// is 0, the whole remainder for a single connection, else a quarter of each connection's
// share, kept within 1-8 MiB (small enough to steal, large enough to keep requests few).
struct SplitPlan {
  int connections = 1;
  uint64_t piece = 0;
};
SplitPlan PlanSplit(uint64_t remaining, int max_connections, uint64_t piece_size);

class SegmentPlanner {
 public:
  // |total|: file size. |piece|: size of a fresh lease. |min_split|: a lease is split
  // only if it has at least 2 * min_split bytes left. |done|: ranges already on disk.
  SegmentPlanner(uint64_t total, uint64_t piece, uint64_t min_split, RangeSet done = {});

  // Leases the next range to |worker| (which must hold no lease). Returns nullopt when
  // there is nothing left to hand out or to steal.
  std::optional<ByteRange> Lease(int worker);
  // Records that |worker| has written its lease up to |pos| (begin <= pos <= end).
  void Advance(int worker, uint64_t pos);
  // The current end of |worker|'s lease: a steal may have moved it down.
  uint64_t LeaseEnd(int worker) const;
  bool HasLease(int worker) const { return leases_.count(worker) != 0; }
  // Marks |worker|'s lease written up to its current position and ends it; any unwritten
  // rest goes back to the pool.
  void Release(int worker);

  // Bytes written: done ranges plus each lease's written prefix.
  uint64_t DoneBytes() const;
  // Everything written so far, as ranges (for the journal).
  RangeSet Written() const;
  // End of the contiguous written prefix starting at 0.
  uint64_t ContiguousPrefix() const;
  bool Finished() const { return DoneBytes() == total_; }
  // True when Lease would hand out something: a free range, or a lease worth splitting.
  bool HasWork() const;
  // True when a range no connection holds is left (Lease would not need to steal).
  bool HasFreeWork() const { return !pool_.empty(); }
  // The most bytes any lease has left to fetch (0 with no lease).
  uint64_t LargestLeft() const;
  uint64_t total() const { return total_; }
  size_t active_leases() const { return leases_.size(); }

 private:
  struct LeaseState {
    uint64_t begin;
    uint64_t pos;
    uint64_t end;
  };
  std::optional<ByteRange> Steal(int worker);

  uint64_t total_;
  uint64_t piece_;
  uint64_t min_split_;
  RangeSet done_;  // completed and released prefixes of leases
  RangeSet pool_;  // not done, not leased
  std::map<int, LeaseState> leases_;
};

}  // namespace modeld::engine
