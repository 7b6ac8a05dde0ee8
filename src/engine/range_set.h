// RangeSet: a sorted set of disjoint, non-adjacent half-open byte ranges [begin, end).
//
// Thread safety: a value type; not safe for concurrent mutation.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace modeld::engine {

struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;  // exclusive
  uint64_t size() const { return end - begin; }
  bool operator==(const ByteRange&) const = default;
};

class RangeSet {
 public:
  // Adds [begin, end), merging with overlapping or touching ranges. Empty ranges are ignored.
  void Add(uint64_t begin, uint64_t end);
  // Removes [begin, end) from the set.
  void Remove(uint64_t begin, uint64_t end);
  bool Contains(uint64_t begin, uint64_t end) const;
  // End of the range that starts at |from| (or covers it), or |from| if not covered.
  uint64_t ContiguousEnd(uint64_t from) const;
  uint64_t TotalBytes() const { return total_; }
  bool empty() const { return map_.empty(); }
  std::vector<ByteRange> Ranges() const;
  void Clear() {
    map_.clear();
    total_ = 0;
  }

 private:
  std::map<uint64_t, uint64_t> map_;  // begin -> end
  uint64_t total_ = 0;
};

}  // namespace modeld::engine
