#pragma once
// The CI gate: thresholds (absolute, threshold.h) and regressions against a
// baseline result (relative), each a CheckResult; JUnit XML for CI systems.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "report/run_record.h"

namespace servelab::report {

// One "--max-regression" entry: metric may get worse by at most `allowed`
// (a fraction of the baseline; for error_rate an absolute increase).
struct RegressionLimit {
  std::string metric;  // rps, p50, p90, p99, p99.9, max, mean, error_rate
  double allowed = 0;
  std::string text;  // "p99=10%"
};

// "rps=5%,p99=10%"; errors name the bad entry and the valid metrics.
Result<std::vector<RegressionLimit>> parse_max_regression(std::string_view text);

CheckResult check_regression(const RegressionLimit& limit, const RunRecord& result,
                             const RunRecord& baseline);

struct GateOptions {
  std::vector<std::string> thresholds;  // in addition to the scenario's own
  bool scenario_thresholds = true;      // evaluate the result's scenario [thresholds] too
  std::vector<RegressionLimit> regressions;
  const RunRecord* baseline = nullptr;  // required when regressions is not empty
};

// Every check, in order: scenario thresholds, given thresholds, regressions.
// An error only for a bad expression or a missing baseline.
Result<std::vector<CheckResult>> run_gate(const RunRecord& result, const GateOptions& options);

// <testsuites><testsuite name=...><testcase name=... classname=...>[<failure .../>]
std::string junit_xml(std::string_view suite, const std::vector<CheckResult>& checks);
// The checks as a Markdown table (verdict, check, what was measured), for a CI
// job summary ($GITHUB_STEP_SUMMARY).
std::string gate_markdown(std::string_view suite, const std::vector<CheckResult>& checks);

// &, <, >, " and ' as entities (XML/HTML text and attribute values).
std::string xml_escape(std::string_view text);

}  // namespace servelab::report
