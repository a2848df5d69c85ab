#pragma once
// One load-generator worker thread: a libcurl multi handle driven by its own
// epoll loop (curl docs/examples/ephiperfifo.c), a fixed set of connection
// slots (one reusable easy handle each) and its own Recorder. Nothing here is
// shared with other workers except the ProgressSlot it publishes into.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <curl/curl.h>

#include "common/result.h"
#include "load/arrivals.h"
#include "load/plan.h"
#include "load/recorder.h"
#include "load/stage_schedule.h"

struct epoll_event;  // <sys/epoll.h>

namespace servelab::load {

class GenerateTracker;  // generate_tracker.h

using Clock = std::chrono::steady_clock;

// A worker's live counters for the progress display. The owner thread writes
// (relaxed stores), the calling thread reads; aligned so that workers never
// share a cache line.
struct alignas(64) ProgressSlot {
  std::atomic<uint64_t> completed{0};  // all phases, monotonic (for the rate)
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

class Worker {
 public:
  // `slots`: this thread's connections (>= 1; in closed loop with stages,
  // its share of the peak). `threads`: how many workers share the load
  // (this one is `index`); the open-loop rate and the closed-loop stage
  // targets are split evenly between them.
  Worker(const Plan& plan, int index, int threads, int slots, ProgressSlot& progress);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the epoll instance, the multi handle, the easy handles and the
  // header lists. Called on the worker thread before the start.
  Status setup();
  // Runs until clock.end or until `stop`/`abort` is set.
  void run(const RunClock& clock, const std::atomic<bool>& stop, const std::atomic<bool>& abort);
  // Removes in-flight transfers and frees every handle.
  void cleanup() noexcept;

  const Recorder& recorder() const noexcept { return recorder_; }
  Clock::time_point exit_time() const noexcept { return exit_time_; }
  bool stopped_early() const noexcept { return stopped_early_; }

 private:
  struct Slot {
    CURL* easy = nullptr;
    Worker* worker = nullptr;
    uint32_t mix = UINT32_MAX;  // request the handle is set up for
    long timeout_ms = 0;        // CURLOPT_TIMEOUT_MS currently set
    bool busy = false;
    Clock::time_point intended;  // latency is measured from here
    Clock::time_point started;   // uncorrected latency from here
    GenerateTracker* gen = nullptr;  // follows `generate` answers (plans with any)
  };

  // What this worker's epoll instance knows about one file descriptor.
  struct FdState {
    bool in_epoll = false;  // registered with epfd_
    uint32_t events = 0;    // the registered EPOLLIN/EPOLLOUT mask
    bool owned = false;     // libcurl currently wants events for it
    bool lazy = false;      // a connection socket opened by on_open_socket
  };

  static int on_socket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static curl_socket_t on_open_socket(void* userp, curlsocktype purpose, curl_sockaddr* addr);
  static int on_close_socket(void* userp, curl_socket_t s);
  FdState& fd_state(int fd);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);
  // libcurl write callback of `generate` transfers: feeds the slot's tracker.
  static size_t on_generate_body(char* data, size_t size, size_t n, void* userp);

  void configure(Slot& slot, uint32_t mix) noexcept;
  void start(Slot& slot, Clock::time_point intended) noexcept;
  void drain_completions() noexcept;
  void complete(Slot& slot, CURLcode rc) noexcept;
  void start_due() noexcept;
  // Closed loop with stages: this thread's share of the connection target now.
  uint32_t connection_target() const noexcept;
  void publish() noexcept;
  int wait_events(::epoll_event* events, int max_events) noexcept;

  const Plan& plan_;
  const int index_;
  const bool open_loop_;
  const long timeout_ms_;          // load.timeout in ms
  const Clock::duration think_;    // closed loop think time
  ProgressSlot& progress_;
  RunClock clock_{};

  int epfd_ = -1;
  CURLM* multi_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<FdState> fds_;           // indexed by fd; grows only on a new highest fd
  std::vector<curl_slist*> headers_;  // one list per PreparedRequest
  Recorder recorder_;
  std::vector<std::unique_ptr<GenerateTracker>> trackers_;  // one per slot, when the plan has generate requests
  uint64_t prompt_rng_;  // draws a generate request's prompt (deterministic per worker)

  // Loop state.
  Clock::time_point now_{};                  // read once per loop turn
  Clock::time_point curl_deadline_ = Clock::time_point::max();
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
  uint32_t active_ = 0;              // slots busy or waiting out think time
  std::vector<uint32_t> parked_;     // a stack, preallocated
  std::vector<uint32_t> free_;        // open loop: idle slots (a stack, preallocated)
  // Closed loop with think time: slots waiting to send, in completion order
  // (a ring; constant think time keeps it sorted by ready time).
  std::vector<uint32_t> ring_slot_;
  std::vector<Clock::time_point> ring_ready_;
  size_t ring_head_ = 0, ring_size_ = 0;
  bool epoll_pwait2_missing_ = false;

  Clock::time_point exit_time_{};
  bool stopped_early_ = false;
};

}  // namespace servelab::load
