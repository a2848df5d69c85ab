#include "batch/request_batcher.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

namespace servelab::batch {

namespace {

// Weight of the newest batch in the adaptive limit's moving average: a
// quarter moves the limit most of the way within ~8 batches without letting
// one slow batch (a preempted thread) halve it.
constexpr double kAdaptGain = 0.25;

constexpr auto kDelayBoundsNs = bounds_ns(BatchStats::kDelayBuckets);

}  // namespace

const char* to_string(Trigger trigger) {
  switch (trigger) {
    case Trigger::size:
      return "size";
    case Trigger::delay:
      return "delay";
    case Trigger::drain:
      return "drain";
  }
  return "size";
}

const char* to_string(Rejection rejection) {
  switch (rejection) {
    case Rejection::queue_full:
      return "queue_full";
    case Rejection::queue_timeout:
      return "queue_timeout";
    case Rejection::shutdown:
      return "shutdown";
  }
  return "queue_full";
}

RequestBatcher::RequestBatcher(Options options) : options_(std::move(options)) {
  BatchConfig& c = options_.config;
  c.max_batch_size = std::max<int64_t>(1, c.max_batch_size);
  c.max_in_flight = std::max(1, c.max_in_flight);
  std::sort(c.preferred_batch_sizes.begin(), c.preferred_batch_sizes.end());
  limit_ = static_cast<double>(c.max_batch_size);
  stats_.size_limit = c.max_batch_size;
  if (!options_.now) timer_ = std::thread([this] { timer_loop(); });
}

RequestBatcher::~RequestBatcher() { shutdown(); }

RequestBatcher::Clock::time_point RequestBatcher::now() const {
  return options_.now ? options_.now() : Clock::now();
}

int64_t RequestBatcher::size_limit() const {
  std::lock_guard lock(mu_);
  return stats_.size_limit;
}

BatchStats RequestBatcher::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::optional<SubmitError> RequestBatcher::submit(BatchRequest&& request) {
  if (request.rows < 1 || !request.done ||
      request.input.size() != static_cast<size_t>(request.rows * options_.input_width)) {
    return SubmitError::invalid;
  }
  std::vector<Batch> batches;
  std::vector<Queued> expired;
  bool was_empty = false;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) {
      ++stats_.rejections[static_cast<size_t>(Rejection::shutdown)];
      return SubmitError::shutdown;
    }
    if (queue_.size() >= options_.config.max_queue_size) {
      ++stats_.rejections[static_cast<size_t>(Rejection::queue_full)];
      return SubmitError::queue_full;
    }
    const Clock::time_point t = now();
    was_empty = queue_.empty();
    queued_rows_ += request.rows;
    ++outstanding_;
    queue_.push_back(Queued{std::move(request), t});
    collect_locked(t, batches, expired);
  }
  // Only a new oldest request moves the timer's deadline.
  if (was_empty) changed_.notify_all();
  launch(batches, expired);
  return std::nullopt;
}

void RequestBatcher::poll() {
  std::vector<Batch> batches;
  std::vector<Queued> expired;
  {
    std::lock_guard lock(mu_);
    collect_locked(now(), batches, expired);
  }
  launch(batches, expired);
}

void RequestBatcher::shutdown() {
  std::vector<Batch> batches;
  std::vector<Queued> expired;
  {
    std::lock_guard lock(mu_);
    if (!shutting_down_) {
      shutting_down_ = true;
      collect_locked(now(), batches, expired);
    }
  }
  launch(batches, expired);
  {
    std::unique_lock lock(mu_);
    // Completing batches dispatch the rest of the queue (trigger drain).
    changed_.wait(lock, [this] { return queue_.empty() && outstanding_ == 0; });
    stop_timer_ = true;
  }
  changed_.notify_all();
  if (timer_.joinable()) timer_.join();
}

int64_t RequestBatcher::current_limit_locked() const {
  if (!options_.config.adaptive) return options_.config.max_batch_size;
  return std::clamp<int64_t>(std::llround(limit_), 1, options_.config.max_batch_size);
}

void RequestBatcher::collect_locked(Clock::time_point t, std::vector<Batch>& batches,
                                    std::vector<Queued>& expired) {
  const BatchConfig& c = options_.config;
  if (c.queue_timeout.count() > 0) {
    while (!queue_.empty() && t - queue_.front().enqueued >= c.queue_timeout) {
      queued_rows_ -= queue_.front().request.rows;
      expired.push_back(std::move(queue_.front()));
      queue_.pop_front();
      ++stats_.rejections[static_cast<size_t>(Rejection::queue_timeout)];
    }
  }
  const int64_t limit = current_limit_locked();
  while (in_flight_ < c.max_in_flight && !queue_.empty()) {
    Trigger trigger;
    if (queued_rows_ >= limit) {
      trigger = Trigger::size;
    } else if (shutting_down_) {
      trigger = Trigger::drain;
    } else if (t - queue_.front().enqueued >= c.max_queue_delay) {
      trigger = Trigger::delay;
    } else {
      break;
    }
    batches.push_back(take_locked(t, trigger, limit));
    ++in_flight_;
  }
  stats_.queue_depth = queue_.size();
}

int64_t RequestBatcher::cut_size_locked(int64_t limit) const {
  const int64_t available = std::min(queued_rows_, limit);
  const auto& preferred = options_.config.preferred_batch_sizes;  // sorted
  for (auto it = preferred.rbegin(); it != preferred.rend(); ++it) {
    if (*it <= available) return *it;
  }
  return limit;
}

RequestBatcher::Batch RequestBatcher::take_locked(Clock::time_point t, Trigger trigger,
                                                  int64_t limit) {
  const int64_t cut = cut_size_locked(limit);
  const auto& bounds = kDelayBoundsNs;
  Batch batch;
  batch.seq = next_seq_++;
  while (!queue_.empty()) {
    Queued& q = queue_.front();
    // Always at least one request, even one larger than the limit.
    if (!batch.items.empty() && batch.rows + q.request.rows > cut) break;
    batch.rows += q.request.rows;
    const int64_t waited = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(t - q.enqueued).count());
    ++stats_.delay_counts[static_cast<size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), waited) - bounds.begin())];
    stats_.delay_sum_ns += static_cast<uint64_t>(waited);
    batch.items.push_back(std::move(q));
    queue_.pop_front();
  }
  queued_rows_ -= batch.rows;
  const auto& sizes = BatchStats::kSizeBuckets;
  ++stats_.size_counts[static_cast<size_t>(
      std::lower_bound(sizes.begin(), sizes.end(), batch.rows) - sizes.begin())];
  ++stats_.batches;
  stats_.requests += batch.items.size();
  stats_.rows += static_cast<uint64_t>(batch.rows);
  ++stats_.dispatches[static_cast<size_t>(trigger)];
  return batch;
}

void RequestBatcher::launch(std::vector<Batch>& batches, std::vector<Queued>& expired) {
  for (Batch& batch : batches) {
    auto shared = std::make_shared<Batch>(std::move(batch));
    options_.post([this, shared] { run_batch(*shared); });
  }
  if (expired.empty()) return;
  for (Queued& q : expired) {
    BatchOutcome outcome;
    outcome.rejection = Rejection::queue_timeout;
    outcome.error = "request waited in the batch queue longer than the queue timeout";
    q.request.done(outcome);
  }
  std::lock_guard lock(mu_);
  outstanding_ -= expired.size();
  changed_.notify_all();
}

void RequestBatcher::run_batch(Batch& batch) {
  Done done;
  done.output.resize(static_cast<size_t>(batch.rows * options_.output_width));
  const float* input = batch.items.front().request.input.data();
  // Rows of several requests are concatenated into one buffer per compute
  // thread, grown only.
  thread_local std::vector<float> joined;
  if (batch.items.size() > 1) {
    joined.resize(static_cast<size_t>(batch.rows * options_.input_width));
    float* at = joined.data();
    for (const Queued& q : batch.items) {
      std::memcpy(at, q.request.input.data(), q.request.input.size() * sizeof(float));
      at += q.request.input.size();
    }
    input = joined.data();
  }
  const Clock::time_point start = now();
  try {
    done.status = options_.execute(input, batch.rows, done.output.data());
  } catch (const std::exception& e) {
    done.status = make_error(std::string("batch execution failed: ") + e.what());
  }
  done.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now() - start);

  std::vector<Batch> next;
  std::vector<Queued> expired;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (!done.status.ok()) {
      ++stats_.failed_batches;
    } else if (options_.config.adaptive) {
      adapt_locked(batch.rows, done.elapsed);
    }
    collect_locked(now(), next, expired);
  }
  changed_.notify_all();  // a free slot lets the timer's delay deadline count again
  // The next batch starts (on another compute thread if one is free) before
  // this one's completions run.
  launch(next, expired);

  done.batch = std::move(batch);
  size_t delivered = 0;
  if (options_.config.preserve_ordering) {
    delivered = deliver_in_order(std::move(done));
  } else {
    deliver(done);
    delivered = done.batch.items.size();
  }
  // Last touch of `this`: shutdown() may return as soon as this is released.
  std::lock_guard lock(mu_);
  outstanding_ -= delivered;
  changed_.notify_all();
}

void RequestBatcher::deliver(Done& done) {
  BatchOutcome outcome;
  outcome.batch_rows = done.batch.rows;
  outcome.execute_time = done.elapsed;
  if (!done.status.ok()) {
    outcome.error = done.status.error().message;
    for (Queued& q : done.batch.items) q.request.done(outcome);
    return;
  }
  const float* at = done.output.data();
  for (Queued& q : done.batch.items) {
    outcome.output = at;
    outcome.rows = q.request.rows;
    q.request.done(outcome);
    at += q.request.rows * options_.output_width;
  }
}

size_t RequestBatcher::deliver_in_order(Done&& done) {
  std::unique_lock lock(order_mu_);
  const uint64_t seq = done.batch.seq;
  ready_.emplace(seq, std::move(done));
  if (delivering_) return 0;  // the delivering thread will reach it
  delivering_ = true;
  size_t delivered = 0;
  for (auto it = ready_.find(next_deliver_); it != ready_.end(); it = ready_.find(next_deliver_)) {
    Done current = std::move(it->second);
    ready_.erase(it);
    lock.unlock();
    deliver(current);
    delivered += current.batch.items.size();
    lock.lock();
    ++next_deliver_;
  }
  delivering_ = false;
  return delivered;
}

// Scales the batch that just ran to the rows that would take the target
// time (execution time grows about linearly with rows past the fixed cost of
// reading the weights) and moves the limit part of the way there. Under
// steady load this converges to the size whose execution takes the target;
// when rows get slower (load on the machine, a bigger model) it backs off.
void RequestBatcher::adapt_locked(int64_t rows, std::chrono::nanoseconds elapsed) {
  if (elapsed.count() <= 0) return;
  const auto target =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.config.target_batch_time);
  const double suggested = static_cast<double>(rows) * static_cast<double>(target.count()) /
                           static_cast<double>(elapsed.count());
  const double max = static_cast<double>(options_.config.max_batch_size);
  limit_ += kAdaptGain * (std::clamp(suggested, 1.0, max) - limit_);
  stats_.size_limit = current_limit_locked();
}

void RequestBatcher::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stop_timer_) {
    const BatchConfig& c = options_.config;
    auto deadline = Clock::time_point::max();
    if (!queue_.empty()) {
      const Clock::time_point oldest = queue_.front().enqueued;
      if (in_flight_ < c.max_in_flight) deadline = oldest + c.max_queue_delay;
      if (c.queue_timeout.count() > 0) deadline = std::min(deadline, oldest + c.queue_timeout);
    }
    if (deadline == Clock::time_point::max()) {
      changed_.wait(lock);
    } else {
      changed_.wait_until(lock, deadline);
    }
    if (stop_timer_) break;
    std::vector<Batch> batches;
    std::vector<Queued> expired;
    collect_locked(Clock::now(), batches, expired);
    if (batches.empty() && expired.empty()) continue;
    lock.unlock();
    launch(batches, expired);
    lock.lock();
  }
}

}  // namespace servelab::batch
