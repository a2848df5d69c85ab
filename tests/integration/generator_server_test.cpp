// The real generator engine against a real servelab-server process: counts
// must add up on both sides.

#include <gtest/gtest.h>

#include <atomic>

#include "fixture.h"
#include "load/engine.h"
#include "load/plan.h"
#include "runner/scenario_runner.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;

const std::string kInferSeries = "servelab_inference_requests_total{model=\"mlp-0\"}";
const std::string kConnSeries = "servelab_connections_opened_total";

struct Measured {
  load::RunStats stats;
  double server_infers = 0;
  double server_connections = 0;
};

Measured run_against(const runner::ServerProcess& server, const scenario::Scenario& s) {
  MeasuredRun r = run_measured(server, s);
  return Measured{std::move(r.stats), r.delta(kInferSeries), r.delta(kConnSeries)};
}

TEST(GeneratorAgainstServer, ClosedLoopCountsMatchServerMetrics) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  auto s = infer_scenario(server.base_url(), 1500ms, 8);
  const Measured m = run_against(server, s);
  const auto& c = m.stats.counters;
  EXPECT_GT(c.requests, 100u);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_EQ(c.ok, c.requests);
  EXPECT_EQ(m.stats.latency.count(), c.requests);
  EXPECT_FALSE(m.stats.partial);
  // Every completed request was computed by the server; requests in flight
  // when the measured phase ended may have been computed too, at most one
  // per connection.
  EXPECT_GE(m.server_infers, static_cast<double>(c.requests));
  EXPECT_LE(m.server_infers, static_cast<double>(c.requests + c.unfinished + 8));
  // Pooling on: at most one connection per slot, and the server saw the same.
  EXPECT_LE(c.connections_opened, 8u);
  EXPECT_GE(c.connections_opened, 1u);
  EXPECT_LE(m.server_connections, 8.0 + 1.0);  // +1: the metrics scrape's own connection
  EXPECT_GT(m.stats.connection_reuse_rate(), 0.9);
  auto exit = server.stop();
  EXPECT_TRUE(exit.clean) << exit.description;
}

TEST(GeneratorAgainstServer, OpenLoopCompletesTheScheduledRequests) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  auto s = infer_scenario(server.base_url(), 2000ms, 16);
  s.load.mode = scenario::LoadMode::open;
  s.load.rate = 300;
  const Measured m = run_against(server, s);
  const auto& c = m.stats.counters;
  // 300 req/s for 2 s: 600 intended sends; those still in flight at the end
  // are reported as unfinished, never silently dropped.
  EXPECT_NEAR(static_cast<double>(c.requests + c.unfinished), 600.0, 30.0);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_GE(m.server_infers, static_cast<double>(c.requests));
  EXPECT_LE(m.server_infers, static_cast<double>(c.requests + c.unfinished + 16));
  EXPECT_EQ(m.stats.uncorrected.count(), c.requests);
}

TEST(GeneratorAgainstServer, PoolingOffOpensOneConnectionPerRequest) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  auto s = infer_scenario(server.base_url(), 1000ms, 4);
  s.toggles.pooling = false;
  const Measured m = run_against(server, s);
  const auto& c = m.stats.counters;
  EXPECT_GT(c.requests, 50u);
  EXPECT_EQ(c.error_total(), 0u);
  // One connection per completed request, plus those of requests cut off at the end.
  EXPECT_GE(c.connections_opened, c.requests);
  EXPECT_LE(c.connections_opened, c.requests + 4);
  EXPECT_GE(m.server_connections, static_cast<double>(c.requests));
  EXPECT_LT(m.stats.connection_reuse_rate(), 0.01);
}

// The server stalls its only network thread for 200 ms once a second (a
// GC-like pause). With 2 connections, only the two requests in flight see the
// stall on the wire; the ~100 requests scheduled during it wait for a free
// connection. Measured from their intended send times (corrected) they show
// the stall; measured from their actual sends (uncorrected) they do not.
TEST(GeneratorAgainstServer, CorrectedLatencyShowsAStallThatUncorrectedHides) {
  TempDir dir;
  auto server = start_server(make_models(dir),
                             {"--threads", "1", "--stall-every", "1s", "--stall-for", "200ms"});
  auto s = infer_scenario(server.base_url(), 2500ms, 2);
  s.load.mode = scenario::LoadMode::open;
  s.load.rate = 500;
  const Measured m = run_against(server, s);
  const auto& st = m.stats;
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_GT(st.counters.late, 50u);
  EXPECT_GE(st.latency.value_at_percentile(99), 100'000) << "corrected p99 (µs) misses the stall";
  EXPECT_LT(st.uncorrected.value_at_percentile(99), 50'000) << "uncorrected p99 (µs)";
  EXPECT_GE(st.latency.max(), 150'000);
}

}  // namespace
}  // namespace servelab::testing
