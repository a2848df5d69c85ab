#include "load/arrivals.h"

#include <cmath>

namespace servelab::load {
namespace {

std::chrono::nanoseconds ns(double v) {
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(v)));
}

}  // namespace

Arrivals::Arrivals(Clock::time_point first, double rate, bool poisson, uint64_t seed)
    : first_(first), next_(first), interval_ns_(1e9 / rate), poisson_(poisson), rng_(seed) {
  if (poisson_) {
    next_ = first_;
    advance();
  }
}

void Arrivals::advance() noexcept {
  if (poisson_) {
    // Exponential gap by inversion; 1 - u is in (0, 1], so log() is finite.
    next_ += ns(-std::log(1.0 - uniform01(rng_)) * interval_ns_);
  } else {
    // From `first_` each time, so rounding never accumulates.
    ++k_;
    next_ = first_ + ns(static_cast<double>(k_) * interval_ns_);
  }
}

uint64_t Arrivals::drain_before(Clock::time_point limit) noexcept {
  if (next_ >= limit) return 0;
  if (!poisson_) {
    const double span = static_cast<double>((limit - first_).count());
    // Arrivals with index < ceil(span / interval) are before `limit`.
    const auto end_k = static_cast<uint64_t>(std::ceil(span / interval_ns_));
    uint64_t n = end_k > k_ ? end_k - k_ : 0;
    k_ += n;
    next_ = first_ + ns(static_cast<double>(k_) * interval_ns_);
    while (next_ < limit) {  // rounding at the edge
      ++n;
      advance();
    }
    return n;
  }
  uint64_t n = 0;
  while (next_ < limit) {
    ++n;
    advance();
  }
  return n;
}

}  // namespace servelab::load
