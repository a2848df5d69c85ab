#include "models/load_scheduler.h"

#include <algorithm>
#include <iterator>

namespace servelab::models {

LoadScheduler::LoadScheduler(std::mutex& mu, Host& host, ModelSlots& slots)
    : mu_(mu), host_(host), slots_(slots), load_deadlines_(slots.size()) {}

void LoadScheduler::start(int loaders) {
  for (int i = 0; i < loaders; ++i) loaders_.emplace_back([this] { loader_loop(); });
  timer_ = std::thread([this] { timer_loop(); });
}

void LoadScheduler::stop() {
  stop_ = true;
  loader_cv_.notify_all();
  timer_cv_.notify_all();
}

void LoadScheduler::join() {
  for (auto& t : loaders_) t.join();
  if (timer_.joinable()) timer_.join();
}

void LoadScheduler::enqueue(int index) {
  slots_[static_cast<size_t>(index)]->queued = true;
  queue_.push_back(index);
  loader_cv_.notify_one();
}

void LoadScheduler::remove(int index) {
  ModelSlot& s = *slots_[static_cast<size_t>(index)];
  if (!s.queued) return;
  queue_.erase(std::find(queue_.begin(), queue_.end(), index));
  s.queued = false;
}

LoadScheduler::DeadlineId LoadScheduler::add_deadline(TimePoint when, Deadline what) {
  const bool earliest = deadlines_.empty() || when < deadlines_.begin()->first;
  const DeadlineId id = deadlines_.emplace(when, what);
  if (earliest) timer_cv_.notify_one();
  return id;
}

void LoadScheduler::cancel_load_deadline(int index) {
  auto& deadline = load_deadlines_[static_cast<size_t>(index)];
  if (!deadline) return;
  deadlines_.erase(*deadline);
  deadline.reset();
}

int LoadScheduler::pick(Deferred& d) {
  if (host_.stopping() || queue_.empty()) return -1;
  std::sort(queue_.begin(), queue_.end(), [&](int a, int b) {
    const ModelSlot& sa = *slots_[static_cast<size_t>(a)];
    const ModelSlot& sb = *slots_[static_cast<size_t>(b)];
    if (sa.job != sb.job) return sa.job < sb.job;
    if (sa.config.priority != sb.config.priority) return sa.config.priority > sb.config.priority;
    return sa.seq < sb.seq;
  });
  for (size_t i = 0; i < queue_.size();) {
    const int index = queue_[i];
    ModelSlot& s = *slots_[static_cast<size_t>(index)];
    if (host_.reserve(index, s.job, d)) {
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
      s.queued = false;
      return index;
    }
    if (s.job != JobClass::demand) {  // a preload never waits for room
      host_.no_room_for_preload(index, d);
      continue;  // that took queue_[i] off the queue
    }
    ++i;  // a request waits for room (leases drop, loads finish); try smaller ones
  }
  return -1;
}

void LoadScheduler::loader_loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    Deferred d;
    const int index = pick(d);
    if (index < 0) {
      if (!d.empty()) {
        lk.unlock();
        d.run();
        lk.lock();
        continue;
      }
      loader_cv_.wait(lk);
      continue;
    }
    host_.begin_load(index);
    const ModelSlot& s = *slots_[static_cast<size_t>(index)];
    load_deadlines_[static_cast<size_t>(index)] =
        add_deadline(s.load_started + s.config.load_timeout,
                     Deadline{Deadline::load_timeout, static_cast<uint64_t>(index)});
    lk.unlock();
    d.run();
    LoadOutcome outcome = host_.run_load(index);
    lk.lock();
    host_.finish_load(index, std::move(outcome), d);
    lk.unlock();
    d.run();
    lk.lock();
  }
}

void LoadScheduler::timer_loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    const TimePoint next =
        std::min(deadlines_.empty() ? kNever : deadlines_.begin()->first, host_.next_tick());
    if (next == kNever)
      timer_cv_.wait(lk);
    else
      timer_cv_.wait_until(lk, next);
    if (stop_) break;
    Deferred d;
    const TimePoint now = Clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      const Deadline due = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      if (due.kind == Deadline::waiter) {
        host_.wait_deadline_passed(due.id, d);
      } else {
        const auto index = static_cast<size_t>(due.id);
        load_deadlines_[index].reset();
        host_.load_deadline_passed(static_cast<int>(index), d);
      }
    }
    host_.tick(now, d);
    if (!d.empty()) {
      lk.unlock();
      d.run();
      lk.lock();
    }
  }
}

}  // namespace servelab::models
