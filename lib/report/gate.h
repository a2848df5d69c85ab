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

// Runs of one configuration (the repeats of a run, or a single run): the
// regression check compares their medians and their spread.
using RunSet = std::vector<const RunRecord*>;

// A regression fails when the candidates' median is worse than the
// baselines' median by more than `limit.allowed` AND, when either side has
// several runs, the two sets do not overlap: every candidate run is worse
// than every baseline run (the max-min band test; with 3 runs a side, two
// sets of one configuration fall apart that way by chance 1 time in 20, and
// the limit must be exceeded too). A change inside the measured spread
// passes, and the message says so. One run a side: the limit alone decides
// (the spread is not measured, and the message says that too).
CheckResult check_regression(const RegressionLimit& limit, const RunSet& results,
                             const RunSet& baselines);
CheckResult check_regression(const RegressionLimit& limit, const RunRecord& result,
                             const RunRecord& baseline);

struct GateOptions {
  std::vector<std::string> thresholds;  // in addition to the scenario's own
  bool scenario_thresholds = true;      // evaluate the result's scenario [thresholds] too
  std::vector<RegressionLimit> regressions;
  RunSet baselines;  // required when regressions is not empty
};

// Every check, in order: scenario thresholds, given thresholds (on each
// result; named "... (run i of N)" when there are several), regressions. An
// error only for a bad expression or a missing baseline.
Result<std::vector<CheckResult>> run_gate(const RunSet& results, const GateOptions& options);
Result<std::vector<CheckResult>> run_gate(const RunRecord& result, const GateOptions& options);

// The runs of `baselines` to compare `results` with: all of them when they
// measured one configuration; of several (a whole matrix), those with the
// results' toggles. Errors: results of several configurations, or a matrix
// with no run of theirs (naming the configurations it has).
Result<RunSet> matching_baselines(const RunSet& results, const std::vector<RunRecord>& baselines);

// <testsuites><testsuite name=...><testcase name=... classname=...>[<failure .../>]
std::string junit_xml(std::string_view suite, const std::vector<CheckResult>& checks);
// The checks as a Markdown table (verdict, check, what was measured), for a CI
// job summary ($GITHUB_STEP_SUMMARY).
std::string gate_markdown(std::string_view suite, const std::vector<CheckResult>& checks);

// &, <, >, " and ' as entities (XML/HTML text and attribute values).
std::string xml_escape(std::string_view text);

}  // namespace servelab::report
