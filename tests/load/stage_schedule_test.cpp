#include "load/stage_schedule.h"

#include <gtest/gtest.h>

#include "load/arrivals.h"

namespace servelab::load {
namespace {

using namespace std::chrono_literals;
using Nanos = StageSchedule::Nanos;

std::vector<scenario::Stage> ramp_then_hold() {
  // 0 → 1000/s over 1 s, then 1000/s for 1 s.
  return {{1s, 1000, 0}, {1s, 1000, 0}};
}

TEST(StageSchedule, LevelRampsLinearlyThenHolds) {
  StageSchedule s(0, Nanos(0), ramp_then_hold(), scenario::LoadMode::open, 1.0);
  EXPECT_DOUBLE_EQ(s.level_at(0ms), 0);
  EXPECT_DOUBLE_EQ(s.level_at(500ms), 500);
  EXPECT_DOUBLE_EQ(s.level_at(1500ms), 1000);
  EXPECT_DOUBLE_EQ(s.level_at(10s), 1000);  // the last target is held
}

TEST(StageSchedule, WarmupHoldsTheStartLevel) {
  StageSchedule s(200, Nanos(2s), {{1s, 400, 0}}, scenario::LoadMode::open, 0.5);
  EXPECT_DOUBLE_EQ(s.level_at(1s), 100);  // 200 × a thread's share of 0.5
  EXPECT_DOUBLE_EQ(s.level_at(2500ms), 150);
  EXPECT_DOUBLE_EQ(s.integral_to(2s), 200);  // 100/s for 2 s
}

TEST(StageSchedule, ClosedLoopUsesTheConnectionTargets) {
  StageSchedule s(10, Nanos(0), {{1s, 0, 50}, {1s, 0, 0}}, scenario::LoadMode::closed, 1.0);
  EXPECT_DOUBLE_EQ(s.level_at(500ms), 30);
  EXPECT_DOUBLE_EQ(s.level_at(1s), 50);
  EXPECT_DOUBLE_EQ(s.level_at(1500ms), 25);
  EXPECT_DOUBLE_EQ(s.level_at(3s), 0);
}

TEST(StageSchedule, ArrivalsPerStageMatchTheIntegratedRate) {
  const auto t0 = Arrivals::Clock::time_point{};
  Arrivals a(t0, StageSchedule(0, Nanos(0), ramp_then_hold(), scenario::LoadMode::open, 1.0), false,
             1);
  // Ramp 0 → 1000/s over 1 s: 500 arrivals; the hold: 1000 more.
  EXPECT_EQ(a.drain_before(t0 + 1s), 500u);
  EXPECT_EQ(a.drain_before(t0 + 2s), 1000u);
  // Within the ramp, arrivals thicken: the first 250 ms hold 1/16 of the ramp's.
  Arrivals b(t0, StageSchedule(0, Nanos(0), ramp_then_hold(), scenario::LoadMode::open, 1.0), false,
             1);
  EXPECT_NEAR(static_cast<double>(b.drain_before(t0 + 250ms)), 31.25, 1.0);
}

TEST(StageSchedule, PoissonArrivalsFollowAStepChangeOfRate) {
  const auto t0 = Arrivals::Clock::time_point{};
  // 1000/s for 10 s, then 5000/s for 10 s (a ramp of 1 ns is a step).
  std::vector<scenario::Stage> st = {{10s, 1000, 0}, {1us, 5000, 0}, {10s, 5000, 0}};
  Arrivals a(t0, StageSchedule(1000, Nanos(0), st, scenario::LoadMode::open, 1.0), true, 3);
  const double first = static_cast<double>(a.drain_before(t0 + 10s));
  const double second = static_cast<double>(a.drain_before(t0 + 20s + 1us));
  EXPECT_NEAR(first, 10'000, 500);  // ~5 sd of a Poisson count
  EXPECT_NEAR(second, 50'000, 1200);
}

TEST(StageSchedule, ARateThatEndsAtZeroEndsTheArrivals) {
  const auto t0 = Arrivals::Clock::time_point{};
  Arrivals a(t0, StageSchedule(100, Nanos(0), {{1s, 0, 0}}, scenario::LoadMode::open, 1.0), false,
             1);
  // The ramp 100 → 0 over 1 s integrates to 50: arrivals at u = 0, 1, ..., 50.
  EXPECT_EQ(a.drain_before(t0 + 1h), 51u);
  EXPECT_EQ(a.peek(), Arrivals::Clock::time_point::max());
}

TEST(StageSchedule, ThreadOffsetsInterleaveConstantSchedules) {
  const auto t0 = Arrivals::Clock::time_point{};
  // Two threads at 500/s each make one 1000/s stream: thread 1 starts 1 ms late.
  Arrivals t1(t0, StageSchedule(500), false, 1, 0.5);
  EXPECT_EQ(t1.peek(), t0 + 1ms);
}

}  // namespace
}  // namespace servelab::load
