// Every measured event gets its own clock reading: a send, a completion and
// each piece of a streamed answer are timed when they happen, not at the
// start of the worker's loop turn. Many connections against a real
// servelab-server make many events share one epoll wake-up; a latency of
// 0 µs (a completion timed before its own send's turn ended) or inter-token
// gaps that are mostly 0 show a shared time.

#include <gtest/gtest.h>

#include <string>

#include "fixture.h"
#include "load/engine.h"
#include "load/plan.h"
#include "models/repository_maker.h"
#include "runner/scenario_runner.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;

load::RunStats run_plan(const scenario::Scenario& s, const std::string& url) {
  load::RunStats out;
  auto plan = runner::plan_run(s, url);
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  if (!plan.ok()) return out;
  std::atomic<bool> stop{false};
  auto stats = load::run(*plan, stop, {});
  EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error().message);
  if (stats.ok()) out = std::move(*stats);
  return out;
}

class EventClock : public ::testing::TestWithParam<scenario::EngineKind> {};

// A loopback round trip through the server's HTTP stack and an infer takes
// tens of µs: no completion can be 0 µs after its send.
TEST_P(EventClock, NoCompletionIsTimedAtZeroLatency) {
  TempDir dir;
  auto server = start_server(make_models(dir, 1, {16, 16, 4}), {"--threads", "2"});
  scenario::Scenario s = infer_scenario(server.base_url(), 1500ms, 64);
  s.load.engine = GetParam();
  s.load.threads = 1;  // every connection on one loop: many events per wake-up
  const load::RunStats st = run_plan(s, server.base_url());
  ASSERT_GT(st.latency.count(), 1000u);
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_GT(st.latency.min(), 0) << "completions timed at their send's time";
  EXPECT_GT(st.uncorrected.min(), 0) << "completions timed at their send's time";
}

INSTANTIATE_TEST_SUITE_P(Engines, EventClock,
                         ::testing::Values(scenario::EngineKind::curl,
                                           scenario::EngineKind::native),
                         [](const auto& p) {
                           return p.param == scenario::EngineKind::curl ? "Curl" : "Native";
                         });

// Streamed completions on many connections: the server sends one token per
// event, so most gaps between tokens are real gaps, not 0.
TEST(EventClockGenerate, InterTokenGapsAreNotMostlyZero) {
  TempDir dir;
  models::MakeOptions o;
  o.kind = "tokens";
  o.prefix = "tokens";
  o.hidden = 2048;  // ~0.35 ms a token step (16 x the 512 default): tokens leave one by one
  const std::string repo = (dir.path() / "models").string();
  ASSERT_TRUE(models::make_repository(repo, o).ok());
  auto server = start_server(repo, {"--streaming", "on"});
  scenario::Scenario s;
  s.name = "event-clock-generate";
  s.target = server.base_url();
  // Small enough that rounds of answers end well inside the run even under
  // ThreadSanitizer with other tests beside it: 4 x 16 token steps a round.
  s.load.connections = 4;
  s.load.threads = 1;
  s.load.duration = 3s;
  s.load.timeout = 10s;
  s.load.engine = scenario::EngineKind::curl;
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::generate;
  r.name = "generate tokens-0";
  r.model = "tokens-0";
  r.url = "/v1/completions";
  r.prompts = {"Hello"};
  r.max_tokens = 16;
  r.stream = true;
  s.requests.push_back(r);
  const load::RunStats st = run_plan(s, server.base_url());
  const auto& itl = st.generate.itl;
  ASSERT_GT(itl.count(), 40u);
  EXPECT_GT(itl.value_at_percentile(50), 0) << "most inter-token gaps are 0 µs";
  EXPECT_GT(st.generate.ttft.min(), 0);
}

}  // namespace
}  // namespace servelab::testing
