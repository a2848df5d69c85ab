// The native engine (load.engine = "native") against a real servelab-server
// process: its counts must match the server's /metrics, and match what the
// libcurl engine reports for the same schedule.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>

#include "fixture.h"
#include "load/engine.h"
#include "load/plan.h"
#include "runner/scenario_runner.h"
#include "support/wait_until.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;

const std::string kInferSeries = "servelab_inference_requests_total{model=\"mlp-0\"}";
const std::string kConnSeries = "servelab_connections_opened_total";
const std::string kInFlightSeries = "servelab_http_requests_in_flight";

size_t idx(load::ErrorClass c) { return static_cast<size_t>(c); }

struct Measured {
  load::RunStats stats;
  double server_infers = 0;
  double server_connections = 0;
  double infers_before = 0;  // the server's inference count before the run
};

Measured run_with(const runner::ServerProcess& server, scenario::Scenario s,
                  scenario::EngineKind engine) {
  s.load.engine = engine;
  MeasuredRun r = run_measured(server, s);
  return Measured{std::move(r.stats), r.delta(kInferSeries), r.delta(kConnSeries),
                  metric(r.before, kInferSeries)};
}

TEST(NativeEngine, ClosedLoopCountsMatchServerMetrics) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  const Measured m =
      run_with(server, infer_scenario(server.base_url(), 1000ms, 8), scenario::EngineKind::native);
  const auto& c = m.stats.counters;
  EXPECT_EQ(m.stats.engine, "native");
  EXPECT_GT(c.requests, 100u);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_EQ(c.ok, c.requests);
  EXPECT_EQ(m.stats.latency.count(), c.requests);
  EXPECT_GE(m.server_infers, static_cast<double>(c.requests));
  EXPECT_LE(m.server_infers, static_cast<double>(c.requests + c.unfinished));
  EXPECT_EQ(c.unfinished, 8u);  // closed loop: every connection is busy at the end
  EXPECT_EQ(c.connections_opened, 8u);
  EXPECT_LE(m.server_connections, 8.0 + 1.0);  // +1: the metrics scrape's own connection
  EXPECT_GT(c.bytes_in, c.requests * 100);     // status line, headers and a JSON body each
  EXPECT_GT(c.bytes_out, c.requests * 100);
  EXPECT_TRUE(server.stop().clean);
}

TEST(NativeEngine, OpenLoopCountsMatchServerMetrics) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  auto s = infer_scenario(server.base_url(), 1000ms, 16);
  s.load.mode = scenario::LoadMode::open;
  s.load.rate = 400;
  const Measured m = run_with(server, s, scenario::EngineKind::native);
  const auto& c = m.stats.counters;
  EXPECT_EQ(c.requests + c.unfinished, 400u);  // the constant schedule, exactly
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_GE(m.server_infers, static_cast<double>(c.requests));
  EXPECT_LE(m.server_infers, static_cast<double>(c.requests + c.unfinished));
  EXPECT_TRUE(server.stop().clean);
}

TEST(NativeEngine, PoolingOffOpensOneConnectionPerRequest) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  auto s = infer_scenario(server.base_url(), 500ms, 4);
  s.toggles.pooling = false;
  const Measured m = run_with(server, s, scenario::EngineKind::native);
  const auto& c = m.stats.counters;
  EXPECT_GT(c.requests, 20u);
  EXPECT_EQ(c.error_total(), 0u);
  // One per completed request, plus the ones of the requests in flight at the end.
  EXPECT_GE(c.connections_opened, c.requests);
  EXPECT_GE(m.server_connections, static_cast<double>(c.requests));
  EXPECT_LE(m.server_connections, static_cast<double>(c.requests + c.unfinished + 1));
  EXPECT_EQ(m.stats.connection_reuse_rate(), 0.0);
  EXPECT_TRUE(server.stop().clean);
}

// Waits (up to 10 s) until the server handles no request but the scrape
// itself, and returns its metrics then; empty when it never got there.
std::map<std::string, double> scrape_when_idle(const runner::ServerProcess& server) {
  std::map<std::string, double> m;
  const bool idle = wait_until(
      [&] {
        m = runner::scrape_metrics(server.base_url());
        return !m.empty() && metric(m, kInFlightSeries) <= 1.0;
      },
      10s);
  return idle ? m : std::map<std::string, double>{};
}

// The server's stall aid holds every forward pass for 300 ms once per
// 500 ms of wall time: requests waiting for it pass the 100 ms timeout.
TEST(NativeEngine, StalledServerGivesTimeoutErrorsOnBothEngines) {
  TempDir dir;
  auto server = start_server(make_models(dir), {"--stall-every", "500ms", "--stall-for", "300ms"});
  auto s = infer_scenario(server.base_url(), 800ms, 4);
  s.load.timeout = 100ms;
  for (auto engine : {scenario::EngineKind::native, scenario::EngineKind::curl}) {
    // The previous run's abandoned requests finish first: they are not this run's.
    ASSERT_FALSE(scrape_when_idle(server).empty());
    const Measured m = run_with(server, s, engine);
    const auto& c = m.stats.counters;
    EXPECT_GT(c.errors[idx(load::ErrorClass::timeout)], 0u) << m.stats.engine;
    EXPECT_EQ(c.error_total(), c.errors[idx(load::ErrorClass::timeout)]) << m.stats.engine;
    EXPECT_EQ(c.ok + c.error_total(), c.requests) << m.stats.engine;
    // Every answer the generator took as ok was an inference the server
    // computed before it answered; no more than it sent reached the server,
    // also once the server has finished the passes the client gave up on.
    EXPECT_GE(m.server_infers, static_cast<double>(c.ok)) << m.stats.engine;
    const auto idle = scrape_when_idle(server);
    ASSERT_FALSE(idle.empty()) << m.stats.engine;
    const double computed = metric(idle, kInferSeries) - m.infers_before;
    EXPECT_GE(computed, m.server_infers) << m.stats.engine;
    EXPECT_LE(computed, static_cast<double>(c.requests + c.unfinished)) << m.stats.engine;
    // A timed-out request's connection is closed and the next one opens
    // another: the server accepted no more than the generator opened
    // (pool.created also counts the connections of requests still in
    // flight at the end; +1: the after-run scrape's own connection).
    EXPECT_GT(c.connections_opened, 4u) << m.stats.engine;
    EXPECT_GE(m.stats.pool.created, c.connections_opened) << m.stats.engine;
    EXPECT_LE(m.server_connections, static_cast<double>(m.stats.pool.created) + 1.0)
        << m.stats.engine;
  }
  EXPECT_TRUE(server.stop().clean);
}

// Open loop at a rate both engines sustain: the same deterministic schedule
// gives the same number of intended sends, and the server computed what
// each engine reports.
TEST(NativeEngine, CurlAndNativeCountTheSameSchedule) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  auto s = infer_scenario(server.base_url(), 700ms, 8);
  s.load.mode = scenario::LoadMode::open;
  s.load.rate = 300;
  s.load.threads = 2;
  const Measured curl = run_with(server, s, scenario::EngineKind::curl);
  const Measured native = run_with(server, s, scenario::EngineKind::native);
  const auto& a = curl.stats.counters;
  const auto& b = native.stats.counters;
  EXPECT_EQ(a.requests + a.unfinished, b.requests + b.unfinished);
  EXPECT_EQ(a.requests + a.unfinished, 210u);
  EXPECT_EQ(a.error_total(), 0u);
  EXPECT_EQ(b.error_total(), 0u);
  // Pooling on: each engine opens at most one connection per slot (8),
  // counting those of requests still in flight at the end (pool.created),
  // and the server accepted no more (+1: the after-run scrape).
  EXPECT_GE(a.connections_opened, 1u);
  EXPECT_GE(b.connections_opened, 1u);
  EXPECT_LE(a.connections_opened, curl.stats.pool.created);
  EXPECT_LE(b.connections_opened, native.stats.pool.created);
  EXPECT_LE(curl.stats.pool.created, 8u);
  EXPECT_LE(native.stats.pool.created, 8u);
  EXPECT_LE(curl.server_connections, static_cast<double>(curl.stats.pool.created) + 1.0);
  EXPECT_LE(native.server_connections, static_cast<double>(native.stats.pool.created) + 1.0);
  EXPECT_EQ(curl.stats.mix.size(), native.stats.mix.size());
  EXPECT_GE(curl.server_infers, static_cast<double>(a.requests));
  EXPECT_LE(curl.server_infers, static_cast<double>(a.requests + a.unfinished));
  EXPECT_GE(native.server_infers, static_cast<double>(b.requests));
  EXPECT_LE(native.server_infers, static_cast<double>(b.requests + b.unfinished));
  EXPECT_TRUE(server.stop().clean);
}

}  // namespace
}  // namespace servelab::testing
