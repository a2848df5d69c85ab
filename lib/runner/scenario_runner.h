#pragma once
// One `servelab run`: scenario → (embedded server) → plan → engine → merged
// stats → RunRecord → result files. The runner owns the order of these steps;
// it formats nothing (the CLI prints, reports render).

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"
#include "load/engine.h"
#include "load/plan.h"
#include "report/run_record.h"
#include "scenario/scenario.h"

namespace servelab::runner {

struct RunOptions {
  std::string results_root = "results";  // results/<scenario>/<timestamp>_<toggles>/
  std::string out_dir;                   // if set, the run's files go here instead
  std::string server_executable;         // servelab-server, for target = "embedded"
  std::vector<std::string> overrides;    // --set arguments (echoed into the result)
  std::chrono::milliseconds server_ready_timeout{60'000};
};

struct RunOutcome {
  report::RunRecord record;
  std::string out_dir;      // where result.json (and the server log) were written
  std::string result_path;  // <out_dir>/result.json
};

// Called once the target is known (embedded server started), before warmup.
using StartedFn = std::function<void(const std::string& target_url)>;

// Error for anything that prevents a run (server did not start, plan could
// not be made, result could not be written). An interrupted run (`stop` set)
// is not an error: its result is written and marked partial.
Result<RunOutcome> run_scenario(const scenario::Scenario& scenario, const RunOptions& options,
                                const std::atomic<bool>& stop, const load::ProgressFn& progress,
                                const StartedFn& started = {});

// Writes a run's files into `dir`: result.json, report.md, report.csv,
// report.html, latency.hgrm (+ uncorrected.hgrm in open loop), atomically.
Status write_run_files(const std::string& dir, const report::RunRecord& record);

// Every scenario threshold parses (report/threshold.h); the error names the
// file, the expression and the column. Call before starting a run.
Status check_thresholds(const scenario::Scenario& scenario);

// UTC "YYYYmmdd-HHMMSS", as in run folder names.
std::string matrix_timestamp();

// The repository an embedded run uses: scenario.server.model_repository, or
// <results_root>/.models/<shape of the models> (made with models::make_repository
// when missing, so repeated runs reuse it).
Result<std::string> ensure_model_repository(const scenario::Scenario& scenario,
                                            const std::string& results_root);

// The plan of `s` against a live target: each infer model's input fetched
// from its metadata (runner/model_metadata.h), then load::make_plan.
Result<load::Plan> plan_run(const scenario::Scenario& s, const std::string& base_url);

// Scrapes a Prometheus /metrics endpoint into name{labels} → value; empty map
// when the target has none (a status other than 200). Error when it could
// not be read: transport failure, over kScrapeTimeout, or a body over
// kMaxReplyBytes (runner/http_get.h; the read stops there).
inline constexpr std::chrono::milliseconds kScrapeTimeout{2000};
Result<std::map<std::string, double>> read_metrics(const std::string& base_url);
// read_metrics, with an empty map for any error (tests, probes).
std::map<std::string, double> scrape_metrics(const std::string& base_url);

// Whether the run scrapes `s`'s target: [server] scrape_metrics, where
// "auto" means the embedded server only (a foreign target gets no traffic
// beyond the scenario's unless asked for).
bool scrapes_metrics(const scenario::Scenario& s);

// True when the target answered at least one request of the measured phase
// with an HTTP response (any status).
bool target_answered(const load::RunStats& stats);

}  // namespace servelab::runner
