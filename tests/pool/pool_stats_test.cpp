#include "pool/pool_stats.h"

#include <gtest/gtest.h>

namespace servelab::pool {
namespace {

using namespace std::chrono_literals;
using Clock = PoolTracker::Clock;

TEST(PoolTracker, CountsBeforeTheMeasuredPhaseAreDroppedButTheSizeIsKept) {
  PoolTracker t(3);
  const auto t0 = Clock::now();
  t.opened(t0);
  t.opened(t0);
  t.preconnect_done();
  t.transfer(false);
  t.start_measuring(t0 + 1s);
  t.transfer(true);
  const PoolStats s = t.finish(t0 + 1s + 2500ms);
  EXPECT_EQ(s.preconnected, 2u);
  EXPECT_EQ(s.created, 0u);
  EXPECT_EQ(s.fresh, 0u);
  EXPECT_EQ(s.reused, 1u);
  EXPECT_EQ(s.final_size, 2u);
  EXPECT_EQ(s.peak_size, 2u);
  // Nothing changed during the run: every second shows the pre-connected size.
  EXPECT_EQ(s.size_timeline, (std::vector<uint64_t>{2, 2, 2}));
}

TEST(PoolTracker, TimelineHoldsEachSecondsPeakAndCarriesItForward) {
  PoolTracker t(5);
  const auto t0 = Clock::now();
  t.start_measuring(t0);
  t.opened(t0 + 100ms);
  t.opened(t0 + 200ms);
  t.opened(t0 + 300ms);
  t.closed(t0 + 400ms);   // second 0: peak 3, leaves 2
  t.closed(t0 + 2100ms);  // second 1 holds 2; second 2 starts at 2, leaves 1
  const PoolStats s = t.finish(t0 + 4999ms);
  EXPECT_EQ(s.size_timeline, (std::vector<uint64_t>{3, 2, 2, 1, 1}));
  EXPECT_EQ(s.created, 3u);
  EXPECT_EQ(s.closed, 2u);
  EXPECT_EQ(s.peak_size, 3u);
  EXPECT_EQ(s.final_size, 1u);
}

TEST(PoolTracker, RunStoppedEarlyHasOnlyTheSecondsReached) {
  PoolTracker t(10);
  const auto t0 = Clock::now();
  t.start_measuring(t0);
  t.opened(t0);
  EXPECT_EQ(t.finish(t0 + 1500ms).size_timeline.size(), 2u);
}

TEST(PoolTracker, NeverMeasuredGivesEmptyStats) {
  PoolTracker t(3);
  t.set_max(7);
  t.opened(Clock::now());
  const PoolStats s = t.finish(Clock::now());
  EXPECT_EQ(s.created, 0u);
  EXPECT_EQ(s.max, 7u);
  EXPECT_TRUE(s.size_timeline.empty());
}

TEST(PoolStats, ReuseRateIsReusedOverAllRequestsThatGotAConnection) {
  PoolStats s;
  EXPECT_EQ(s.reuse_rate(), 0.0);
  s.reused = 3;
  s.fresh = 1;
  EXPECT_DOUBLE_EQ(s.reuse_rate(), 0.75);
}

TEST(PoolStats, AddSumsCountersAndTimelinesOfThreads) {
  PoolStats a, b;
  a.created = 1;
  a.max = 2;
  a.size_timeline = {1, 2};
  b.created = 4;
  b.max = 3;
  b.health_checks_failed = 1;
  b.size_timeline = {3, 3, 3};
  a.add(b);
  EXPECT_EQ(a.created, 5u);
  EXPECT_EQ(a.max, 5u);
  EXPECT_EQ(a.health_checks_failed, 1u);
  EXPECT_EQ(a.size_timeline, (std::vector<uint64_t>{4, 5, 3}));
}

}  // namespace
}  // namespace servelab::pool
