#pragma once
// A load level over time, piecewise linear (k6's ramping executors): the
// starting level is held for `hold` (the warmup), then each stage ramps
// linearly to its target; after the last stage the last target is held.
// Open loop uses the level as an arrival rate and needs its integral (how
// many arrivals are due by t) and the inverse of that integral (when the
// u-th arrival is due); closed loop uses the level as a connection count.
// Everything is computed from a small precomputed segment table: no
// allocation after construction.

#include <chrono>
#include <cstddef>
#include <vector>

#include "scenario/scenario.h"

namespace servelab::load {

class StageSchedule {
 public:
  using Nanos = std::chrono::nanoseconds;

  // A constant level forever.
  explicit StageSchedule(double level = 0);
  // `start` held for `hold`, then the stages' targets (rate or connections
  // as picked by `mode`), each multiplied by `scale` (a thread's share).
  StageSchedule(double start, Nanos hold, const std::vector<scenario::Stage>& stages,
                scenario::LoadMode mode, double scale);

  // Level at t (since the schedule's start).
  double level_at(Nanos t) const noexcept;
  // Integral of the level (per second) over [0, t]: arrivals due by t.
  double integral_to(Nanos t) const noexcept;
  // Earliest t with integral_to(t) >= u, or Nanos::max() if the level stays
  // 0 from there on. Calls must not go backwards in u (a cursor remembers
  // the segment), which is how an arrival schedule consumes it.
  Nanos time_of(double u) noexcept;
  bool staged() const noexcept { return segments_.size() > 1; }

 private:
  struct Segment {
    double t0 = 0;      // start, ns since the schedule's start
    double length = 0;  // ns; the last segment is infinite
    double from = 0;    // level at t0 (per second)
    double to = 0;      // level at t0 + length
    double count0 = 0;  // integral up to t0
  };
  const Segment& segment_at(double t) const noexcept;

  std::vector<Segment> segments_;
  size_t cursor_ = 0;  // time_of: the segment of the last answer
};

}  // namespace servelab::load
