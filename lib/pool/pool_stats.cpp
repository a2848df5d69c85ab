#include "pool/pool_stats.h"

#include <algorithm>

namespace servelab::pool {

double PoolStats::reuse_rate() const {
  const uint64_t total = reused + fresh;
  return total == 0 ? 0.0 : static_cast<double>(reused) / static_cast<double>(total);
}

void PoolStats::add(const PoolStats& o) {
  preconnected += o.preconnected;
  created += o.created;
  closed += o.closed;
  failed += o.failed;
  reused += o.reused;
  fresh += o.fresh;
  health_checks_passed += o.health_checks_passed;
  health_checks_failed += o.health_checks_failed;
  peak_size += o.peak_size;
  final_size += o.final_size;
  max += o.max;
  if (size_timeline.size() < o.size_timeline.size())
    size_timeline.resize(o.size_timeline.size(), 0);
  for (size_t i = 0; i < o.size_timeline.size(); ++i) size_timeline[i] += o.size_timeline[i];
}

void PoolTracker::start_measuring(Clock::time_point at) noexcept {
  const uint64_t preconnected = stats_.preconnected;
  stats_ = PoolStats{};
  stats_.preconnected = preconnected;
  stats_.peak_size = size_;
  std::fill(timeline_.begin(), timeline_.end(), 0);
  if (!timeline_.empty()) timeline_[0] = size_;
  measure_start_ = at;
  bucket_ = 0;
  measuring_ = true;
}

void PoolTracker::advance(Clock::time_point now) noexcept {
  if (!measuring_ || timeline_.empty() || now < measure_start_) return;
  const auto second = static_cast<size_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - measure_start_).count());
  const size_t b = std::min(second, timeline_.size() - 1);
  // The seconds since the last change held the size it left.
  for (; bucket_ < b; ++bucket_) timeline_[bucket_ + 1] = size_;
}

void PoolTracker::opened(Clock::time_point now) noexcept {
  advance(now);
  ++size_;
  if (!measuring_) return;
  ++stats_.created;
  stats_.peak_size = std::max(stats_.peak_size, size_);
  if (!timeline_.empty()) timeline_[bucket_] = std::max(timeline_[bucket_], size_);
}

void PoolTracker::closed(Clock::time_point now) noexcept {
  advance(now);
  if (size_ > 0) --size_;
  if (measuring_) ++stats_.closed;
}

PoolStats PoolTracker::finish(Clock::time_point end) {
  if (!measuring_) {
    PoolStats none;
    none.preconnected = stats_.preconnected;
    none.max = max_;
    return none;
  }
  advance(end);
  PoolStats out = stats_;
  out.final_size = size_;
  out.max = max_;
  // Seconds after `end` (a run stopped early) were never reached.
  const auto seconds =
      static_cast<size_t>(
          std::chrono::duration_cast<std::chrono::seconds>(end - measure_start_).count()) +
      1;
  out.size_timeline.assign(
      timeline_.begin(),
      timeline_.begin() + static_cast<std::ptrdiff_t>(std::min(seconds, timeline_.size())));
  return out;
}

}  // namespace servelab::pool
