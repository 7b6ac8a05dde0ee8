#include "engine/range_set.h"

#include <algorithm>

namespace modeld::engine {

void RangeSet::Add(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto it = map_.upper_bound(begin);
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= begin) it = prev;
  }
  while (it != map_.end() && it->first <= end) {
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    total_ -= it->second - it->first;
    it = map_.erase(it);
  }
  map_.emplace(begin, end);
  total_ += end - begin;
}

void RangeSet::Remove(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto it = map_.upper_bound(begin);
  if (it != map_.begin()) --it;
  while (it != map_.end() && it->first < end) {
    uint64_t b = it->first, e = it->second;
    if (e <= begin) {
      ++it;
      continue;
    }
    total_ -= e - b;
    it = map_.erase(it);
    if (b < begin) {
      map_.emplace(b, begin);
      total_ += begin - b;
    }
    if (e > end) {
      it = map_.emplace(end, e).first;
      total_ += e - end;
      ++it;
    }
  }
}

bool RangeSet::Contains(uint64_t begin, uint64_t end) const {
  if (begin >= end) return true;
  return ContiguousEnd(begin) >= end;
}

uint64_t RangeSet::ContiguousEnd(uint64_t from) const {
  auto it = map_.upper_bound(from);
  if (it == map_.begin()) return from;
  --it;
  return it->second > from ? it->second : from;
}

std::vector<ByteRange> RangeSet::Ranges() const {
  std::vector<ByteRange> out;
  out.reserve(map_.size());
  for (const auto& [b, e] : map_) out.push_back({b, e});
  return out;
}

}  // namespace modeld::engine
