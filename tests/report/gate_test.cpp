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
  o.baseline = &r;
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
