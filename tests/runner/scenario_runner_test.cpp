// One `servelab run` through the runner (runner/scenario_runner.h): the
// embedded server gets the scenario's toggles, the result records what had
// no effect, thresholds are checked before the run.
#include "runner/scenario_runner.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace servelab::runner {
namespace {

using servelab::testing::TempDir;

double delta(const report::RunRecord& r, const std::string& series) {
  const auto it = r.server.metrics_delta.find(series);
  return it == r.server.metrics_delta.end() ? 0.0 : it->second;
}

// Infer requests against mlp-0 and streamed completions against tokens-0.
scenario::Scenario mixed_embedded(bool batching, bool streaming) {
  scenario::Scenario s;
  s.name = "runner-test";
  s.target = "embedded";
  s.load.connections = 4;
  s.load.duration = std::chrono::milliseconds(500);
  s.server.dims = {16, 16, 4};
  s.toggles.batching = batching;
  s.toggles.streaming = streaming;
  scenario::RequestSpec infer;
  infer.kind = scenario::RequestKind::infer;
  infer.model = "mlp-0";
  scenario::RequestSpec generate;
  generate.kind = scenario::RequestKind::generate;
  generate.model = "tokens-0";
  generate.url = "/v1/completions";
  generate.max_tokens = 4;
  generate.stream = true;
  s.requests = {infer, generate};
  return s;
}

report::RunRecord run(const TempDir& dir, const scenario::Scenario& s, const std::string& folder) {
  RunOptions o;
  o.results_root = (dir.path() / "results").string();
  o.out_dir = (dir.path() / folder).string();
  o.server_executable = std::string(SERVELAB_BINARY_DIR) + "/bin/servelab-server";
  std::atomic<bool> stop{false};
  auto outcome = run_scenario(s, o, stop, {});
  EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? "" : outcome.error().message);
  return outcome.ok() ? std::move(outcome->record) : report::RunRecord();
}

TEST(EmbeddedRun, BatchingAndStreamingTogglesReachTheServer) {
  TempDir dir("runner");
  const report::RunRecord on = run(dir, mixed_embedded(true, true), "on");
  const report::RunRecord off = run(dir, mixed_embedded(false, false), "off");
  for (const auto* r : {&on, &off}) {
    EXPECT_GT(r->stats.counters.ok, 0u);
    EXPECT_EQ(r->stats.counters.error_total(), 0u);
    EXPECT_TRUE(r->inert_toggles.empty()) << r->inert_toggles.front().toggle;
    EXPECT_TRUE(r->server.exit_clean) << r->server.exit;
  }
  // --batching on: infer requests went through the server's batcher.
  EXPECT_GT(delta(on, "servelab_batch_requests_total{model=\"mlp-0\"}"), 0) << "batching on";
  EXPECT_EQ(delta(off, "servelab_batch_requests_total{model=\"mlp-0\"}"), 0) << "batching off";
  // --streaming on: completions were written as chunks while generated;
  // off: built whole and sent with a Content-Length.
  EXPECT_GT(delta(on, "servelab_stream_chunks_total"), 0) << "streaming on";
  EXPECT_EQ(delta(off, "servelab_stream_chunks_total"), 0) << "streaming off";
  EXPECT_GT(delta(off, "servelab_completions_total"), 0);
}

TEST(EmbeddedRun, AToggleWithoutEffectIsRecordedWithAWarning) {
  TempDir dir("runner");
  scenario::Scenario s = mixed_embedded(false, true);
  s.requests.pop_back();  // infer only: streaming has nothing to act on
  const report::RunRecord r = run(dir, s, "run");
  ASSERT_EQ(r.inert_toggles.size(), 1u);
  EXPECT_EQ(r.inert_toggles[0].toggle, "streaming");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "toggle streaming = true has no effect: " + r.inert_toggles[0].reason);
}

TEST(CheckThresholds, ABadExpressionNamesTheFileAndTheColumn) {
  scenario::Scenario s;
  s.source = "x.toml";
  s.thresholds = {"rps>1", "p(99)<10"};
  auto st = check_thresholds(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("x.toml: thresholds: threshold \"p(99)<10\": column"),
            std::string::npos)
      << st.error().message;
  s.thresholds = {"rps>1", "p(99)<10ms"};
  EXPECT_TRUE(check_thresholds(s).ok());
}

}  // namespace
}  // namespace servelab::runner
