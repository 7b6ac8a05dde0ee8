#include "engine/segment_planner.h"

#include <algorithm>
#include <cassert>

namespace modeld::engine {

SplitPlan PlanSplit(uint64_t remaining, int max_connections, uint64_t piece_size) {
  SplitPlan plan;
  plan.connections = static_cast<int>(std::clamp<uint64_t>(
      remaining / (4ull << 20), 1, static_cast<uint64_t>(std::max(max_connections, 1))));
  plan.piece = piece_size;
  if (plan.piece == 0 && plan.connections == 1) {
    plan.piece = remaining;
  } else if (plan.piece == 0) {
    plan.piece = std::clamp<uint64_t>(remaining / (static_cast<uint64_t>(plan.connections) * 4),
                                      1 << 20, 8 << 20);
  }
  return plan;
}

SegmentPlanner::SegmentPlanner(uint64_t total, uint64_t piece, uint64_t min_split, RangeSet done)
    : total_(total),
      piece_(std::max<uint64_t>(piece, 1)),
      min_split_(std::max<uint64_t>(min_split, 1)),
      done_(std::move(done)) {
  done_.Remove(total_, UINT64_MAX);
  pool_.Add(0, total_);
  for (const auto& r : done_.Ranges()) pool_.Remove(r.begin, r.end);
}

std::optional<ByteRange> SegmentPlanner::Lease(int worker) {
  assert(!HasLease(worker));
  if (!pool_.empty()) {
    ByteRange first = pool_.Ranges().front();
    uint64_t end = std::min(first.end, first.begin + piece_);
    // Do not leave a sliver smaller than min_split behind in this pool range.
    if (first.end - end < min_split_) end = first.end;
    pool_.Remove(first.begin, end);
    leases_[worker] = {first.begin, first.begin, end};
    return ByteRange{first.begin, end};
  }
  return Steal(worker);
}

std::optional<ByteRange> SegmentPlanner::Steal(int worker) {
  auto victim = leases_.end();
  uint64_t best = 0;
  for (auto it = leases_.begin(); it != leases_.end(); ++it) {
    uint64_t left = it->second.end - it->second.pos;
    if (left > best) {
      best = left;
      victim = it;
    }
  }
  if (victim == leases_.end() || best < 2 * min_split_) return std::nullopt;
  uint64_t split = victim->second.pos + best / 2;
  uint64_t end = victim->second.end;
  victim->second.end = split;
  leases_[worker] = {split, split, end};
  return ByteRange{split, end};
}

bool SegmentPlanner::HasWork() const {
  if (!pool_.empty()) return true;
  for (const auto& [w, l] : leases_) {
    if (l.end - l.pos >= 2 * min_split_) return true;
  }
  return false;
}

uint64_t SegmentPlanner::LargestLeft() const {
  uint64_t most = 0;
  for (const auto& [w, l] : leases_) most = std::max(most, l.end - l.pos);
  return most;
}

void SegmentPlanner::Advance(int worker, uint64_t pos) {
  auto it = leases_.find(worker);
  assert(it != leases_.end());
  assert(pos >= it->second.pos && pos <= it->second.end);
  it->second.pos = pos;
}

uint64_t SegmentPlanner::LeaseEnd(int worker) const {
  auto it = leases_.find(worker);
  return it == leases_.end() ? 0 : it->second.end;
}

void SegmentPlanner::Release(int worker) {
  auto it = leases_.find(worker);
  if (it == leases_.end()) return;
  done_.Add(it->second.begin, it->second.pos);
  pool_.Add(it->second.pos, it->second.end);
  leases_.erase(it);
}

uint64_t SegmentPlanner::DoneBytes() const {
  uint64_t n = done_.TotalBytes();
  for (const auto& [w, l] : leases_) n += l.pos - l.begin;
  return n;
}

RangeSet SegmentPlanner::Written() const {
  RangeSet out = done_;
  for (const auto& [w, l] : leases_) out.Add(l.begin, l.pos);
  return out;
}

uint64_t SegmentPlanner::ContiguousPrefix() const {
  uint64_t p = done_.ContiguousEnd(0);
  // A lease that starts at the prefix extends it; leases are disjoint, so loop until fixed.
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& [w, l] : leases_) {
      if (l.begin == p && l.pos > p) {
        p = done_.ContiguousEnd(l.pos);
        grew = true;
      }
    }
  }
  return p;
}

}  // namespace modeld::engine
