#pragma once
// Everything one run produced, as it is written to the result JSON and read
// back by reports. Built by the runner after the engine's threads joined.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "load/run_stats.h"
#include "scenario/scenario.h"

namespace servelab::report {

// Where and with what a run was measured (a figure without its conditions is
// not reported).
struct Environment {
  std::string host;
  int cores = 0;  // online CPUs
  std::string cpu_model;
  std::string kernel;
  std::string compiler;
  std::string servelab_version;
  // Of the source tree the binary was built from, captured when it was built
  // (common/build_info.h); "-dirty" with uncommitted changes, "unknown" if
  // not built from a checkout.
  std::string git_commit;
  std::string build_type;  // CMAKE_BUILD_TYPE and the C++ flags ("Release -g")
  std::string libcurl_version;
  std::string started_at;  // ISO 8601 UTC
};

struct ServerInfo {
  bool embedded = false;
  std::string url;
  std::string exit;  // "exited 0", ... (embedded only)
  bool exit_clean = true;
  // Counters from the server's /metrics: value after the run minus value
  // before it (includes warmup). Empty when the target has no /metrics.
  std::map<std::string, double> metrics_delta;
};

// A toggle that is on in the scenario but changed nothing in this run, and
// why ("not implemented yet", "server-side: not applied to a foreign
// target"). Ablation tables show these instead of silently ignoring them.
struct InertToggle {
  std::string toggle;
  std::string reason;
};

// One threshold or regression check, as evaluated (report/threshold.h).
struct CheckResult {
  std::string name;  // the expression as written: "p(99)<10ms", "regression rps<=5%"
  bool pass = false;
  bool measured = true;  // false: the metric is not in this result (the check fails)
  double value = 0;      // measured, in the check's unit (µs for latencies, fraction for rates)
  double limit = 0;
  std::string message;  // "p(99)<10ms: measured 12.345 ms, limit < 10 ms"
};

struct RunRecord {
  static constexpr int kFormatVersion = 1;
  scenario::Scenario scenario;
  std::vector<std::string> overrides;  // --set arguments, as given
  Environment environment;
  ServerInfo server;
  load::RunStats stats;
  std::vector<std::string> warnings;  // e.g. toggles that have no effect yet
  std::vector<InertToggle> inert_toggles;
  // The scenario's [thresholds], evaluated at the end of the run.
  std::vector<CheckResult> threshold_results;
};

Environment capture_environment();

}  // namespace servelab::report
