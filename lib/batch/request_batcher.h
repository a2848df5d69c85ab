#pragma once
// A dynamic batcher for one model (Triton's dynamic batcher): requests of
// rows queue up and leave as one batch when the queued rows reach the size
// limit or when the oldest request has waited max_queue_delay, whichever
// comes first, and only while fewer than max_in_flight batches execute, so
// that under saturation batches grow instead of queueing up behind each
// other. A batch's rows are concatenated, run through `execute` once, and
// each request gets its own slice of the output.
//
// Threads: submit() from any thread; batches run through `post` (the
// server's compute pool); completions are called on the thread that ran the
// batch (or, for a queue timeout, the thread that found it expired).
// Time: `now` is injectable. With the default (steady_clock) a timer thread
// fires delay dispatches and timeouts; with an injected clock there is no
// timer thread and the caller calls poll() (tests: no sleeping).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "batch/batch_config.h"
#include "batch/batch_stats.h"
#include "common/result.h"

namespace servelab::batch {

// What a request's completion receives.
struct BatchOutcome {
  // Success: rows * output_width floats, valid only during the callback.
  const float* output = nullptr;
  int64_t rows = 0;
  // Set when the request was not computed: queue_timeout, or an execution
  // failure of its batch (`error` then holds the message and rejection is empty).
  std::optional<Rejection> rejection;
  std::string error;
  int64_t batch_rows = 0;                    // rows of the batch it ran in (0 if not computed)
  std::chrono::nanoseconds execute_time{0};  // that batch's execution time

  bool ok() const { return output != nullptr; }
};

struct BatchRequest {
  std::vector<float> input;  // rows * input_width floats, row-major
  int64_t rows = 0;
  std::function<void(const BatchOutcome&)> done;  // called exactly once if submit() accepts
};

// Why submit() refused a request (done is then never called).
enum class SubmitError : uint8_t { invalid, queue_full, shutdown };

class RequestBatcher {
 public:
  using Clock = std::chrono::steady_clock;
  // Runs a batch: `input` has rows*input_width floats, `output` room for
  // rows*output_width. An error fails exactly this batch's requests.
  using Execute = std::function<Status(const float* input, int64_t rows, float* output)>;
  // Schedules a task (a batch) on the compute threads.
  using Post = std::function<void(std::function<void()>)>;

  struct Options {
    BatchConfig config;
    int64_t input_width = 0;   // floats per input row
    int64_t output_width = 0;  // floats per output row
    Execute execute;
    Post post;
    // Empty: steady_clock with a timer thread. Set: no timer thread; call poll().
    std::function<Clock::time_point()> now;
  };

  explicit RequestBatcher(Options options);
  ~RequestBatcher();  // shutdown()
  RequestBatcher(const RequestBatcher&) = delete;
  RequestBatcher& operator=(const RequestBatcher&) = delete;

  // Queues a request, or refuses it: invalid (rows < 1 or input size not
  // rows*input_width: it never joins a batch), queue_full, shutdown.
  std::optional<SubmitError> submit(BatchRequest&& request);

  // Expires timed-out requests and dispatches what is due at now(). The
  // timer thread calls it; with an injected clock the caller does.
  void poll();

  // Refuses new requests, dispatches everything queued without waiting for
  // the delay (trigger `drain`) and returns when every batch has completed.
  // REQUIRES: `post` still runs tasks. Idempotent.
  void shutdown();

  BatchStats stats() const;
  int64_t size_limit() const;

 private:
  struct Queued {
    BatchRequest request;
    Clock::time_point enqueued;
  };
  struct Batch {
    uint64_t seq = 0;
    std::vector<Queued> items;
    int64_t rows = 0;
  };
  struct Done {  // an executed batch awaiting delivery (preserve_ordering)
    Batch batch;
    std::vector<float> output;
    Status status = Ok{};
    std::chrono::nanoseconds elapsed{0};
  };

  Clock::time_point now() const;
  // REQUIRES: mu_ held. Moves due batches and expired requests out.
  void collect_locked(Clock::time_point now, std::vector<Batch>& batches,
                      std::vector<Queued>& expired);
  Batch take_locked(Clock::time_point now, Trigger trigger, int64_t limit);
  int64_t cut_size_locked(int64_t limit) const;
  int64_t current_limit_locked() const;
  // Posts the batches and answers the expired requests; no lock held.
  void launch(std::vector<Batch>& batches, std::vector<Queued>& expired);
  void run_batch(Batch& batch);
  void deliver(Done& done);
  size_t deliver_in_order(Done&& done);  // returns requests delivered by this call
  void adapt_locked(int64_t rows, std::chrono::nanoseconds elapsed);
  void timer_loop();

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;  // queue, in-flight or shutdown changed
  std::deque<Queued> queue_;
  int64_t queued_rows_ = 0;
  int in_flight_ = 0;       // batches executing
  size_t outstanding_ = 0;  // accepted requests whose completion has not returned yet
  uint64_t next_seq_ = 0;
  bool shutting_down_ = false;
  bool stop_timer_ = false;
  double limit_;  // adaptive size limit in rows (fractional while it moves)
  BatchStats stats_;

  std::mutex order_mu_;  // preserve_ordering: delivery in batch sequence order
  std::map<uint64_t, Done> ready_;
  uint64_t next_deliver_ = 0;
  bool delivering_ = false;

  std::thread timer_;
};

}  // namespace servelab::batch
