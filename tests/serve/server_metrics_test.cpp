#include "serve/server_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/prometheus_text.h"

namespace servelab::serve {
namespace {

using namespace std::chrono_literals;

TEST(ServerMetrics, ConcurrentUpdatesFromManyThreadsAddUp) {
  ServerMetrics metrics({"a", "b"}, /*shards=*/4);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.request_started();
        metrics.record_inference(static_cast<size_t>(t % 2), 3, 200us);
        metrics.request_finished(Route::infer, 200);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(metrics.requests(Route::infer, 200), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(metrics.in_flight(), 0);
  EXPECT_EQ(metrics.inference_requests(0) + metrics.inference_requests(1),
            uint64_t{kThreads * kPerThread});
  EXPECT_EQ(metrics.inference_rows(0), uint64_t{3 * kPerThread * kThreads / 2});
}

TEST(ServerMetrics, DurationHistogramIsCumulativeWithPrometheusBounds) {
  ServerMetrics metrics({"m"});
  metrics.record_inference(0, 1, 50us);   // <= 0.0001
  metrics.record_inference(0, 1, 100us);  // le is inclusive: still <= 0.0001
  metrics.record_inference(0, 1, 3ms);    // <= 0.005
  metrics.record_inference(0, 1, 20s);    // only +Inf
  const auto m = parse_prometheus_text(metrics.render());
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_bucket{model="m",le="0.0001"})"), 2);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_bucket{model="m",le="0.0025"})"), 2);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_bucket{model="m",le="0.005"})"), 3);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_bucket{model="m",le="10"})"), 3);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_bucket{model="m",le="+Inf"})"), 4);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_count{model="m"})"), 4);
  EXPECT_NEAR(m.at(R"(servelab_inference_duration_seconds_sum{model="m"})"), 20.00315, 1e-9);
}

TEST(ServerMetrics, OutOfRangeStatusCountsAs500) {
  ServerMetrics metrics({});
  metrics.request_started();
  metrics.request_finished(Route::other, 42);
  EXPECT_EQ(metrics.requests(Route::other, 500), 1u);
}

TEST(ServerMetrics, ConnectionSeriesFollowTheServersStats) {
  ServerMetrics metrics({"m"});
  http::ConnectionStats stats;
  stats.opened = 5;
  stats.closed = 3;
  stats.idle_timeouts = 2;
  stats.rejected = 1;
  metrics.set_connection_stats(&stats);
  const auto m = parse_prometheus_text(metrics.render());
  EXPECT_EQ(m.at("servelab_connections_opened_total"), 5);
  EXPECT_EQ(m.at("servelab_connections_closed_total"), 3);
  EXPECT_EQ(m.at("servelab_connections_active"), 2);
  EXPECT_EQ(m.at("servelab_connection_idle_timeouts_total"), 2);
  EXPECT_EQ(m.at("servelab_http_rejected_total"), 1);
}

TEST(ServerMetrics, ModelNamesAreEscapedInLabels) {
  ServerMetrics metrics({"we\"ird\\name"});
  metrics.set_model_ready(0, true);
  const std::string text = metrics.render();
  EXPECT_NE(text.find(R"(servelab_model_ready{model="we\"ird\\name"} 1)"), std::string::npos)
      << text;
  EXPECT_EQ(parse_prometheus_text(text).at(R"(servelab_model_ready{model="we\"ird\\name"})"), 1);
}

}  // namespace
}  // namespace servelab::serve
