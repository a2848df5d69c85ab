#include "load/recorder.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace servelab::load {
namespace {

using namespace std::chrono_literals;

Sample ok_sample(int64_t latency_us, int64_t at_us, uint32_t mix = 0) {
  Sample s;
  s.latency = std::chrono::microseconds(latency_us);
  s.uncorrected = std::chrono::microseconds(latency_us / 2);
  s.at = std::chrono::microseconds(at_us);
  s.mix_index = mix;
  s.status = 200;
  s.bytes_in = 100;
  s.bytes_out = 50;
  s.connects = 1;
  return s;
}

TEST(Recorder, ClassifiesTransferResults) {
  ErrorClass c{};
  EXPECT_FALSE(classify(CURLE_OK, 200, &c));
  EXPECT_FALSE(classify(CURLE_OK, 302, &c));
  ASSERT_TRUE(classify(CURLE_OK, 404, &c));
  EXPECT_EQ(c, ErrorClass::http_4xx);
  ASSERT_TRUE(classify(CURLE_OK, 503, &c));
  EXPECT_EQ(c, ErrorClass::http_5xx);
  ASSERT_TRUE(classify(CURLE_COULDNT_CONNECT, 0, &c));
  EXPECT_EQ(c, ErrorClass::connect);
  ASSERT_TRUE(classify(CURLE_COULDNT_RESOLVE_HOST, 0, &c));
  EXPECT_EQ(c, ErrorClass::connect);
  ASSERT_TRUE(classify(CURLE_OPERATION_TIMEDOUT, 0, &c));
  EXPECT_EQ(c, ErrorClass::timeout);
  for (CURLcode rc :
       {CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_WEIRD_SERVER_REPLY}) {
    ASSERT_TRUE(classify(rc, 0, &c));
    EXPECT_EQ(c, ErrorClass::protocol);
  }
}

TEST(Recorder, RecordsCountersStatusesAndMixEntries) {
  Recorder r(2, 2);
  r.record(ok_sample(1000, 0, 0));
  Sample err = ok_sample(2000, 10, 1);
  err.status = 500;
  err.failed = true;
  err.error = ErrorClass::http_5xx;
  r.record(err);
  Sample timeout = ok_sample(0, 20, 1);
  timeout.status = 0;
  timeout.failed = true;
  timeout.error = ErrorClass::timeout;
  r.record(timeout);

  const Counters& c = r.counters();
  EXPECT_EQ(c.requests, 3u);
  EXPECT_EQ(c.ok, 1u);
  EXPECT_EQ(c.errors[static_cast<size_t>(ErrorClass::http_5xx)], 1u);
  EXPECT_EQ(c.errors[static_cast<size_t>(ErrorClass::timeout)], 1u);
  EXPECT_EQ(c.bytes_in, 300u);
  EXPECT_EQ(c.connections_opened, 3u);
  EXPECT_EQ(r.status_count(200), 1u);
  EXPECT_EQ(r.status_count(500), 1u);
  // Transfers without a response have no latency to record.
  EXPECT_EQ(r.latency().count(), 2u);
  EXPECT_EQ(r.uncorrected().count(), 2u);
}

TEST(Recorder, ResetForgetsWarmup) {
  Recorder r(1, 1);
  r.record(ok_sample(1000, -5));
  r.count_late();
  r.reset();
  EXPECT_EQ(r.counters().requests, 0u);
  EXPECT_EQ(r.counters().late, 0u);
  EXPECT_EQ(r.latency().count(), 0u);
  EXPECT_EQ(r.status_count(200), 0u);
}

TEST(Recorder, MergeEqualsRecordingIntoOne) {
  Recorder a(2, 3), b(2, 3), one(2, 3);
  for (int i = 0; i < 100; ++i) {
    const Sample s = ok_sample(100 + i * 37, i * 25'000, static_cast<uint32_t>(i % 2));
    (i % 3 == 0 ? a : b).record(s);
    one.record(s);
  }
  a.count_late();
  one.count_late();
  b.add_unfinished(4);
  one.add_unfinished(4);
  const std::vector<std::string> names = {"x", "y"};
  auto merged = Recorder::merge({&a, &b}, names, 3s);
  auto single = Recorder::merge({&one}, names, 3s);
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(merged->latency, single->latency);
  EXPECT_EQ(merged->uncorrected, single->uncorrected);
  EXPECT_EQ(merged->counters.requests, 100u);
  EXPECT_EQ(merged->counters.late, 1u);
  EXPECT_EQ(merged->counters.unfinished, 4u);
  EXPECT_EQ(merged->status_codes.at(200), 100u);
  ASSERT_EQ(merged->mix.size(), 2u);
  EXPECT_EQ(merged->mix[0].name, "x");
  EXPECT_EQ(merged->mix[0].requests, 50u);
  EXPECT_EQ(merged->mix[1].requests, 50u);
  // Samples at 0..2.475 s fall into three one-second buckets: 40, 40, 20.
  ASSERT_EQ(merged->timeline.size(), 3u);
  EXPECT_EQ(merged->timeline[0].requests, 40u);
  EXPECT_EQ(merged->timeline[1].requests, 40u);
  EXPECT_EQ(merged->timeline[2].requests, 20u);
  EXPECT_EQ(merged->timeline[2].second, 2.0);
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(merged->timeline[s].p99_us, single->timeline[s].p99_us);
    EXPECT_GT(merged->timeline[s].max_us, 0);
  }
}

TEST(Recorder, MergeTruncatesTimelineToMeasuredLength) {
  Recorder r(1, 10);
  r.record(ok_sample(10, 500'000));
  auto stats = Recorder::merge({&r}, {"x"}, 1500ms);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->timeline.size(), 2u);
}

// A soak: six hours of one completion per second (and an error every
// 7th). The timeline must stay within its bucket bound (memory is 20 KB per
// bucket, not per second) and its totals must stay exact.
TEST(Recorder, AnHoursLongTimelineStaysBoundedAndKeepsExactTotals) {
  constexpr size_t kSeconds = 6 * 3600;
  Recorder r(1, kSeconds);
  uint64_t errors = 0;
  int64_t max_latency = 0;
  for (size_t sec = 0; sec < kSeconds; ++sec) {
    Sample s = ok_sample(static_cast<int64_t>(100 + sec % 1000),
                         static_cast<int64_t>(sec) * 1'000'000 + 500'000);
    if (sec % 7 == 0) {
      s.failed = true;
      s.error = ErrorClass::http_5xx;
      s.status = 503;
      ++errors;
    }
    max_latency = std::max(max_latency, s.latency.count());
    r.record(s);
  }
  auto stats = Recorder::merge({&r}, {"x"}, std::chrono::seconds(kSeconds));
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const auto& t = stats->timeline;
  ASSERT_FALSE(t.empty());
  EXPECT_LE(t.size(), 600u);  // Recorder::kMaxTimelineBuckets
  // Equal buckets, starting at 0, covering the whole measured phase.
  const double width = t.size() > 1 ? t[1].second - t[0].second : 1;
  EXPECT_EQ(width, 36.0);  // 21,600 s / 600 buckets
  uint64_t requests = 0, errs = 0;
  int64_t max_seen = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].second, static_cast<double>(i) * width) << i;
    requests += t[i].requests;
    errs += t[i].errors;
    max_seen = std::max(max_seen, t[i].max_us);
  }
  EXPECT_GE(t.back().second + width, static_cast<double>(kSeconds));
  EXPECT_EQ(requests, kSeconds);
  EXPECT_EQ(errs, errors);
  EXPECT_EQ(stats->counters.requests, kSeconds);
  EXPECT_EQ(max_seen, max_latency);
  EXPECT_EQ(t.front().requests, 36u);
}

TEST(Recorder, ATenMinuteTimelineKeepsOneSecondBuckets) {
  Recorder r(1, 600);
  for (int sec = 0; sec < 600; ++sec) r.record(ok_sample(100, sec * 1'000'000LL));
  auto stats = Recorder::merge({&r}, {"x"}, 600s);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->timeline.size(), 600u);
  EXPECT_EQ(stats->timeline[599].second, 599.0);
  EXPECT_EQ(stats->timeline[599].requests, 1u);
}

TEST(Recorder, MergeRejectsDifferentLayouts) {
  Recorder a(1, 2), b(2, 2);
  EXPECT_FALSE(Recorder::merge({&a, &b}, {"x"}, 1s).ok());
}

TEST(RunStats, RpsAndReuseRateFollowTheCounters) {
  RunStats s;
  EXPECT_EQ(s.rps(), 0);
  EXPECT_EQ(s.connection_reuse_rate(), 0);
  s.measured = 2s;
  s.counters.requests = 1000;
  s.counters.connections_opened = 10;
  EXPECT_DOUBLE_EQ(s.rps(), 500.0);
  EXPECT_DOUBLE_EQ(s.connection_reuse_rate(), 0.99);
  Counters more;
  more.requests = 5;
  more.errors[static_cast<size_t>(ErrorClass::connect)] = 2;
  s.counters.add(more);
  EXPECT_EQ(s.counters.requests, 1005u);
  EXPECT_EQ(s.counters.error_total(), 2u);
  EXPECT_EQ(to_string(ErrorClass::timeout), "timeout");
  EXPECT_EQ(to_string(ErrorClass::http_5xx), "http_5xx");
}

}  // namespace
}  // namespace servelab::load
