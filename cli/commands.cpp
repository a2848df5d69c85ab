#include "cli/commands.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "common/atomic_file.h"
#include "measure/percentile_text.h"
#include "models/repository_maker.h"
#include "report/compare.h"
#include "report/csv_report.h"
#include "report/gate.h"
#include "report/html_report.h"
#include "report/markdown_report.h"
#include "report/matrix_file.h"
#include "report/result_json.h"
#include "report/summary.h"
#include "report/threshold.h"
#include "runner/matrix_runner.h"
#include "runner/scenario_runner.h"
#include "scenario/scenario_parser.h"

namespace servelab::cli {
namespace {

// A scenario parsed and its threshold expressions checked: everything a
// user must fix before anything runs (exit 2).
Result<scenario::Scenario> checked(Result<scenario::Scenario> s) {
  if (!s) return s;
  if (auto t = runner::check_thresholds(*s); !t) return t.error();
  return s;
}

Result<scenario::Scenario> load_scenario(const std::string& path,
                                         const std::vector<std::string>& sets) {
  return checked(scenario::parse_scenario_file(path, sets));
}

std::string self_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

// SIGINT/SIGTERM are blocked in every thread and taken by one waiter thread,
// which sets the stop flag: the engine ends the run, the partial result is
// written, the embedded server is stopped.
class SignalStop {
 public:
  SignalStop() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // wakes the waiter at shutdown
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    waiter_ = std::thread([this] {
      int sig = 0;
      while (sigwait(&set_, &sig) == 0) {
        if (sig == SIGUSR1) return;
        signal_ = sig;
        stop_.store(true);
      }
    });
  }
  ~SignalStop() {
    pthread_kill(waiter_.native_handle(), SIGUSR1);
    waiter_.join();
  }
  const std::atomic<bool>& flag() const { return stop_; }
  int signal() const { return signal_; }

 private:
  sigset_t set_{};
  std::atomic<bool> stop_{false};
  std::atomic<int> signal_{0};
  std::thread waiter_;
};

// Live progress: one rewritten line on a terminal, a plain line every 5 s
// otherwise (CI logs).
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::chrono::microseconds total, bool quiet)
      : total_(total), quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0) {}
  void operator()(const load::Progress& p) {
    if (quiet_) return;
    const double t = std::chrono::duration<double>(p.elapsed).count();
    const std::string line = fmt::format(
        "{} {:5.1f}s/{:.0f}s  {:>9.1f} req/s  p99 {:>8.3f} ms  requests {}  errors {}",
        p.in_warmup ? "warmup " : "running", t, std::chrono::duration<double>(total_).count(),
        p.rps, static_cast<double>(p.p99_us) / 1000.0, p.requests, p.errors);
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      dirty_ = true;
    } else if (t >= next_plain_ || p.in_warmup != last_warmup_) {
      std::fprintf(stderr, "%s\n", line.c_str());
      next_plain_ = t + 5.0;
    }
    last_warmup_ = p.in_warmup;
  }
  void finish() {
    if (dirty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::chrono::microseconds total_;
  bool quiet_;
  bool tty_;
  bool dirty_ = false;
  bool last_warmup_ = false;
  double next_plain_ = 0;
};

// The options run and matrix share: where results go, the --set arguments
// to echo, and the servelab-server beside this executable.
runner::RunOptions run_options(const std::string& results_root, const std::string& out_dir,
                               const std::vector<std::string>& sets) {
  runner::RunOptions options;
  options.results_root = results_root;
  options.out_dir = out_dir;
  options.overrides = sets;
  options.server_executable = self_dir() + "/servelab-server";
  return options;
}

std::vector<int> parse_dims(const std::string& text) {
  std::vector<int> dims;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find_first_of(",x", pos);
    const std::string part =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    dims.push_back(std::stoi(part));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return dims;
}

// Prints every check (failed ones to stderr); true when all passed.
bool print_checks(const std::vector<report::CheckResult>& checks, bool quiet) {
  bool ok = true;
  for (const auto& c : checks) {
    ok = ok && c.pass;
    if (!c.pass)
      std::fprintf(stderr, "  FAIL %s\n", c.message.c_str());
    else if (!quiet)
      std::printf("  pass %s\n", c.message.c_str());
  }
  return ok;
}

// GitHub Actions' job summary: when $GITHUB_STEP_SUMMARY names a file, the
// Markdown is appended to it (that file's protocol is appending; other jobs'
// steps write to it too). A failure to append is said, never fatal.
void append_step_summary(const std::string& markdown) {
  const char* path = std::getenv("GITHUB_STEP_SUMMARY");
  if (path == nullptr || *path == '\0') return;
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << markdown;
  out.flush();
  if (!out)
    std::fprintf(stderr, "warning: could not append the summary to $GITHUB_STEP_SUMMARY (%s)\n",
                 path);
}

int write_output(const std::string& path, const std::string& text) {
  if (path.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  if (auto w = write_file_atomically(path, text); !w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return kExitRunFailed;
  }
  return kExitOk;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t c = text.find(',', pos);
    std::string item = text.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    if (!item.empty()) out.push_back(item);
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

}  // namespace

void Commands::add_to(CLI::App& app) {
  auto* run = app.add_subcommand("run", "Run a scenario and write its result");
  run->add_option("scenario", run_.scenario,
                  "Scenario TOML file, - for standard input, or an http(s):// URL to load "
                  "directly (wrk-style, with -c -d -R -t -H -m --body)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& arg) {
            if (arg == "-" || scenario::is_url_argument(arg)) return std::string();
            return CLI::ExistingFile(arg);
          },
          "FILE|-|URL"));
  auto url_flag = [&](CLI::Option* o) { run_.url_flags.push_back(o); };
  url_flag(run->add_option("-c,--connections", run_.url.connections,
                           "URL run: concurrent connections (default 10)")
               ->check(CLI::Range(1, 1'000'000)));
  url_flag(run->add_option("-d,--duration", run_.url.duration,
                           "URL run: measured duration (default 10s)"));
  url_flag(run->add_option("-R,--rate", run_.url.rate,
                           "URL run: open loop at this many requests/s (default: closed loop)")
               ->check(CLI::PositiveNumber));
  url_flag(run->add_option("-t,--threads", run_.url.threads, "URL run: event-loop threads")
               ->check(CLI::Range(1, 1024)));
  url_flag(run->add_option("-H,--header", run_.url.headers,
                           "URL run: request header 'Name: value' (repeatable)"));
  url_flag(run->add_option("-m,--method", run_.url.method, "URL run: HTTP method (default GET)"));
  url_flag(run->add_option("--body", run_.body_arg, "URL run: request body, or @FILE to read it"));
  url_flag(run->add_option("--timeout", run_.url.timeout, "URL run: per-request timeout"));
  url_flag(run->add_flag("--print-scenario", run_.print_scenario,
                         "URL run: print the scenario TOML it stands for, and run nothing"));
  run->add_flag("--latency", run_.latency,
                "Print the latency percentile spectrum after the summary (as wrk2 --latency)");
  run->add_option("--set", run_.sets, "Override a scenario key: --set load.connections=50")
      ->take_all();
  run->add_option("--out", run_.out_dir,
                  "Folder for this run's files (default results/<scenario>/<time>_<toggles>/)");
  run->add_option("--results", run_.results_root, "Results root folder")->capture_default_str();
  run->add_flag("--quiet,-q", run_.quiet, "No progress, only the summary");
  run->add_flag("--json", run_.json,
                "Print the result itself (result.json's text) on standard output, nothing else");
  run->add_flag("--print-path", run_.print_path,
                "Print only the result.json path on standard output (for scripts)")
      ->excludes("--json");
  run->callback([this] { exit_code_ = run_command(); });

  auto* matrix = app.add_subcommand(
      "matrix", "Run a scenario under toggle combinations and write the ablation table");
  matrix->add_option("scenario", matrix_.scenario, "Scenario TOML file")
      ->required()
      ->check(CLI::ExistingFile);
  matrix->add_option("--set", matrix_.sets, "Override a scenario key: --set load.duration=5s")
      ->take_all();
  matrix_.toggles = runner::toggle_names(",");
  matrix
      ->add_option("--toggles", matrix_.toggles,
                   "Comma-separated toggles to vary, some of " + runner::toggle_names(", "))
      ->capture_default_str();
  matrix
      ->add_option("--mode", matrix_.mode,
                   "one-at-a-time (all-off, each alone, all-on) or full (2^n)")
      ->capture_default_str()
      ->check(CLI::IsMember({"one-at-a-time", "full"}));
  matrix->add_option("--repeat", matrix_.repeat, "Runs per combination (median and spread)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  matrix->add_option("--out", matrix_.out_dir,
                     "Folder for matrix.json, the ablation files and one subfolder per run");
  matrix->add_option("--results", matrix_.results_root, "Results root folder")
      ->capture_default_str();
  matrix->add_flag("--quiet,-q", matrix_.quiet, "No progress, only the table");
  matrix->callback([this] { exit_code_ = matrix_command(); });

  auto* rep = app.add_subcommand(
      "report", "Render result files (or matrix.json) as json, csv, md, html or hgrm");
  rep->add_option("results", report_.results, "result.json or matrix.json files")
      ->required()
      ->check(CLI::ExistingFile);
  rep->add_option("--format", report_.format,
                  "json, csv, md, html, or hgrm (HdrHistogram percentile text)")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "csv", "md", "html", "hgrm"}));
  rep->add_option("--out", report_.out, "Write to this file instead of standard output");
  rep->callback([this] { exit_code_ = report_command(); });

  auto* cmp = app.add_subcommand(
      "compare", "Side-by-side figures of two results (or matrices) with changes and noise");
  cmp->add_option("a", compare_.a, "Result or matrix A (the reference)")
      ->required()
      ->check(CLI::ExistingFile);
  cmp->add_option("b", compare_.b, "Result or matrix B")->required()->check(CLI::ExistingFile);
  cmp->add_option("--out", compare_.out, "Write the Markdown to this file");
  cmp->callback([this] { exit_code_ = compare_command(); });

  auto* gate = app.add_subcommand(
      "gate", "Pass/fail a result: thresholds and regressions (exit 0 pass, 1 fail)");
  gate->add_option("results", gate_.results,
                   "result.json of the run to gate, or of several repeats of it (compared by "
                   "median and spread)")
      ->required()
      ->check(CLI::ExistingFile);
  gate->add_option("--baseline", gate_.baselines,
                   "Baseline result.json files (repeats) or a matrix.json (its runs with the "
                   "results' toggles) for --max-regression")
      ->check(CLI::ExistingFile);
  gate->add_option("--threshold", gate_.thresholds,
                   "Threshold expression, e.g. 'p(99)<10ms' (repeatable)")
      ->take_all();
  gate->add_option("--max-regression", gate_.max_regression,
                   "Allowed regressions vs --baseline, e.g. rps=5%,p99=10%");
  gate->add_option("--junit", gate_.junit, "Write the checks as JUnit XML to this file");
  gate->add_flag("--no-scenario-thresholds", gate_.no_scenario_thresholds,
                 "Skip the thresholds stored in the result's scenario");
  gate->callback([this] { exit_code_ = gate_command(); });

  auto* validate = app.add_subcommand("validate", "Check scenario files without running them");
  validate->add_option("files", validate_.files, "Scenario TOML files")->required();
  validate->add_option("--set", validate_.sets, "Override a scenario key")->take_all();
  validate->callback([this] { exit_code_ = validate_command(); });

  auto* models = app.add_subcommand("models", "Model repositories");
  models->require_subcommand(1);
  auto* make = models->add_subcommand(
      "make", "Write a repository of valid models (safetensors): mlp or tokens");
  make->add_option("dir", make_.dir, "Repository folder (created if missing)")->required();
  make->add_option("--count", make_.count, "Number of models")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  make->add_option("--dims", make_.dims, "Layer widths input,hidden...,output")
      ->capture_default_str();
  make->add_option("--seed", make_.seed, "Weights seed")->capture_default_str();
  make->add_option("--prefix", make_.prefix,
                   "Model name prefix (default: the kind, e.g. mlp-0, tokens-0)");
  make->add_option("--kind", make_.kind,
                   "Model kind: mlp (dense layers, --dims) or tokens (recurrent next-token "
                   "model for /v1/completions, --hidden)")
      ->capture_default_str()
      ->check(CLI::IsMember({"mlp", "tokens"}));
  make->add_option("--hidden", make_.hidden, "tokens: recurrent state width")
      ->capture_default_str()
      ->check(CLI::Range(1, 16384));
  make->add_option("--preload", make_.preload, "model.toml preload of every model made")
      ->check(CLI::IsMember({"eager", "lazy", "none"}));
  make->add_option("--priority", make_.priority,
                   "model.toml priority (eager preload order, higher first)");
  make->add_option("--depends-on", make_.depends_on,
                   "model.toml depends_on: names of models loaded first")
      ->delimiter(',');
  make->add_option("--load-timeout", make_.load_timeout, "model.toml load_timeout, e.g. 2s");
  make->callback([this] { exit_code_ = models_make_command(); });
}

int Commands::validate_command() {
  int rc = kExitOk;
  for (const auto& f : validate_.files) {
    auto s = load_scenario(f, validate_.sets);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      rc = kExitUsage;
    } else {
      std::printf("%s: ok (%s, %zu request kinds)\n", f.c_str(), s->name.c_str(),
                  s->requests.size());
    }
  }
  return rc;
}

int Commands::models_make_command() {
  models::MakeOptions o;
  o.count = make_.count;
  o.seed = make_.seed;
  o.prefix = make_.prefix.empty() ? make_.kind : make_.prefix;
  o.kind = make_.kind;
  o.hidden = make_.hidden;
  o.preload = make_.preload;
  o.priority = make_.priority;
  o.depends_on = make_.depends_on;
  o.load_timeout = make_.load_timeout;
  try {
    o.dims = parse_dims(make_.dims);
  } catch (const std::exception&) {
    std::fprintf(stderr, "--dims: expected comma-separated widths like 256,256,256, got \"%s\"\n",
                 make_.dims.c_str());
    return kExitUsage;
  }
  auto made = models::make_repository(make_.dir, o);
  if (!made) {
    std::fprintf(stderr, "models make: %s\n", made.error().message.c_str());
    return kExitRunFailed;
  }
  std::printf("wrote %d model(s) to %s\n", o.count, make_.dir.c_str());
  return kExitOk;
}

// The scenario `run` was given: a file, standard input ("-"), or a URL and
// the one-liner's flags, all through the same parser.
Result<scenario::Scenario> Commands::run_scenario_argument(std::string* toml_out) {
  const std::string& arg = run_.scenario;
  if (!scenario::is_url_argument(arg)) {
    for (const CLI::Option* o : run_.url_flags)
      if (o->count() > 0)
        return make_error(fmt::format(
            "{} applies to a URL run (servelab run http://...); for a scenario file use --set "
            "(for example --set load.connections=50)",
            o->get_name()));
    if (arg != "-") return load_scenario(arg, run_.sets);
    std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    return checked(scenario::parse_scenario_text(text, "<stdin>", run_.sets));
  }
  scenario::OneLiner o = run_.url;
  o.url = arg;
  if (run_.body_arg.starts_with("@")) {
    std::ifstream in(run_.body_arg.substr(1), std::ios::binary);
    if (!in) return make_error(fmt::format("--body {}: cannot read the file", run_.body_arg));
    o.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    o.body = run_.body_arg;
  }
  auto text = scenario::one_liner_toml(o);
  if (!text) return text.error();
  if (toml_out != nullptr) *toml_out = *text;
  return checked(scenario::parse_scenario_text(*text, "<command line>", run_.sets));
}

int Commands::run_command() {
  std::string toml_text;
  auto parsed = run_scenario_argument(&toml_text);
  if (parsed && run_.print_scenario) {
    std::fwrite(toml_text.data(), 1, toml_text.size(), stdout);
    return kExitOk;
  }
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return kExitUsage;
  }
  const scenario::Scenario& s = *parsed;
  const runner::RunOptions options = run_options(run_.results_root, run_.out_dir, run_.sets);

  SignalStop signals;
  const bool quiet = run_.quiet || run_.json || run_.print_path;
  ProgressPrinter printer(s.load.duration, quiet);
  auto started = [&](const std::string& url) {
    if (!quiet)
      std::fprintf(stderr, "target %s%s\n", url.c_str(),
                   s.target == "embedded" ? " (embedded servelab-server)" : "");
  };
  auto outcome = runner::run_scenario(s, options, signals.flag(), std::ref(printer), started);
  printer.finish();
  if (!outcome) {
    std::fprintf(stderr, "run failed: %s\n", outcome.error().message.c_str());
    return kExitRunFailed;
  }
  if (run_.json) {
    // The text written to result.json, not a rendering of it: one source.
    const std::string text = report::to_json_text(outcome->record);
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
  } else if (run_.print_path) {
    std::printf("%s\n", outcome->result_path.c_str());
  } else {
    std::printf("%s", report::summary_text(outcome->record).c_str());
    if (run_.latency) std::printf("%s", report::latency_spectrum_text(outcome->record).c_str());
    std::printf("  result: %s\n", outcome->result_path.c_str());
  }
  append_step_summary(report::markdown_report({outcome->record}));
  if (outcome->record.stats.partial) return kExitInterrupted;
  // A target that never answered measured nothing: the result is written
  // (with a warning saying so) but the run failed.
  if (!runner::target_answered(outcome->record.stats)) {
    std::fprintf(stderr,
                 "run failed: the target %s never answered a single request (%llu attempts, no "
                 "HTTP response); result written to %s\n",
                 outcome->record.server.url.c_str(),
                 static_cast<unsigned long long>(outcome->record.stats.counters.requests),
                 outcome->result_path.c_str());
    return kExitRunFailed;
  }
  if (outcome->record.server.embedded && !outcome->record.server.exit_clean) {
    std::fprintf(stderr, "embedded server did not exit cleanly: %s\n",
                 outcome->record.server.exit.c_str());
    return kExitRunFailed;
  }
  return print_checks(outcome->record.threshold_results, run_.json || run_.print_path)
             ? kExitOk
             : kExitThresholds;
}

int Commands::matrix_command() {
  auto parsed = load_scenario(matrix_.scenario, matrix_.sets);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return kExitUsage;
  }
  const scenario::Scenario& s = *parsed;
  runner::MatrixOptions m;
  m.toggles = split_commas(matrix_.toggles);
  m.mode = matrix_.mode == "full" ? runner::MatrixMode::full : runner::MatrixMode::one_at_a_time;
  m.repeat = matrix_.repeat;
  if (auto combos = runner::matrix_combinations(s.toggles, m.toggles, m.mode); !combos) {
    std::fprintf(stderr, "%s\n", combos.error().message.c_str());
    return kExitUsage;
  }
  const runner::RunOptions options =
      run_options(matrix_.results_root, matrix_.out_dir, matrix_.sets);

  SignalStop signals;
  ProgressPrinter printer(s.load.duration, matrix_.quiet);
  auto step = [&](int i, int total, const std::string& label) {
    printer.finish();
    if (!matrix_.quiet) std::fprintf(stderr, "[%d/%d] %s\n", i + 1, total, label.c_str());
  };
  auto outcome = runner::run_matrix(s, options, m, signals.flag(), std::ref(printer), step);
  printer.finish();
  if (!outcome) {
    std::fprintf(stderr, "matrix failed: %s\n", outcome.error().message.c_str());
    return kExitRunFailed;
  }
  std::vector<report::RunRecord> records;
  for (const auto& r : outcome->runs) records.push_back(r.record);
  const std::string table =
      report::ablation_markdown(report::make_ablation(records, outcome->failed));
  std::printf("%s", table.c_str());
  std::printf("matrix: %s\n", outcome->matrix_path.c_str());
  append_step_summary(fmt::format("### servelab matrix: {}\n\n{}\n", s.name, table));
  for (const auto& f : outcome->failed)
    std::fprintf(stderr, "run failed: %s: %s\n", f.label.c_str(), f.error.c_str());
  if (outcome->interrupted) return kExitInterrupted;
  if (!outcome->failed.empty()) return kExitRunFailed;
  bool ok = true;
  for (const auto& r : outcome->runs) {
    if (!runner::target_answered(r.record.stats)) {
      std::fprintf(stderr, "%s: the target %s never answered a single request\n",
                   report::toggles_label(r.record.scenario.toggles).c_str(),
                   r.record.server.url.c_str());
      return kExitRunFailed;
    }
    if (r.record.server.embedded && !r.record.server.exit_clean) {
      std::fprintf(stderr, "%s: embedded server did not exit cleanly: %s\n",
                   report::toggles_label(r.record.scenario.toggles).c_str(),
                   r.record.server.exit.c_str());
      return kExitRunFailed;
    }
    for (const auto& c : r.record.threshold_results) {
      if (c.pass) continue;
      ok = false;
      std::fprintf(stderr, "  FAIL [%s] %s\n",
                   report::toggles_label(r.record.scenario.toggles).c_str(), c.message.c_str());
    }
  }
  return ok ? kExitOk : kExitThresholds;
}

int Commands::report_command() {
  std::vector<report::FailedRun> failed;
  auto records = report::read_results(report_.results, &failed);
  if (!records) {
    std::fprintf(stderr, "%s\n", records.error().message.c_str());
    return kExitUsage;
  }
  const auto& rs = *records;
  std::string text;
  if (report_.format == "json") {
    if (rs.size() == 1) {
      text = report::to_json_text(rs.front());
    } else {
      text = "[\n";
      for (size_t i = 0; i < rs.size(); ++i)
        text += report::to_json_text(rs[i]) + (i + 1 < rs.size() ? ",\n" : "");
      text += "]\n";
    }
  } else if (report_.format == "csv") {
    text = report::csv_report(rs);
  } else if (report_.format == "md") {
    text = report::markdown_report(rs, failed);
  } else if (report_.format == "html") {
    text = report::html_report(rs, failed);
  } else {
    if (rs.size() != 1) {
      std::fprintf(stderr, "--format hgrm renders one result (got %zu)\n", rs.size());
      return kExitUsage;
    }
    text = measure::percentile_distribution_text(rs.front().stats.latency, 1000.0);
  }
  return write_output(report_.out, text);
}

int Commands::compare_command() {
  auto a = report::read_results({compare_.a});
  auto b = a ? report::read_results({compare_.b}) : a;
  if (!a || !b) {
    std::fprintf(stderr, "%s\n", (!a ? a : b).error().message.c_str());
    return kExitUsage;
  }
  return write_output(compare_.out, report::compare_markdown(*a, *b, compare_.a, compare_.b));
}

int Commands::gate_command() {
  auto results = report::read_results(gate_.results);
  if (!results) {
    std::fprintf(stderr, "%s\n", results.error().message.c_str());
    return kExitUsage;
  }
  report::RunSet runs;
  for (const report::RunRecord& r : *results) runs.push_back(&r);
  auto baselines = report::read_results(gate_.baselines);
  if (!baselines) {
    std::fprintf(stderr, "%s\n", baselines.error().message.c_str());
    return kExitUsage;
  }
  auto matching = report::matching_baselines(runs, *baselines);
  if (!matching) {
    std::fprintf(stderr, "%s\n", matching.error().message.c_str());
    return kExitUsage;
  }
  // A result that does not stand for a complete run cannot pass a gate, nor
  // can it serve as a baseline: said before any verdict is reported.
  auto run_failed = [](const report::RunRecord& r) {
    return r.stats.partial || (r.server.embedded && !r.server.exit_clean);
  };
  auto why = [](const report::RunRecord& r) {
    return r.stats.partial ? std::string("the result is partial (interrupted)")
                           : "embedded server " + r.server.exit;
  };
  for (size_t i = 0; i < runs.size(); ++i)
    if (run_failed(*runs[i])) {
      std::fprintf(stderr, "gate: the run itself failed (result %zu of %zu): %s\n", i + 1,
                   runs.size(), why(*runs[i]).c_str());
      return kExitRunFailed;
    }
  for (const report::RunRecord* b : *matching)
    if (run_failed(*b)) {
      std::fprintf(stderr, "gate: a baseline run failed (%s, %s): %s\n", b->scenario.name.c_str(),
                   b->environment.started_at.c_str(), why(*b).c_str());
      return kExitRunFailed;
    }
  report::GateOptions o;
  o.thresholds = gate_.thresholds;
  o.scenario_thresholds = !gate_.no_scenario_thresholds;
  if (!gate_.max_regression.empty()) {
    auto limits = report::parse_max_regression(gate_.max_regression);
    if (!limits) {
      std::fprintf(stderr, "%s\n", limits.error().message.c_str());
      return kExitUsage;
    }
    o.regressions = std::move(*limits);
  }
  o.baselines = *matching;
  auto checks = report::run_gate(runs, o);
  if (!checks) {
    std::fprintf(stderr, "%s\n", checks.error().message.c_str());
    return kExitUsage;
  }
  const bool ok = print_checks(*checks, false);
  const std::string& suite = runs.front()->scenario.name;
  append_step_summary(report::gate_markdown(suite, *checks));
  if (!gate_.junit.empty()) {
    if (auto w = write_file_atomically(gate_.junit, report::junit_xml(suite, *checks)); !w) {
      std::fprintf(stderr, "%s\n", w.error().message.c_str());
      return kExitRunFailed;
    }
  }
  std::printf("gate: %s (%zu check%s)\n", ok ? "PASS" : "FAIL", checks->size(),
              checks->size() == 1 ? "" : "s");
  return ok ? kExitOk : kExitThresholds;
}

}  // namespace servelab::cli
