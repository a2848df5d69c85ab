#pragma once
// A load-generator worker thread, less its transport: one epoll loop, a
// fixed set of connection slots, and everything that decides WHEN a slot
// sends (closed loop, think-time ring, [[load.stages]] parking, open-loop
// arrivals, late starts), the warmup/measure boundary, progress publishing
// and the end-of-run accounting (unfinished requests). A transport
// (CurlTransport in curl_transport.h, NativeTransport in native_transport.h)
// derives from it and only moves bytes: it sends what begin() asks for and
// reports each finished transfer with finish(). Both engines therefore
// produce identical counts for the same schedule.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "load/arrivals.h"
#include "load/plan.h"
#include "load/recorder.h"
#include "load/stage_schedule.h"
#include "pool/pool_stats.h"

struct epoll_event;  // <sys/epoll.h>

namespace servelab::load {

using Clock = std::chrono::steady_clock;

// A worker's live counters for the progress display. The owner thread writes
// (relaxed stores), the calling thread reads; aligned so that workers never
// share a cache line.
struct alignas(64) ProgressSlot {
  std::atomic<uint64_t> completed{0};  // reached the server, all phases, monotonic (the rate)
  std::atomic<uint64_t> requests{0};   // current phase
  std::atomic<uint64_t> errors{0};     // current phase
  std::atomic<int64_t> p99_us{0};      // measured phase so far
};

// The run's clock, fixed by run() before the workers are released.
struct RunClock {
  Clock::time_point start;          // warmup begins
  Clock::time_point measure_start;  // warmup ends, measured phase begins
  Clock::time_point end;            // measured phase ends
};

// Whole seconds of the measured phase, rounded up: the timelines' length.
size_t timeline_seconds(const scenario::LoadConfig& load);

class LoopCore {
 public:
  // `slots`: this thread's connections (>= 1; in closed loop with stages,
  // its share of the peak). `threads`: how many workers share the load
  // (this one is `index`); the open-loop rate and the closed-loop stage
  // targets are split evenly between them.
  LoopCore(const Plan& plan, int index, int threads, int slots, ProgressSlot& progress);
  virtual ~LoopCore();
  LoopCore(const LoopCore&) = delete;
  LoopCore& operator=(const LoopCore&) = delete;

  // Creates the epoll instance and the schedule's buffers, then the
  // transport's (setup_transport). Called on the worker thread before the start.
  Status setup();
  // Runs until clock.end or until `stop`/`abort` is set.
  void run(const RunClock& clock, const std::atomic<bool>& stop, const std::atomic<bool>& abort);
  // Frees the transport (cleanup_transport), then closes the epoll instance.
  void cleanup() noexcept;

  const Recorder& recorder() const noexcept { return recorder_; }
  // The connection pool's counters of the measured phase (valid after run()).
  const pool::PoolStats& pool_stats() const noexcept { return pool_stats_; }
  Clock::time_point exit_time() const noexcept { return exit_time_; }
  bool stopped_early() const noexcept { return stopped_early_; }

 protected:
  // --- the transport's side -------------------------------------------------
  virtual Status setup_transport() = 0;
  virtual void cleanup_transport() noexcept = 0;
  // Send request plan.requests[mix] on slot `slot` (not busy). `timeout_ms`
  // (>= 1) is what is left of load.timeout from the intended send time.
  virtual void begin(uint32_t slot, uint32_t mix, long timeout_ms) noexcept = 0;
  // One epoll event on a descriptor the transport registered with epfd().
  virtual void on_event(const ::epoll_event& ev) noexcept = 0;
  // Called twice per loop turn after the events: expire timers, report
  // completions with finish(). Requests begun in the first call's wake of
  // start_due() can be pushed out in the second.
  virtual void on_turn() noexcept = 0;
  // The transport's next timer (timeouts); time_point::max() when none.
  virtual Clock::time_point next_deadline() const noexcept = 0;
  // The transport's connection counters. The transport reports each
  // connection opened and closed; the core reports each transfer (finish()),
  // restarts them with the measured phase and takes their stats when the
  // loop ends.
  virtual pool::PoolTracker& pool_tracker() noexcept = 0;

  // A transfer on `slot` ended at `done` (event_time() read when the
  // transport saw the end). The transport fills status, failed, error, bytes
  // and connects, and says whether it never got a connection
  // (`connect_failed`); the core counts it in the pool tracker, adds the
  // times and mix index, records it and (closed loop) starts the slot's
  // next request.
  void finish(uint32_t slot, Sample& s, bool connect_failed, Clock::time_point done) noexcept;

  bool busy(uint32_t slot) const noexcept { return slots_[slot].busy; }
  // The intended send time of the request on `slot` (latency starts here).
  Clock::time_point intended(uint32_t slot) const noexcept { return slots_[slot].intended; }
  Recorder& mutable_recorder() noexcept { return recorder_; }
  uint32_t slot_count() const noexcept { return static_cast<uint32_t>(slots_.size()); }
  int epfd() const noexcept { return epfd_; }
  // The loop's clock, read once per loop turn (after epoll returns): for
  // timers (deadlines, publishing, schedules) only, never for a measurement,
  // since every event of a turn would share it.
  Clock::time_point now() const noexcept { return now_; }
  // The time of one event (a send, a completion, body bytes): a fresh clock
  // read, so that events handled in the same loop turn get their own times.
  // steady_clock is clock_gettime(CLOCK_MONOTONIC) through the vDSO, no
  // system call: about 20 ns (bench/clock_bench.cpp).
  static Clock::time_point event_time() noexcept { return Clock::now(); }
  // Reads the clock outside the loop (a transport's own set-up phase).
  void tick() noexcept { now_ = Clock::now(); }
  // Requests in flight now.
  uint32_t in_flight() const noexcept { return in_flight_; }

  const Plan& plan_;
  const long timeout_ms_;  // load.timeout in ms

 private:
  struct Slot {
    uint32_t mix = 0;
    bool busy = false;
    Clock::time_point intended;  // latency is measured from here
    Clock::time_point started;   // uncorrected latency from here
  };

  // Sends on `slot` now. Open loop: latency runs from `intended` (the
  // arrival's time); closed loop (no `intended`): from the actual send.
  void start(uint32_t slot, std::optional<Clock::time_point> intended = std::nullopt) noexcept;
  void start_due() noexcept;
  // Closed loop with stages: this thread's share of the connection target now.
  uint32_t connection_target() const noexcept;
  void publish() noexcept;
  int wait_events(::epoll_event* events, int max_events) noexcept;

  const int index_;
  const bool open_loop_;
  const Clock::duration think_;  // closed loop think time
  ProgressSlot& progress_;
  RunClock clock_{};

  int epfd_ = -1;
  std::vector<Slot> slots_;
  Recorder recorder_;

  // Loop state.
  Clock::time_point now_{};
  Clock::time_point next_publish_{};
  bool measuring_ = false;
  uint32_t in_flight_ = 0;
  uint64_t completed_total_ = 0;
  uint64_t mix_rng_;
  std::optional<Arrivals> arrivals_;  // open loop
  const int threads_;
  // Closed loop with [[load.stages]]: the total connection target over time;
  // slots above this thread's share are parked (idle, connection kept).
  StageSchedule connections_;
  bool staged_closed_ = false;
  uint32_t active_ = 0;           // slots busy or waiting out think time
  std::vector<uint32_t> parked_;  // a stack, preallocated
  std::vector<uint32_t> free_;    // open loop: idle slots (a stack, preallocated)
  // Closed loop with think time: slots waiting to send, in completion order
  // (a ring; constant think time keeps it sorted by ready time).
  std::vector<uint32_t> ring_slot_;
  std::vector<Clock::time_point> ring_ready_;
  size_t ring_head_ = 0, ring_size_ = 0;
  bool epoll_pwait2_missing_ = false;

  Clock::time_point exit_time_{};
  bool stopped_early_ = false;
  pool::PoolStats pool_stats_;  // of the measured phase, taken when the loop ends
};

}  // namespace servelab::load
