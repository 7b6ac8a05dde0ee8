// Bandwidth limits: RateLimit, a cap in bytes a second that any thread may change while
// downloads run, and TokenBucket, which the engine loop uses to hold each cap.
//
// The engine keeps one RateLimit for everything it downloads (Engine::SetMaxRate) and
// takes an optional one per request (DownloadRequest::rate_limit), shared by the
// transfers of one job so that a job of four files is held to its cap as a whole. A byte
// received passes every bucket that applies to it; a connection whose bucket is empty is
// paused in libcurl (CURL_WRITEFUNC_PAUSE: TCP's window then slows the sender) until the
// bucket refills. A change of the cap takes effect at the next refill, within one
// progress tick (100 ms).
//
// A bucket holds at most kBurst of its rate, so a download that idled cannot then burst
// past its cap; it may go into debt by one libcurl callback (the engine sizes receive
// buffers from the cap), which the next refills pay back. Over any long window the bytes
// delivered are the cap times the window, within a burst and a callback.
//
// Thread safety: RateLimit::Set and rate() are safe from any thread. TokenBucket, and the
// bucket inside a RateLimit, belong to the thread of the one Engine that uses it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace modeld::engine {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // How much unused allowance a bucket keeps: this long at its rate.
  static constexpr std::chrono::milliseconds kBurst{50};

  // Adds what |rate| bytes a second earned since the last refill (the first refill starts
  // the clock with an allowance of one burst). rate 0: unlimited (the bucket is reset).
  void Refill(Clock::time_point now, uint64_t rate);
  // Whether nothing may be received now (the allowance is used up).
  bool Empty() const { return tokens_ <= 0; }
  // Takes |bytes| from the allowance; it may go below zero (debt).
  void Take(uint64_t bytes) { tokens_ -= static_cast<double>(bytes); }
  // How long until the allowance is positive again at |rate| (0 when it is).
  Clock::duration TimeToRefill(uint64_t rate) const;

 private:
  double tokens_ = 0;
  bool started_ = false;
  Clock::time_point last_{};
};

class RateLimit {
 public:
  explicit RateLimit(uint64_t bytes_per_second = 0) : rate_(bytes_per_second) {}
  RateLimit(const RateLimit&) = delete;
  RateLimit& operator=(const RateLimit&) = delete;

  // 0: unlimited. Safe from any thread.
  void Set(uint64_t bytes_per_second) { rate_.store(bytes_per_second, std::memory_order_relaxed); }
  uint64_t rate() const { return rate_.load(std::memory_order_relaxed); }

  // The engine loop's bucket for this cap.
  TokenBucket& bucket() { return bucket_; }

 private:
  std::atomic<uint64_t> rate_;
  TokenBucket bucket_;
};

}  // namespace modeld::engine
