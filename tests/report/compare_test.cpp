// `servelab compare`: the figures of both sides, the change and the noise
// for known inputs (report/compare.h).
#include "report/compare.h"

#include <gtest/gtest.h>

#include "report_fixture.h"

namespace servelab::report {
namespace {

using testing::golden_record;

// The golden run (5755 requests, 1 s measured) measured over `seconds`
// instead: same latencies, rps = 5755 / seconds.
RunRecord over(double seconds) {
  RunRecord r = golden_record();
  r.stats.measured = std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  return r;
}

TEST(Compare, TwoSingleRunsShowBothFiguresAndTheChangeWithoutNoise) {
  const std::string md = compare_markdown({over(1.0)}, {over(0.5)}, "a.json", "b.json");
  EXPECT_EQ(md.substr(0, md.find("| p90 ms")),
            "# servelab compare\n\nA: `a.json`  \nB: `b.json`\n\n"
            "## streaming\n\n"
            "| metric | A (1 run) | B (1 run) | change | noise | verdict |\n"
            "|---|---:|---:|---:|---:|---|\n"
            "| req/s | 5755.0 | 11510.0 | +100.0% | n/a (1 run) |  |\n"
            "| p50 ms | 16.271 | 16.271 | +0.0% | n/a (1 run) | same |\n");
  EXPECT_NE(md.find("| p99 ms | 34.399 | 34.399 | +0.0% | n/a (1 run) | same |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| max ms | 42.470 | 42.470 | +0.0% | n/a (1 run) | same |\n"),
            std::string::npos)
      << md;
  // A zero base has no relative change.
  EXPECT_NE(md.find("| error rate % | 0.000 | 0.000 |  | n/a (1 run) | same |\n"),
            std::string::npos)
      << md;
  // The inert toggle of each side is named with its reason.
  EXPECT_NE(md.find("- A: streaming had no effect ("), std::string::npos) << md;
  EXPECT_NE(md.find("- B: streaming had no effect ("), std::string::npos) << md;
}

TEST(Compare, RepeatsGiveTheMedianAndAChangeWithinOrBeyondTheNoise) {
  // A: 5755 and 4604 req/s → median 5179.5, half-range 575.5 = ±11.1%.
  const std::vector<RunRecord> a = {over(1.0), over(1.25)};
  const std::string within = compare_markdown(a, {over(1.1)}, "a", "b");  // 5231.8 req/s: +1.0%
  EXPECT_NE(within.find("| metric | A (2 runs) | B (1 run) |"), std::string::npos) << within;
  EXPECT_NE(within.find("| req/s | 5179.5 | 5231.8 | +1.0% | ±11.1% | within noise |\n"),
            std::string::npos)
      << within;
  EXPECT_NE(within.find("| p99 ms | 34.399 | 34.399 | +0.0% | ±0.0% | same |\n"), std::string::npos)
      << within;
  const std::string beyond = compare_markdown(a, {over(0.5)}, "a", "b");  // 11510 req/s: +122.2%
  EXPECT_NE(beyond.find("| req/s | 5179.5 | 11510.0 | +122.2% | ±11.1% | beyond noise |\n"),
            std::string::npos)
      << beyond;
}

TEST(Compare, MatricesAreComparedPerCombinationPresentOnBothSides) {
  RunRecord off = over(1.0);
  off.scenario.toggles = {false, false, false, false};
  off.inert_toggles.clear();
  RunRecord pooling = off;
  pooling.scenario.toggles.pooling = true;
  RunRecord faster = pooling;
  faster.stats.measured = std::chrono::microseconds(800'000);  // 7193.75 req/s
  const std::string md = compare_markdown({off, pooling}, {faster}, "m1", "m2");
  EXPECT_EQ(md.find("## all-off"), std::string::npos) << "only on side A: " << md;
  EXPECT_NE(md.find("## pooling\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| req/s | 5755.0 | 7193.8 | +25.0% | n/a (1 run) |  |\n"), std::string::npos)
      << md;
  RunRecord batching = off;
  batching.scenario.toggles.batching = true;
  EXPECT_NE(compare_markdown({off, pooling}, {off, batching}, "m1", "m2").find("## all-off"),
            std::string::npos);
  EXPECT_NE(compare_markdown({off, pooling}, {batching, faster}, "m1", "m3").find("## pooling\n"),
            std::string::npos);
  const RunRecord lone = batching;
  EXPECT_NE(compare_markdown({off, pooling}, {lone, lone}, "m1", "m4")
                .find("No toggle combination appears on both sides."),
            std::string::npos);
}

}  // namespace
}  // namespace servelab::report
