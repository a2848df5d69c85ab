// RequestBatcher with an injected clock and a hand-run task queue, so every
// dispatch decision is deterministic and no test sleeps.

#include "batch/request_batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "batch/compute_pool.h"
#include "support/wait_until.h"

namespace servelab::batch {
namespace {

using namespace std::chrono_literals;
using Clock = RequestBatcher::Clock;

// Time that moves only when the test says so (read from compute threads too).
class FakeClock {
 public:
  Clock::time_point now() const { return Clock::time_point(std::chrono::nanoseconds(ns_.load())); }
  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count()); }
  std::function<Clock::time_point()> fn() {
    return [this] { return now(); };
  }

 private:
  std::atomic<int64_t> ns_{1'000'000'000};
};

// Posted tasks wait here until the test runs them, in any order. A test must
// run them all before the batcher is destroyed (its shutdown waits for them).
class ManualPool {
 public:
  RequestBatcher::Post fn() {
    return [this](std::function<void()> task) { tasks_.push_back(std::move(task)); };
  }
  size_t size() const { return tasks_.size(); }
  void run(size_t i) {
    auto task = std::move(tasks_.at(i));
    tasks_.erase(tasks_.begin() + static_cast<std::ptrdiff_t>(i));
    task();
  }
  void run_all() {
    while (!tasks_.empty()) run(0);
  }

 private:
  std::vector<std::function<void()>> tasks_;
};

using servelab::testing::wait_until;

// Model of width 2 → 1: output = first + second element of the row.
constexpr int64_t kIn = 2;
constexpr int64_t kOut = 1;

Status sum_rows(const float* in, int64_t rows, float* out) {
  for (int64_t r = 0; r < rows; ++r) out[r] = in[2 * r] + in[2 * r + 1];
  return Ok{};
}

// What one request's completion saw.
struct Seen {
  int id = -1;
  std::vector<float> output;
  std::optional<Rejection> rejection;
  std::string error;
  int64_t batch_rows = 0;
};

class Recorder {
 public:
  // A request of `rows` rows whose row r is {id, r}.
  BatchRequest request(int id, int64_t rows = 1) {
    BatchRequest req;
    req.rows = rows;
    for (int64_t r = 0; r < rows; ++r) {
      req.input.push_back(static_cast<float>(id));
      req.input.push_back(static_cast<float>(r));
    }
    req.done = [this, id](const BatchOutcome& o) {
      Seen s;
      s.id = id;
      if (o.ok()) s.output.assign(o.output, o.output + o.rows * kOut);
      s.rejection = o.rejection;
      s.error = o.error;
      s.batch_rows = o.batch_rows;
      std::lock_guard lock(mu_);
      seen_.push_back(std::move(s));
    };
    return req;
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  std::vector<int> ids() const {
    std::vector<int> out;
    for (const Seen& s : seen()) out.push_back(s.id);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

RequestBatcher::Options manual_options(FakeClock& clock, ManualPool& pool, BatchConfig config) {
  RequestBatcher::Options o;
  o.config = std::move(config);
  o.input_width = kIn;
  o.output_width = kOut;
  o.execute = sum_rows;
  o.post = pool.fn();
  o.now = clock.fn();
  return o;
}

BatchConfig config_with(int64_t max_batch, std::chrono::microseconds delay) {
  BatchConfig c;
  c.max_batch_size = max_batch;
  c.max_queue_delay = delay;
  c.queue_timeout = 0us;
  return c;
}

TEST(RequestBatcher, DispatchesWhenQueuedRowsReachMaxBatchSize) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher batcher(manual_options(clock, pool, config_with(4, 1s)));
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  batcher.poll();
  EXPECT_EQ(pool.size(), 0u) << "3 rows < 4 and no delay has passed";
  ASSERT_FALSE(batcher.submit(rec.request(3)));
  ASSERT_EQ(pool.size(), 1u);
  pool.run_all();
  ASSERT_EQ(rec.count(), 4u);
  for (const Seen& s : rec.seen()) {
    EXPECT_EQ(s.batch_rows, 4);
    ASSERT_EQ(s.output.size(), 1u);
    EXPECT_EQ(s.output[0], static_cast<float>(s.id));  // {id, 0} summed
  }
  const BatchStats st = batcher.stats();
  EXPECT_EQ(st.batches, 1u);
  EXPECT_EQ(st.rows, 4u);
  EXPECT_EQ(st.dispatches[static_cast<size_t>(Trigger::size)], 1u);
  EXPECT_EQ(st.dispatches[static_cast<size_t>(Trigger::delay)], 0u);
  EXPECT_EQ(st.size_counts[2], 1u);  // bucket le=4
}

TEST(RequestBatcher, DispatchesOnTimeoutWithPartialBatch) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher batcher(manual_options(clock, pool, config_with(8, 1000us)));
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  clock.advance(999us);
  batcher.poll();
  EXPECT_EQ(pool.size(), 0u);
  clock.advance(1us);
  batcher.poll();
  ASSERT_EQ(pool.size(), 1u);
  pool.run_all();
  ASSERT_EQ(rec.count(), 3u);
  EXPECT_EQ(rec.seen()[0].batch_rows, 3);
  const BatchStats st = batcher.stats();
  EXPECT_EQ(st.dispatches[static_cast<size_t>(Trigger::delay)], 1u);
  EXPECT_EQ(st.dispatches[static_cast<size_t>(Trigger::size)], 0u);
  // Every request waited exactly 1 ms: bucket le=0.001 (index 4).
  EXPECT_EQ(st.delay_counts[4], 3u);
  EXPECT_EQ(st.delay_sum_ns, 3u * 1'000'000u);
}

TEST(RequestBatcher, DelayDispatchFiresFromTheTimerThread) {
  ComputePool pool(1);
  Recorder rec;
  RequestBatcher::Options o;
  o.config = config_with(64, 1000us);
  o.input_width = kIn;
  o.output_width = kOut;
  o.execute = sum_rows;
  o.post = [&pool](std::function<void()> t) { pool.post(std::move(t)); };
  RequestBatcher batcher(std::move(o));  // real clock: a timer thread
  ASSERT_FALSE(batcher.submit(rec.request(1)));
  ASSERT_FALSE(batcher.submit(rec.request(2)));
  ASSERT_TRUE(wait_until([&] { return rec.count() == 2; }));
  EXPECT_EQ(batcher.stats().dispatches[static_cast<size_t>(Trigger::delay)], 1u);
}

TEST(RequestBatcher, EachRequestGetsItsOwnRowsOfTheOutput) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher batcher(manual_options(clock, pool, config_with(6, 1s)));
  ASSERT_FALSE(batcher.submit(rec.request(10, 2)));
  ASSERT_FALSE(batcher.submit(rec.request(20, 3)));
  ASSERT_FALSE(batcher.submit(rec.request(30, 1)));
  pool.run_all();
  const auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].output, (std::vector<float>{10, 11}));
  EXPECT_EQ(seen[1].output, (std::vector<float>{20, 21, 22}));
  EXPECT_EQ(seen[2].output, (std::vector<float>{30}));
  EXPECT_EQ(seen[0].batch_rows, 6);
}

TEST(RequestBatcher, RequestLargerThanTheLimitRunsAlone) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher batcher(manual_options(clock, pool, config_with(4, 1s)));
  ASSERT_FALSE(batcher.submit(rec.request(1, 6)));
  ASSERT_EQ(pool.size(), 1u);
  pool.run_all();
  ASSERT_EQ(rec.count(), 1u);
  EXPECT_EQ(rec.seen()[0].output.size(), 6u);
}

TEST(RequestBatcher, PreferredBatchSizeCutsThePartialBatch) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  BatchConfig c = config_with(16, 1000us);
  c.preferred_batch_sizes = {4, 8};
  RequestBatcher batcher(manual_options(clock, pool, c));
  for (int i = 0; i < 6; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  clock.advance(1000us);
  batcher.poll();
  ASSERT_EQ(pool.size(), 1u);
  pool.run(0);  // its completion dispatches the 2 left over (overdue)
  ASSERT_EQ(pool.size(), 1u);
  pool.run(0);
  const auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].batch_rows, 4);
  EXPECT_EQ(seen[5].batch_rows, 2);
}

TEST(RequestBatcher, WaitsForAFreeSlotSoBatchesGrowUnderLoad) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher batcher(manual_options(clock, pool, config_with(8, 0us)));
  ASSERT_FALSE(batcher.submit(rec.request(0)));  // slot free, no delay: goes at once
  ASSERT_EQ(pool.size(), 1u);
  for (int i = 1; i <= 5; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  EXPECT_EQ(pool.size(), 1u) << "the only slot is busy: the queue accumulates";
  pool.run(0);
  ASSERT_EQ(pool.size(), 1u);
  pool.run(0);
  const auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].batch_rows, 1);
  EXPECT_EQ(seen[1].batch_rows, 5);
}

// Two batches execute at once and the second finishes first.
void run_second_batch_first(bool preserve, std::vector<int>& after_second,
                            std::vector<int>& after_both) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  BatchConfig c = config_with(2, 1s);
  c.max_in_flight = 2;
  c.preserve_ordering = preserve;
  RequestBatcher batcher(manual_options(clock, pool, c));
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  ASSERT_EQ(pool.size(), 2u);
  pool.run(1);
  after_second = rec.ids();
  pool.run(0);
  after_both = rec.ids();
}

TEST(RequestBatcher, PreserveOrderingHoldsALaterBatchUntilEarlierOnesAreDelivered) {
  std::vector<int> after_second, after_both;
  run_second_batch_first(true, after_second, after_both);
  EXPECT_TRUE(after_second.empty());
  EXPECT_EQ(after_both, (std::vector<int>{0, 1, 2, 3}));
  // Without the option the later batch is delivered as soon as it is done.
  run_second_batch_first(false, after_second, after_both);
  EXPECT_EQ(after_second, (std::vector<int>{2, 3}));
  EXPECT_EQ(after_both, (std::vector<int>{2, 3, 0, 1}));
}

TEST(RequestBatcher, PreservesArrivalOrderUnderConcurrentProducers) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 300;
  ComputePool pool(3);
  Recorder rec;
  std::atomic<uint64_t> batches{0};
  RequestBatcher::Options o;
  o.config = config_with(8, 50us);
  o.config.max_in_flight = 3;
  o.config.preserve_ordering = true;
  o.input_width = kIn;
  o.output_width = kOut;
  // Uneven work so that concurrent batches finish out of order.
  o.execute = [&batches](const float* in, int64_t rows, float* out) -> Status {
    volatile float sink = 0;
    const uint64_t spin = (batches.fetch_add(1) % 3 == 0) ? 20000 : 10;
    for (uint64_t i = 0; i < spin; ++i) sink = sink + 1.0f;
    return sum_rows(in, rows, out);
  };
  o.post = [&pool](std::function<void()> t) { pool.post(std::move(t)); };
  RequestBatcher batcher(std::move(o));

  // Each producer stamps its requests with increasing ids; it submits the
  // next only after the previous one is queued, so its own order is an
  // arrival order the batcher must keep.
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i)
        EXPECT_FALSE(batcher.submit(rec.request(p * 100000 + i)));
    });
  }
  for (auto& t : producers) t.join();
  ASSERT_TRUE(wait_until([&] { return rec.count() == kProducers * kPerProducer; }));
  std::vector<int> last(kProducers, -1);
  for (const Seen& s : rec.seen()) {
    const int p = s.id / 100000;
    EXPECT_GT(s.id, last[static_cast<size_t>(p)]) << "producer " << p << " answered out of order";
    last[static_cast<size_t>(p)] = s.id;
    ASSERT_EQ(s.output.size(), 1u);
    EXPECT_EQ(s.output[0], static_cast<float>(s.id));
  }
  batcher.shutdown();
  EXPECT_EQ(batcher.stats().requests, static_cast<uint64_t>(kProducers * kPerProducer));
}

TEST(RequestBatcher, ExecutionFailureFailsExactlyThatBatch) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher::Options o = manual_options(clock, pool, config_with(2, 1s));
  o.execute = [](const float* in, int64_t rows, float* out) -> Status {
    for (int64_t r = 0; r < rows; ++r) {
      if (in[2 * r] == 666) return make_error("poisoned row");
    }
    return sum_rows(in, rows, out);
  };
  RequestBatcher batcher(std::move(o));
  ASSERT_FALSE(batcher.submit(rec.request(1)));
  ASSERT_FALSE(batcher.submit(rec.request(666)));
  ASSERT_FALSE(batcher.submit(rec.request(3)));
  ASSERT_FALSE(batcher.submit(rec.request(4)));
  pool.run_all();
  const auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(seen[static_cast<size_t>(i)].output.empty());
    EXPECT_EQ(seen[static_cast<size_t>(i)].error, "poisoned row");
    EXPECT_FALSE(seen[static_cast<size_t>(i)].rejection);
  }
  EXPECT_EQ(seen[2].output, std::vector<float>{3});
  EXPECT_EQ(seen[3].output, std::vector<float>{4});
  EXPECT_EQ(batcher.stats().failed_batches, 1u);
}

TEST(RequestBatcher, MalformedRequestIsRefusedBeforeJoiningABatch) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  RequestBatcher batcher(manual_options(clock, pool, config_with(2, 1s)));
  ASSERT_FALSE(batcher.submit(rec.request(1)));
  BatchRequest bad = rec.request(2, 2);
  bad.input.pop_back();  // 3 floats for 2 rows of width 2
  EXPECT_EQ(batcher.submit(std::move(bad)), SubmitError::invalid);
  BatchRequest no_rows = rec.request(3);
  no_rows.rows = 0;
  EXPECT_EQ(batcher.submit(std::move(no_rows)), SubmitError::invalid);
  EXPECT_EQ(batcher.stats().queue_depth, 1u);
  ASSERT_FALSE(batcher.submit(rec.request(4)));
  pool.run_all();
  EXPECT_EQ(rec.ids(), (std::vector<int>{1, 4}));
  for (const Seen& s : rec.seen())
    EXPECT_EQ(s.output, std::vector<float>{static_cast<float>(s.id)});
}

TEST(RequestBatcher, QueueFullRejectsAndCounts) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  BatchConfig c = config_with(1, 0us);
  c.max_queue_size = 2;
  RequestBatcher batcher(manual_options(clock, pool, c));
  ASSERT_FALSE(batcher.submit(rec.request(0)));  // dispatched: occupies the slot
  ASSERT_FALSE(batcher.submit(rec.request(1)));
  ASSERT_FALSE(batcher.submit(rec.request(2)));
  EXPECT_EQ(batcher.submit(rec.request(3)), SubmitError::queue_full);
  BatchStats st = batcher.stats();
  EXPECT_EQ(st.queue_depth, 2u);
  EXPECT_EQ(st.rejections[static_cast<size_t>(Rejection::queue_full)], 1u);
  pool.run_all();
  EXPECT_EQ(rec.ids(), (std::vector<int>{0, 1, 2}));
  EXPECT_FALSE(batcher.submit(rec.request(4))) << "room again once the queue drained";
  pool.run_all();  // shutdown() in the destructor waits for every accepted request
}

TEST(RequestBatcher, QueueTimeoutAnswersRequestsThatWaitedTooLong) {
  FakeClock clock;
  ManualPool pool;
  Recorder rec;
  BatchConfig c = config_with(1, 0us);
  c.queue_timeout = 5ms;
  RequestBatcher batcher(manual_options(clock, pool, c));
  ASSERT_FALSE(batcher.submit(rec.request(0)));  // runs (slot), the next two wait behind it
  ASSERT_FALSE(batcher.submit(rec.request(1)));
  clock.advance(2ms);
  ASSERT_FALSE(batcher.submit(rec.request(2)));
  clock.advance(3ms);  // request 1 has waited 5 ms, request 2 only 3 ms
  batcher.poll();
  auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].id, 1);
  EXPECT_EQ(seen[0].rejection, Rejection::queue_timeout);
  pool.run_all();  // 0 completes; 2 is dispatched and computed
  EXPECT_EQ(rec.ids(), (std::vector<int>{1, 0, 2}));
  EXPECT_EQ(rec.seen()[2].output, std::vector<float>{2});
  EXPECT_EQ(batcher.stats().rejections[static_cast<size_t>(Rejection::queue_timeout)], 1u);
}

TEST(RequestBatcher, ShutdownComputesQueuedRequestsAndRefusesNewOnes) {
  FakeClock clock;  // never advances: the delay never passes on its own
  ComputePool pool(1);
  Recorder rec;
  RequestBatcher::Options o;
  o.config = config_with(2, 1s);
  o.input_width = kIn;
  o.output_width = kOut;
  o.execute = sum_rows;
  o.post = [&pool](std::function<void()> t) { pool.post(std::move(t)); };
  o.now = clock.fn();
  RequestBatcher batcher(std::move(o));
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  batcher.shutdown();  // returns once every queued request is answered
  ASSERT_EQ(rec.count(), 5u);
  for (const Seen& s : rec.seen())
    EXPECT_EQ(s.output, std::vector<float>{static_cast<float>(s.id)});
  EXPECT_EQ(batcher.submit(rec.request(9)), SubmitError::shutdown);
  const BatchStats st = batcher.stats();
  EXPECT_EQ(st.rejections[static_cast<size_t>(Rejection::shutdown)], 1u);
  EXPECT_EQ(st.dispatches[static_cast<size_t>(Trigger::drain)], 1u);  // the odd one left
  EXPECT_EQ(st.queue_depth, 0u);
}

// Execution costs `fixed + per_row * rows` of fake time.
TEST(RequestBatcher, AdaptiveLimitConvergesToTheTargetAndBacksOffWhenRowsGetSlower) {
  FakeClock clock;
  Recorder rec;
  std::atomic<int64_t> per_row_us{100};
  constexpr int64_t kFixedUs = 1000;
  RequestBatcher::Options o;
  o.config = config_with(64, 1s);
  o.config.adaptive = true;
  o.config.target_batch_time = 3000us;
  o.input_width = kIn;
  o.output_width = kOut;
  o.execute = [&](const float* in, int64_t rows, float* out) -> Status {
    clock.advance(std::chrono::microseconds(kFixedUs + per_row_us.load() * rows));
    return sum_rows(in, rows, out);
  };
  o.post = [](std::function<void()> t) { t(); };  // inline
  o.now = clock.fn();
  RequestBatcher batcher(std::move(o));
  EXPECT_EQ(batcher.size_limit(), 64);
  // Saturating load: requests keep coming, each batch leaves full.
  for (int i = 0; i < 1500; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  // (3000 - 1000) / 100 = 20 rows take the target time.
  EXPECT_NEAR(static_cast<double>(batcher.size_limit()), 20.0, 1.0);
  per_row_us = 200;  // rows get twice as slow: (3000 - 1000) / 200 = 10
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(batcher.submit(rec.request(i)));
  EXPECT_NEAR(static_cast<double>(batcher.size_limit()), 10.0, 1.0);
  EXPECT_EQ(batcher.stats().size_limit, batcher.size_limit());
}

}  // namespace
}  // namespace servelab::batch
