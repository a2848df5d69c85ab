#pragma once
// What the generator's connection pool did during a run (docs/POOL.md):
// connections created, reused, failed, closed, health checks, and the pool's
// size over time. Each worker thread counts into its own PoolTracker; the
// per-thread PoolStats are added after the join.

#include <chrono>
#include <cstdint>
#include <vector>

namespace servelab::pool {

struct PoolStats {
  // Connections opened before the run started (pool.min pre-connect).
  uint64_t preconnected = 0;
  // During the measured phase:
  uint64_t created = 0;  // connections opened (TCP connect attempted by libcurl)
  uint64_t closed = 0;   // connections closed, for any reason (idle, age, server close, error)
  uint64_t failed = 0;   // requests whose connection could not be established
  uint64_t reused = 0;   // requests sent on a connection that already existed
  uint64_t fresh = 0;    // requests that had to open a connection
  uint64_t health_checks_passed = 0;  // idle connection answered the check with 2xx
  uint64_t health_checks_failed = 0;  // error or non-2xx: that connection was removed
  uint64_t peak_size = 0;             // open connections at the fullest (sum of each thread's peak)
  uint64_t final_size = 0;            // open connections when the measured phase ended
  uint64_t max = 0;                   // the configured limit (pool.max, total over threads)
  // Per second of the measured phase: the most connections open during that
  // second (summed over threads, so an upper bound of the true peak).
  std::vector<uint64_t> size_timeline;

  // reused / (reused + fresh): share of requests that did not open a connection.
  double reuse_rate() const;
  void add(const PoolStats& other);  // merge another thread's stats
};

// One thread's pool counters. Every call is O(1) without allocation (the
// timeline is sized up front): the calls sit on the request path.
class PoolTracker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PoolTracker(size_t timeline_seconds) : timeline_(timeline_seconds, 0) {}

  void set_max(uint64_t max) noexcept { max_ = max; }
  // The measured phase starts at `at`: counters restart (the open
  // connections stay open, and stay counted in the size).
  void start_measuring(Clock::time_point at) noexcept;
  void opened(Clock::time_point now) noexcept;
  void closed(Clock::time_point now) noexcept;
  void transfer(bool reused) noexcept { reused ? ++stats_.reused : ++stats_.fresh; }
  void connect_failed() noexcept { ++stats_.failed; }
  void health_check(bool passed) noexcept {
    passed ? ++stats_.health_checks_passed : ++stats_.health_checks_failed;
  }
  // Pre-connect is over: the connections open now are `preconnected`.
  void preconnect_done() noexcept { stats_.preconnected = size_; }

  uint64_t size() const noexcept { return size_; }
  // The stats of the measured phase, which ended at `end`.
  PoolStats finish(Clock::time_point end);

 private:
  // Fills the seconds without a change up to the one holding `now`.
  void advance(Clock::time_point now) noexcept;

  PoolStats stats_;
  std::vector<uint64_t> timeline_;
  uint64_t size_ = 0;
  uint64_t max_ = 0;
  bool measuring_ = false;
  Clock::time_point measure_start_{};
  size_t bucket_ = 0;  // second of the last change
};

}  // namespace servelab::pool
