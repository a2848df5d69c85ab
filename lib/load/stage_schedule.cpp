#include "load/stage_schedule.h"

#include <cmath>
#include <limits>

namespace servelab::load {
namespace {

constexpr double kInfinite = std::numeric_limits<double>::infinity();
constexpr double kNsPerSecond = 1e9;

}  // namespace

StageSchedule::StageSchedule(double level) { segments_.push_back({0, kInfinite, level, level, 0}); }

StageSchedule::StageSchedule(double start, Nanos hold, const std::vector<scenario::Stage>& stages,
                             scenario::LoadMode mode, double scale) {
  double t = 0, count = 0, level = start * scale;
  auto add = [&](double length, double to) {
    segments_.push_back({t, length, level, to, count});
    t += length;
    count += (level + to) / 2.0 * length / kNsPerSecond;
    level = to;
  };
  if (hold.count() > 0) add(static_cast<double>(hold.count()), level);
  for (const scenario::Stage& s : stages) {
    const double target = (mode == scenario::LoadMode::open ? s.rate : s.connections) * scale;
    add(static_cast<double>(std::chrono::duration_cast<Nanos>(s.duration).count()), target);
  }
  segments_.push_back({t, kInfinite, level, level, count});
}

const StageSchedule::Segment& StageSchedule::segment_at(double t) const noexcept {
  size_t i = 0;
  while (i + 1 < segments_.size() && t >= segments_[i + 1].t0) ++i;
  return segments_[i];
}

double StageSchedule::level_at(Nanos t) const noexcept {
  const double x = static_cast<double>(t.count());
  const Segment& s = segment_at(x);
  if (std::isinf(s.length)) return s.from;
  return s.from + (s.to - s.from) * std::min(1.0, (x - s.t0) / s.length);
}

double StageSchedule::integral_to(Nanos t) const noexcept {
  const double x = static_cast<double>(t.count());
  const Segment& s = segment_at(x);
  const double dx = std::max(0.0, x - s.t0);
  const double slope = std::isinf(s.length) ? 0.0 : (s.to - s.from) / s.length;
  return s.count0 + (s.from * dx + slope * dx * dx / 2.0) / kNsPerSecond;
}

StageSchedule::Nanos StageSchedule::time_of(double u) noexcept {
  while (cursor_ + 1 < segments_.size() && u > segments_[cursor_ + 1].count0) ++cursor_;
  // A flat zero stretch has the same count0 as the next segment: move past
  // it so an arrival is never placed inside a pause.
  while (cursor_ + 1 < segments_.size() && u >= segments_[cursor_ + 1].count0 &&
         segments_[cursor_].from == 0 && segments_[cursor_].to == 0)
    ++cursor_;
  const Segment& s = segments_[cursor_];
  const double du = std::max(0.0, u - s.count0) * kNsPerSecond;  // in level·ns
  const double slope = std::isinf(s.length) ? 0.0 : (s.to - s.from) / s.length;
  double x = 0;
  if (slope == 0) {
    if (s.from <= 0) return du == 0 ? Nanos(std::llround(s.t0)) : Nanos::max();
    x = du / s.from;
  } else {
    // from·x + slope·x²/2 = du, in the form that stays exact when from = 0.
    const double root = std::sqrt(std::max(0.0, s.from * s.from + 2.0 * slope * du));
    x = (s.from + root) > 0 ? 2.0 * du / (s.from + root) : 0.0;
  }
  const double at = s.t0 + x;
  if (at >= static_cast<double>(Nanos::max().count())) return Nanos::max();
  return Nanos(std::llround(at));
}

}  // namespace servelab::load
