#include "runner/matrix_runner.h"

#include <gtest/gtest.h>

#include "report/ablation.h"
#include "report/matrix_file.h"
#include "report/summary.h"
#include "report_fixture.h"

namespace servelab::runner {
namespace {

std::vector<std::string> labels(const std::vector<scenario::Toggles>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(report::toggles_label(t));
  return out;
}

TEST(MatrixCombinations, OneAtATimeIsAllOffEachAloneAllOn) {
  scenario::Toggles base;
  auto c = matrix_combinations(base, {"pooling", "batching", "streaming", "async_loading"}, MatrixMode::one_at_a_time);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(labels(*c), (std::vector<std::string>{"all-off", "pooling", "batching", "streaming", "async_loading",
                                                  "pooling+batching+streaming+async_loading"}));
}

TEST(MatrixCombinations, OneToggleGivesTwoRunsWithoutDuplicates) {
  auto c = matrix_combinations({}, {"pooling"}, MatrixMode::one_at_a_time);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(labels(*c), (std::vector<std::string>{"all-off", "pooling"}));
}

TEST(MatrixCombinations, FullIsAllTwoToTheN) {
  scenario::Toggles base;
  base.async_loading = true;  // not varied: kept from the scenario
  auto c = matrix_combinations(base, {"pooling", "batching", "streaming"}, MatrixMode::full);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 8u);
  EXPECT_EQ(report::toggles_label(c->front()), "async_loading");
  EXPECT_EQ(report::toggles_label(c->back()), "pooling+batching+streaming+async_loading");
  for (const auto& t : *c) EXPECT_TRUE(t.async_loading);
}

TEST(MatrixCombinations, UnknownToggleListsTheValidOnes) {
  auto c = matrix_combinations({}, {"pooling", "caching"}, MatrixMode::one_at_a_time);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("\"caching\""), std::string::npos);
  EXPECT_NE(c.error().message.find("async_loading"), std::string::npos);
}

TEST(Ablation, RepeatsGiveMedianAndSpreadAndChangeAgainstAllOff) {
  report::RunRecord a = report::testing::golden_record();
  a.scenario.toggles = {};
  a.scenario.toggles.pooling = false;
  report::RunRecord slow = a, fast = a, on = a;
  slow.stats.measured = a.stats.measured * 2;  // half the rps
  on.scenario.toggles.pooling = true;
  const std::vector<report::RunRecord> runs{a, slow, fast, on};
  const auto t = report::make_ablation(runs);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.baseline, 0);
  EXPECT_EQ(t.rows[0].runs, 3);
  EXPECT_DOUBLE_EQ(t.rows[0].median.rps, a.stats.rps());
  EXPECT_DOUBLE_EQ(t.rows[0].low.rps, slow.stats.rps());
  EXPECT_EQ(report::change_text(t.rows[1].median.rps, t.rows[0].median.rps), "+0.0%");
  EXPECT_EQ(report::spread_text(t.rows[0].median.rps, t.rows[0].low.rps, t.rows[0].high.rps, 3), "±25.0%");
}

TEST(MatrixFile, RoundTripsResultsAndFailures) {
  report::MatrixFile m;
  m.scenario = "baseline";
  m.mode = "full";
  m.repeat = 2;
  m.results = {"../a/result.json"};
  m.failed = {{"batching", "server did not start"}};
  auto back = report::parse_matrix_json(report::to_json_text(m));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->results, m.results);
  ASSERT_EQ(back->failed.size(), 1u);
  EXPECT_EQ(back->failed[0].error, "server did not start");
  EXPECT_EQ(back->repeat, 2);
}

}  // namespace
}  // namespace servelab::runner
