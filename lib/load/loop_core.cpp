#include "load/loop_core.h"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

namespace servelab::load {
size_t timeline_seconds(const scenario::LoadConfig& load) {
  const auto us = std::max<int64_t>(load.duration.count(), 0);
  return static_cast<size_t>((us + 999'999) / 1'000'000);
}

namespace {

using namespace std::chrono_literals;

constexpr auto kPublishEvery = 100ms;
// An open-loop start later than this after its intended time counts as late.
constexpr auto kLateAfter = 1ms;
constexpr int kMaxEvents = 256;
constexpr auto kStageTick = 10ms;

long to_ms(std::chrono::microseconds d) {
  return static_cast<long>(std::max<int64_t>(1, (d.count() + 999) / 1000));
}

}  // namespace

LoopCore::LoopCore(const Plan& plan, int index, int threads, int slots, ProgressSlot& progress)
    : plan_(plan),
      timeout_ms_(to_ms(plan.load.timeout)),
      index_(index),
      open_loop_(plan.load.mode == scenario::LoadMode::open),
      think_(std::chrono::duration_cast<Clock::duration>(plan.load.think_time)),
      progress_(progress),
      slots_(static_cast<size_t>(slots)),
      recorder_(plan.requests.size(), timeline_seconds(plan.load)),
      mix_rng_(plan.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1),
      threads_(threads),
      connections_(static_cast<double>(plan.load.connections),
                   std::chrono::duration_cast<StageSchedule::Nanos>(plan.load.warmup),
                   plan.load.stages, scenario::LoadMode::closed, 1.0),
      staged_closed_(!open_loop_ && !plan.load.stages.empty()) {}

LoopCore::~LoopCore() {
  if (epfd_ >= 0) close(epfd_);
}

Status LoopCore::setup() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return make_error(fmt::format("epoll_create1: {}", std::strerror(errno)));
  if (open_loop_) {
    free_.reserve(slots_.size());
    for (size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  } else {
    ring_slot_.assign(slots_.size(), 0);
    ring_ready_.assign(slots_.size(), Clock::time_point{});
    parked_.reserve(slots_.size());
  }
  return setup_transport();
}

void LoopCore::cleanup() noexcept {
  cleanup_transport();
  for (Slot& s : slots_) s.busy = false;
  in_flight_ = 0;
  if (epfd_ >= 0) close(epfd_);
  epfd_ = -1;
}

void LoopCore::start(uint32_t idx, std::optional<Clock::time_point> intended_at) noexcept {
  const auto mix =
      plan_.requests.size() == 1
          ? 0u
          : static_cast<uint32_t>(pick_request(plan_.cumulative_weights, uniform01(mix_rng_)));
  long timeout = timeout_ms_;
  // The actual send time is read here, not taken from the loop turn: the
  // sends of one turn are spread over the time the turn takes.
  const Clock::time_point sent = event_time();
  const Clock::time_point intended = intended_at.value_or(sent);
  const auto delay = sent - intended;
  if (delay > kLateAfter) {
    recorder_.count_late();
    // The timeout runs from the intended send time: a late request has less left.
    const long spent =
        static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    timeout = std::max(1L, timeout_ms_ - spent);
  }
  Slot& slot = slots_[idx];
  slot.mix = mix;
  slot.intended = intended;
  slot.started = sent;
  slot.busy = true;
  ++in_flight_;
  begin(idx, mix, timeout);
}

void LoopCore::finish(uint32_t idx, Sample& s, bool connect_failed,
                      Clock::time_point done) noexcept {
  if (connect_failed) {
    pool_tracker().connect_failed();
  } else {
    pool_tracker().transfer(s.connects == 0);
  }
  Slot& slot = slots_[idx];
  s.latency = std::chrono::duration_cast<std::chrono::microseconds>(done - slot.intended);
  s.uncorrected = std::chrono::duration_cast<std::chrono::microseconds>(done - slot.started);
  s.at = std::chrono::duration_cast<std::chrono::microseconds>(done - clock_.measure_start);
  s.mix_index = slot.mix;
  recorder_.record(s);
  // The live rate counts what reached the server, as RunStats::rps() does.
  if (!connect_failed) ++completed_total_;

  slot.busy = false;
  --in_flight_;
  if (open_loop_) {
    free_.push_back(idx);  // within the reserved capacity: no allocation
  } else if (staged_closed_ && active_ > connection_target()) {
    parked_.push_back(idx);  // ramping down: this connection rests
    --active_;
  } else if (think_.count() == 0) {
    start(idx);
  } else {
    const size_t tail = (ring_head_ + ring_size_) % ring_slot_.size();
    ring_slot_[tail] = idx;
    ring_ready_[tail] = done + think_;
    ++ring_size_;
  }
}

void LoopCore::start_due() noexcept {
  if (open_loop_) {
    // Arrivals are started in intended order on whichever slot is free; while
    // none is, they wait (they are the arrivals between peek() and now).
    while (!free_.empty() && arrivals_->peek() <= now_ && arrivals_->peek() < clock_.end) {
      const uint32_t idx = free_.back();
      free_.pop_back();
      const Clock::time_point intended = arrivals_->peek();
      arrivals_->advance();
      start(idx, intended);
    }
    return;
  }
  const uint32_t target = staged_closed_ ? connection_target() : 0;
  while (ring_size_ > 0 && ring_ready_[ring_head_] <= now_) {
    const uint32_t idx = ring_slot_[ring_head_];
    ring_head_ = (ring_head_ + 1) % ring_slot_.size();
    --ring_size_;
    if (staged_closed_ && active_ > target) {
      parked_.push_back(idx);
      --active_;
      continue;
    }
    start(idx);
  }
  // Ramping up: parked connections join the loop.
  while (staged_closed_ && active_ < target && !parked_.empty()) {
    const uint32_t idx = parked_.back();
    parked_.pop_back();
    ++active_;
    start(idx);
  }
}

uint32_t LoopCore::connection_target() const noexcept {
  const auto total = static_cast<int64_t>(std::llround(connections_.level_at(now_ - clock_.start)));
  // Split like the engine splits connections: the remainder to the first threads.
  const int64_t share = total / threads_ + (index_ < total % threads_ ? 1 : 0);
  return static_cast<uint32_t>(std::clamp<int64_t>(share, 0, static_cast<int64_t>(slots_.size())));
}

void LoopCore::publish() noexcept {
  const Counters& c = recorder_.counters();
  progress_.completed.store(completed_total_, std::memory_order_relaxed);
  progress_.requests.store(c.requests, std::memory_order_relaxed);
  progress_.errors.store(c.error_total(), std::memory_order_relaxed);
  if (measuring_ && recorder_.latency().count() > 0) {
    progress_.p99_us.store(recorder_.latency().value_at_percentile(99), std::memory_order_relaxed);
  }
}

int LoopCore::wait_events(epoll_event* events, int max_events) noexcept {
  Clock::time_point wake = std::min(clock_.end, next_publish_);
  if (!measuring_) wake = std::min(wake, clock_.measure_start);
  wake = std::min(wake, next_deadline());
  if (open_loop_ && !free_.empty()) wake = std::min(wake, arrivals_->peek());
  // A ramp up is followed at this granularity (10 ms is below any stage).
  if (staged_closed_ && !parked_.empty()) wake = std::min(wake, now_ + kStageTick);
  if (ring_size_ > 0) wake = std::min(wake, ring_ready_[ring_head_]);
  const auto ns = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now_).count());
  if (!epoll_pwait2_missing_) {
    // Nanosecond timeout: open-loop sends are not rounded up to a millisecond.
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    const int n = epoll_pwait2(epfd_, events, max_events, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    epoll_pwait2_missing_ = true;
  }
  return epoll_wait(epfd_, events, max_events, static_cast<int>((ns + 999'999) / 1'000'000));
}

void LoopCore::run(const RunClock& clock, const std::atomic<bool>& stop,
                   const std::atomic<bool>& abort) {
  clock_ = clock;
  now_ = Clock::now();
  next_publish_ = now_ + kPublishEvery;
  measuring_ = now_ >= clock_.measure_start;
  if (measuring_) pool_tracker().start_measuring(clock_.measure_start);
  if (open_loop_) {
    // Each thread runs 1/threads of the rate (ramps included). Constant
    // schedules are staggered by index/threads of an arrival, so that they
    // interleave into one evenly spaced stream of `rate` arrivals overall.
    const double share = 1.0 / threads_;
    const StageSchedule rate(plan_.load.rate,
                             std::chrono::duration_cast<StageSchedule::Nanos>(plan_.load.warmup),
                             plan_.load.stages, scenario::LoadMode::open, share);
    arrivals_.emplace(clock_.start, rate, plan_.load.arrival == scenario::Arrival::poisson,
                      plan_.seed * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(index_),
                      index_ * share);
  } else {
    const uint32_t initial =
        staged_closed_ ? connection_target() : static_cast<uint32_t>(slots_.size());
    for (size_t i = slots_.size(); i-- > initial;) parked_.push_back(static_cast<uint32_t>(i));
    for (uint32_t i = 0; i < initial; ++i) start(i);
    active_ = initial;
  }

  epoll_event events[kMaxEvents];
  for (;;) {
    const int n = wait_events(events, kMaxEvents);
    now_ = Clock::now();
    if (now_ >= clock_.end) break;
    if (stop.load(std::memory_order_relaxed) || abort.load(std::memory_order_relaxed)) {
      stopped_early_ = true;
      break;
    }
    if (!measuring_ && now_ >= clock_.measure_start) {
      recorder_.reset();  // warmup results are discarded
      measuring_ = true;
      pool_tracker().start_measuring(clock_.measure_start);
    }
    for (int i = 0; i < n; ++i) on_event(events[i]);
    // Two passes: the second sends the requests that the first started
    // (libcurl's add_handle asks for an immediate timeout) in this same turn.
    for (int pass = 0; pass < 2; ++pass) {
      on_turn();
      start_due();
    }
    if (now_ >= next_publish_) {
      publish();
      next_publish_ = now_ + kPublishEvery;
    }
  }

  exit_time_ = now_;
  pool_stats_ = pool_tracker().finish(std::min(now_, clock_.end));
  if (!measuring_) {
    recorder_.reset();  // ended during warmup: nothing was measured
  } else {
    // Requests that did not complete inside the measured phase: in flight,
    // and (open loop) due but never started because every slot was busy.
    uint64_t unfinished = in_flight_;
    if (open_loop_) unfinished += arrivals_->drain_before(std::min(now_, clock_.end));
    recorder_.add_unfinished(unfinished);
  }
  publish();
}

}  // namespace servelab::load
