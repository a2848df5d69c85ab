#pragma once
// Subcommands of `servelab`. Each one parses its flags into an options struct
// and calls into lib/; only this layer prints.

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "scenario/one_liner.h"
#include "scenario/scenario.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace servelab::cli {

// Exit codes (README "Exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitThresholds = 1;     // a threshold or regression check failed
inline constexpr int kExitUsage = 2;          // bad flags or a bad scenario/config
inline constexpr int kExitRunFailed = 3;      // the run itself failed (server did not start, ...)
inline constexpr int kExitInterrupted = 130;  // SIGINT/SIGTERM: partial result written

class Commands {
 public:
  void add_to(CLI::App& app);
  int exit_code() const { return exit_code_; }

 private:
  struct RunArgs {
    std::string scenario;
    std::vector<std::string> sets;
    std::string out_dir;
    std::string results_root = "results";
    bool quiet = false;
    bool json = false;        // print the result JSON on stdout
    bool print_path = false;  // print the result.json path on stdout
    bool latency = false;     // print the percentile spectrum (wrk2's --latency)
    // The one-liner (`run URL`, scenario/one_liner.h): its flags, and
    // whether any was given (they make no sense with a scenario file).
    scenario::OneLiner url;
    std::string body_arg;  // --body TEXT or @FILE
    bool print_scenario = false;
    std::vector<CLI::Option*> url_flags;
  } run_;
  struct MatrixArgs {
    std::string scenario;
    std::vector<std::string> sets;
    std::string toggles;  // comma-separated; empty: every toggle (set in add_to from the table)
    std::string mode = "one-at-a-time";
    int repeat = 1;
    std::string out_dir;
    std::string results_root = "results";
    bool quiet = false;
  } matrix_;
  struct ReportArgs {
    std::vector<std::string> results;
    std::string format = "md";
    std::string out;
  } report_;
  struct CompareArgs {
    std::string a, b;
    std::string out;
  } compare_;
  struct GateArgs {
    std::vector<std::string> results;    // result.json files: one run, or repeats of one
    std::vector<std::string> baselines;  // result.json or matrix.json files
    std::vector<std::string> thresholds;
    std::string max_regression;
    std::string junit;
    bool no_scenario_thresholds = false;
  } gate_;
  struct ValidateArgs {
    std::vector<std::string> files;
    std::vector<std::string> sets;
  } validate_;
  struct ModelsMakeArgs {
    std::string dir;
    int count = 1;
    std::string dims = "256,256,256";
    uint64_t seed = 42;
    std::string prefix;  // empty: the kind's name
    std::string kind = "mlp";
    int hidden = 512;
    // model.toml keys for the model manager (unset: the key is not written).
    std::string preload;
    std::optional<int> priority;
    std::vector<std::string> depends_on;
    std::string load_timeout;
  } make_;
  int exit_code_ = kExitOk;

  Result<scenario::Scenario> run_scenario_argument(std::string* toml_out);
  int run_command();
  int validate_command();
  int models_make_command();
  int matrix_command();
  int report_command();
  int compare_command();
  int gate_command();
};

}  // namespace servelab::cli
