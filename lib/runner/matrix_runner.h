#pragma once
// `servelab matrix`: one scenario under several toggle combinations, each
// run with a freshly started embedded server (run_scenario per run), then
// the ablation table over all of them. Bounded: every combination runs the
// scenario's own duration, `repeat` times.

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "report/ablation.h"
#include "runner/scenario_runner.h"

namespace servelab::runner {

enum class MatrixMode {
  one_at_a_time,  // all-off, each toggle alone, all-on
  full,           // all 2^n combinations
};

// Every toggle's name, in table order (common/toggles.h), and the same joined
// by `separator`.
std::vector<std::string> all_toggles();
std::string toggle_names(std::string_view separator);

struct MatrixOptions {
  std::vector<std::string> toggles = all_toggles();  // the toggles to vary
  MatrixMode mode = MatrixMode::one_at_a_time;
  int repeat = 1;  // runs per combination (median and spread in the table)
};

// The combinations to run, in table order, without duplicates. Toggles not
// in `names` keep their value from `base`. Unknown names are an error that
// lists the valid ones.
Result<std::vector<scenario::Toggles>> matrix_combinations(const scenario::Toggles& base,
                                                           const std::vector<std::string>& names,
                                                           MatrixMode mode);

struct MatrixOutcome {
  std::string dir;          // where matrix.json and the ablation.* files are
  std::string matrix_path;  // <dir>/matrix.json
  std::vector<RunOutcome> runs;
  std::vector<report::FailedRun> failed;  // combinations whose run failed
  bool interrupted = false;               // `stop` was set: later combinations were skipped
};

// Called before each run: index (0-based), total runs, the run's toggles label.
using MatrixStepFn = std::function<void(int index, int total, const std::string& label)>;

// Folders: with options.out_dir, <out_dir>/matrix.json and <out_dir>/<toggles>[_rN]/;
// otherwise results/<scenario>/<timestamp>_<toggles>[_rN]/ for each run and
// results/<scenario>/<timestamp>_matrix/ for the table. A failed run does not
// stop the matrix; an error only when nothing could be written.
Result<MatrixOutcome> run_matrix(const scenario::Scenario& scenario, const RunOptions& options,
                                 const MatrixOptions& matrix, const std::atomic<bool>& stop,
                                 const load::ProgressFn& progress, const MatrixStepFn& step = {});

}  // namespace servelab::runner
