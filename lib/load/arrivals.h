#pragma once
// Open-loop arrival schedule of one worker thread: the intended send times,
// constant-rate or Poisson, generated on demand and deterministic from a
// seed. The engine keeps no queue of pending arrivals: the next arrival not
// yet started is peek(); everything due before `now` and not started is
// "pending".
//
// Arrivals are placed in "count space": the u-th arrival is due when the
// schedule's integrated rate reaches u (StageSchedule::time_of). Constant
// arrivals are at u = offset, offset+1, ...; Poisson arrivals at u += Exp(1)
// (time rescaling), so both follow a ramping rate exactly.

#include <chrono>
#include <cstdint>

#include "load/stage_schedule.h"

namespace servelab::load {

class Arrivals {
 public:
  using Clock = std::chrono::steady_clock;

  // rate: arrivals per second for this schedule (> 0). Constant: the k-th
  // arrival is at first + k/rate. Poisson: exponential gaps with mean 1/rate,
  // the first gap drawn from `first`.
  Arrivals(Clock::time_point first, double rate, bool poisson, uint64_t seed);
  // A ramping rate. `offset` (in arrivals, [0, 1)) shifts a constant
  // schedule so that several threads' schedules interleave.
  Arrivals(Clock::time_point first, const StageSchedule& schedule, bool poisson, uint64_t seed,
           double offset = 0);

  // Clock::time_point::max() once the schedule's rate stays at 0.
  Clock::time_point peek() const noexcept { return next_; }
  void advance() noexcept;
  // Number of arrivals in [peek(), limit), consuming them.
  uint64_t drain_before(Clock::time_point limit) noexcept;

 private:
  void place() noexcept;  // next_ from u_

  Clock::time_point first_;
  Clock::time_point next_;
  StageSchedule schedule_;
  bool poisson_;
  double u_ = 0;  // integrated-rate position of next_
  uint64_t rng_;
};

// splitmix64 step: small, fast, deterministic across standard libraries.
inline uint64_t splitmix64(uint64_t& state) noexcept {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform double in [0, 1) from 53 random bits.
inline double uniform01(uint64_t& state) noexcept {
  return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
}

}  // namespace servelab::load
