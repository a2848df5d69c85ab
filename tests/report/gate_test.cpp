#include "report/gate.h"

#include <gtest/gtest.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <sstream>

#include "report_fixture.h"

namespace servelab::report {
namespace {

using testing::golden_record;

TEST(Gate, MaxRegressionParsesListsAndRejectsUnknownMetrics) {
  auto limits = parse_max_regression("rps=5%,p99=10%");
  ASSERT_TRUE(limits.ok()) << limits.error().message;
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_EQ((*limits)[0].metric, "rps");
  EXPECT_DOUBLE_EQ((*limits)[1].allowed, 0.10);
  auto bad = parse_max_regression("rps=5%,latency=1%");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unknown metric \"latency\""), std::string::npos);
  EXPECT_FALSE(parse_max_regression("rps=5").ok());
  EXPECT_FALSE(parse_max_regression("rps=x%").ok());
}

TEST(Gate, RegressionFailsOnlyBeyondTheAllowedChange) {
  const RunRecord base = golden_record();
  RunRecord slower = base;
  // Half the throughput: the same requests over twice the time.
  slower.stats.measured = base.stats.measured * 2;
  auto rps5 = check_regression(*parse_max_regression("rps=5%")->begin(), slower, base);
  EXPECT_FALSE(rps5.pass);
  EXPECT_NEAR(rps5.value, 0.5, 1e-6);
  auto rps60 = check_regression(*parse_max_regression("rps=60%")->begin(), slower, base);
  EXPECT_TRUE(rps60.pass);
  EXPECT_TRUE(check_regression(*parse_max_regression("p99=0%")->begin(), base, base).pass);
}

// Runs whose throughput is `rps` (the golden run's requests over a scaled
// measured phase).
std::vector<RunRecord> runs_at(std::initializer_list<double> rps) {
  std::vector<RunRecord> out;
  const RunRecord base = golden_record();
  for (double target : rps) {
    RunRecord r = base;
    const uint64_t connect =
        base.stats.counters.errors[static_cast<size_t>(load::ErrorClass::connect)];
    const double seconds = static_cast<double>(base.stats.counters.requests - connect) / target;
    r.stats.measured = std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
    out.push_back(std::move(r));
  }
  return out;
}

RunSet set_of(const std::vector<RunRecord>& runs) {
  RunSet s;
  for (const RunRecord& r : runs) s.push_back(&r);
  return s;
}

TEST(Gate, AChangeInsideTheMeasuredSpreadPassesAndSaysSo) {
  const RegressionLimit rps5 = *parse_max_regression("rps=5%")->begin();
  // Medians 1000 and 900 (10% worse, beyond 5%), but the runs overlap.
  const auto base = runs_at({1000, 1100, 880});
  const auto now = runs_at({900, 1050, 850});
  const CheckResult c = check_regression(rps5, set_of(now), set_of(base));
  EXPECT_TRUE(c.pass) << c.message;
  EXPECT_NEAR(c.value, 0.10, 1e-3);
  EXPECT_NE(
      c.message.find("median 900.0 req/s of 3 runs vs baseline median 1000.0 req/s of 3 runs"),
      std::string::npos)
      << c.message;
  EXPECT_NE(c.message.find("spread: baseline 880.0 req/s to 1100.0 req/s (22.00%)"),
            std::string::npos)
      << c.message;
  EXPECT_NE(c.message.find("within the noise"), std::string::npos) << c.message;
}

TEST(Gate, AChangeBeyondTheLimitAndTheSpreadFails) {
  const RegressionLimit rps5 = *parse_max_regression("rps=5%")->begin();
  const auto base = runs_at({1000, 1010, 990});
  const auto now = runs_at({850, 860, 870});  // every run below every baseline run
  const CheckResult c = check_regression(rps5, set_of(now), set_of(base));
  EXPECT_FALSE(c.pass) << c.message;
  EXPECT_NE(c.message.find("outside the noise"), std::string::npos) << c.message;
  // Apart but within the limit: a 2% change of a very quiet measurement passes.
  const auto close = runs_at({985, 984, 983});
  EXPECT_TRUE(check_regression(rps5, set_of(close), set_of(base)).pass);
  // Latency: higher is worse, so "apart" means every run slower.
  std::vector<RunRecord> slow = base;
  for (RunRecord& r : slow)
    r.stats.latency.record_n(r.stats.latency.max() * 10, r.stats.latency.count());
  EXPECT_FALSE(
      check_regression(*parse_max_regression("p99=10%")->begin(), set_of(slow), set_of(base)).pass);
  EXPECT_TRUE(check_regression(*parse_max_regression("p99=10%")->begin(), set_of(base),
                               set_of(slow))
                  .pass);  // faster is no regression
}

TEST(Gate, AnImprovementIsWordedAsBetter) {
  const RegressionLimit rps5 = *parse_max_regression("rps=5%")->begin();
  const auto base = runs_at({1000});
  const auto now = runs_at({1095});
  const CheckResult c = check_regression(rps5, now.front(), base.front());
  EXPECT_TRUE(c.pass);
  EXPECT_LT(c.value, 0);
  EXPECT_NE(c.message.find("better by 9.50%"), std::string::npos) << c.message;
  EXPECT_EQ(c.message.find("worse by -"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("spread not measured"), std::string::npos) << c.message;
}

TEST(Gate, AMatrixBaselineGivesTheRunsOfTheResultsToggles) {
  std::vector<RunRecord> matrix = runs_at({1000, 1010, 700, 710});
  matrix[2].scenario.toggles.pooling = !matrix[0].scenario.toggles.pooling;
  matrix[3].scenario.toggles.pooling = !matrix[0].scenario.toggles.pooling;
  const auto now = runs_at({990});
  auto same = matching_baselines(set_of(now), matrix);
  ASSERT_TRUE(same.ok()) << same.error().message;
  ASSERT_EQ(same->size(), 2u);
  EXPECT_EQ((*same)[0], &matrix[0]);
  EXPECT_EQ((*same)[1], &matrix[1]);
  std::vector<RunRecord> others(matrix.begin() + 2, matrix.end());
  // One configuration: taken as given, even of other toggles.
  auto given = matching_baselines(set_of(now), others);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->size(), 2u);
  std::vector<RunRecord> two_others = others;
  two_others.push_back(others.front());
  two_others.back().scenario.toggles.batching = !two_others.back().scenario.toggles.batching;
  auto none = matching_baselines(set_of(now), two_others);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no baseline run has the results' toggles"),
            std::string::npos)
      << none.error().message;
  auto mixed = matching_baselines(set_of(matrix), matrix);
  EXPECT_FALSE(mixed.ok());
}

TEST(Gate, ThresholdsAreCheckedOnEveryRepeat) {
  const auto now = runs_at({1000, 1000, 1000});
  GateOptions o;
  o.scenario_thresholds = false;
  o.thresholds = {"rps>1"};
  auto checks = run_gate(set_of(now), o);
  ASSERT_TRUE(checks.ok());
  ASSERT_EQ(checks->size(), 3u);
  EXPECT_NE((*checks)[2].name.find("(run 3 of 3)"), std::string::npos) << (*checks)[2].name;
}

TEST(Gate, RunsScenarioAndGivenThresholdsAndNeedsABaselineForRegressions) {
  const RunRecord r = golden_record();
  GateOptions o;
  o.thresholds = {"p(99)<1us"};
  auto checks = run_gate(r, o);
  ASSERT_TRUE(checks.ok());
  ASSERT_EQ(checks->size(), r.scenario.thresholds.size() + 1);
  EXPECT_TRUE(checks->front().pass);  // the scenario's error_rate<1%
  EXPECT_FALSE(checks->back().pass);
  o.regressions = *parse_max_regression("rps=5%");
  EXPECT_FALSE(run_gate(r, o).ok());
  o.baselines = {&r};
  EXPECT_TRUE(run_gate(r, o).ok());
  o.thresholds = {"p(99)<"};
  EXPECT_FALSE(run_gate(r, o).ok());
}

TEST(Gate, JUnitXmlIsWellFormedWithOneTestcasePerCheck) {
  CheckResult ok{"p(99)<10ms", true, true, 1, 2, "p(99)<10ms: measured 1 ms"};
  CheckResult bad{"rps>5 & <\"x\">", false, true, 1, 5, "rps>5: measured 1 <limit>"};
  const std::string xml = junit_xml("base&line", {ok, bad});
  boost::property_tree::ptree tree;
  std::istringstream in(xml);
  ASSERT_NO_THROW(boost::property_tree::read_xml(in, tree)) << xml;
  const auto& suite = tree.get_child("testsuites.testsuite");
  EXPECT_EQ(suite.get<std::string>("<xmlattr>.name"), "base&line");
  EXPECT_EQ(suite.get<int>("<xmlattr>.tests"), 2);
  EXPECT_EQ(suite.get<int>("<xmlattr>.failures"), 1);
  int cases = 0, failures = 0;
  for (const auto& [name, child] : suite) {
    if (name != "testcase") continue;
    ++cases;
    if (child.get_child_optional("failure")) {
      ++failures;
      EXPECT_EQ(child.get<std::string>("<xmlattr>.name"), bad.name);
    }
  }
  EXPECT_EQ(cases, 2);
  EXPECT_EQ(failures, 1);
}

}  // namespace
}  // namespace servelab::report
