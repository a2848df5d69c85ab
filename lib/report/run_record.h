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
  int cores = 0;              // online CPUs
  std::string cpu_model;
  std::string kernel;
  std::string compiler;
  std::string servelab_version;
  std::string git_commit;     // of the source tree the binary was built from; "unknown" if not a checkout
  std::string libcurl_version;
  std::string started_at;     // ISO 8601 UTC
};

struct ServerInfo {
  bool embedded = false;
  std::string url;
  std::string exit;           // "exited 0", ... (embedded only)
  bool exit_clean = true;
  // Counters from the server's /metrics: value after the run minus value
  // before it (includes warmup). Empty when the target has no /metrics.
  std::map<std::string, double> metrics_delta;
};

struct RunRecord {
  static constexpr int kFormatVersion = 1;
  scenario::Scenario scenario;
  std::vector<std::string> overrides;  // --set arguments, as given
  Environment environment;
  ServerInfo server;
  load::RunStats stats;
  std::vector<std::string> warnings;   // e.g. toggles that have no effect yet
};

Environment capture_environment();

}  // namespace servelab::report
