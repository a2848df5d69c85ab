#include "load/arrivals.h"

#include <gtest/gtest.h>

namespace servelab::load {
namespace {

using namespace std::chrono_literals;
using Clock = Arrivals::Clock;

TEST(Arrivals, ConstantScheduleIsEvenlySpaced) {
  const Clock::time_point t0{};
  Arrivals a(t0, 1000.0, false, 1);  // every 1 ms
  EXPECT_EQ(a.peek(), t0);
  for (int k = 1; k <= 5; ++k) {
    a.advance();
    EXPECT_EQ(a.peek(), t0 + std::chrono::milliseconds(k));
  }
}

TEST(Arrivals, DrainBeforeCountsAndConsumesPendingArrivals) {
  const Clock::time_point t0{};
  Arrivals a(t0, 1000.0, false, 1);
  // Arrivals at 0, 1, ..., 9 ms are before 10 ms.
  EXPECT_EQ(a.drain_before(t0 + 10ms), 10u);
  EXPECT_EQ(a.peek(), t0 + 10ms);
  EXPECT_EQ(a.drain_before(t0 + 10ms), 0u);
  EXPECT_EQ(a.drain_before(t0 + 10500us), 1u);
}

TEST(Arrivals, PoissonHasTheRequestedMeanRateAndIsDeterministic) {
  const Clock::time_point t0{};
  Arrivals a(t0, 1000.0, true, 42);
  Arrivals b(t0, 1000.0, true, 42);
  const uint64_t n = a.drain_before(t0 + 20s);
  // 20'000 expected; a Poisson count has sd ~141, allow ~5 sd.
  EXPECT_NEAR(static_cast<double>(n), 20'000.0, 700.0);
  EXPECT_EQ(b.drain_before(t0 + 20s), n);
  Arrivals c(t0, 1000.0, true, 43);
  EXPECT_NE(c.drain_before(t0 + 20s), n);
}

TEST(Arrivals, PoissonGapsAreNotConstant) {
  Arrivals a(Clock::time_point{}, 1000.0, true, 7);
  auto prev = a.peek();
  a.advance();
  const auto gap1 = a.peek() - prev;
  prev = a.peek();
  a.advance();
  EXPECT_NE(a.peek() - prev, gap1);
}

}  // namespace
}  // namespace servelab::load
