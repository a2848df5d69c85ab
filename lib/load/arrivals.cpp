#include "load/arrivals.h"

#include <cmath>

namespace servelab::load {

Arrivals::Arrivals(Clock::time_point first, double rate, bool poisson, uint64_t seed)
    : Arrivals(first, StageSchedule(rate), poisson, seed) {}

Arrivals::Arrivals(Clock::time_point first, const StageSchedule& schedule, bool poisson,
                   uint64_t seed, double offset)
    : first_(first), next_(first), schedule_(schedule), poisson_(poisson), u_(offset), rng_(seed) {
  if (poisson_) {
    u_ = 0;
    advance();
  } else {
    place();
  }
}

void Arrivals::place() noexcept {
  const auto at = schedule_.time_of(u_);
  // Every time is computed from `first_`, so rounding never accumulates.
  next_ = at == StageSchedule::Nanos::max()
              ? Clock::time_point::max()
              : first_ + std::chrono::duration_cast<Clock::duration>(at);
}

void Arrivals::advance() noexcept {
  // Exponential gap by inversion; 1 - u is in (0, 1], so log() is finite.
  u_ += poisson_ ? -std::log(1.0 - uniform01(rng_)) : 1.0;
  place();
}

uint64_t Arrivals::drain_before(Clock::time_point limit) noexcept {
  if (next_ >= limit) return 0;
  uint64_t n = 0;
  if (!poisson_) {
    // Arrivals with u < integral(limit) are before `limit`: skip them at once.
    const double due = schedule_.integral_to(limit - first_);
    const double skip = std::ceil(due - u_) - 1;
    if (skip > 0) {
      u_ += skip;
      n += static_cast<uint64_t>(skip);
      place();
    }
  }
  while (next_ < limit) {  // Poisson, and rounding at the edge
    ++n;
    advance();
  }
  return n;
}

}  // namespace servelab::load
