#include "cli/commands.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "models/model_repository.h"
#include "report/summary.h"
#include "runner/scenario_runner.h"
#include "scenario/scenario_parser.h"

namespace servelab::cli {
namespace {

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
        p.in_warmup ? "warmup " : "running", t, std::chrono::duration<double>(total_).count(), p.rps,
        static_cast<double>(p.p99_us) / 1000.0, p.requests, p.errors);
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

std::vector<int> parse_dims(const std::string& text) {
  std::vector<int> dims;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find_first_of(",x", pos);
    const std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    dims.push_back(std::stoi(part));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return dims;
}

}  // namespace

void Commands::add_to(CLI::App& app) {
  auto* run = app.add_subcommand("run", "Run a scenario and write its result");
  run->add_option("scenario", run_.scenario, "Scenario TOML file")->required()->check(CLI::ExistingFile);
  run->add_option("--set", run_.sets, "Override a scenario key: --set load.connections=50")
      ->take_all();
  run->add_option("--out", run_.out_dir, "Folder for this run's files (default results/<scenario>/<time>_<toggles>/)");
  run->add_option("--results", run_.results_root, "Results root folder")->capture_default_str();
  run->add_flag("--quiet,-q", run_.quiet, "No progress, only the summary");
  run->add_flag("--json", run_.json, "Print the result JSON path only (for scripts)");
  run->callback([this] { exit_code_ = run_command(); });

  auto* validate = app.add_subcommand("validate", "Check scenario files without running them");
  validate->add_option("files", validate_.files, "Scenario TOML files")->required();
  validate->add_option("--set", validate_.sets, "Override a scenario key")->take_all();
  validate->callback([this] { exit_code_ = validate_command(); });

  auto* models = app.add_subcommand("models", "Model repositories");
  models->require_subcommand(1);
  auto* make = models->add_subcommand("make", "Write a repository of valid mlp models (safetensors)");
  make->add_option("dir", make_.dir, "Repository folder (created if missing)")->required();
  make->add_option("--count", make_.count, "Number of models")->capture_default_str()->check(CLI::Range(1, 100000));
  make->add_option("--dims", make_.dims, "Layer widths input,hidden...,output")->capture_default_str();
  make->add_option("--seed", make_.seed, "Weights seed")->capture_default_str();
  make->add_option("--prefix", make_.prefix, "Model name prefix")->capture_default_str();
  make->callback([this] { exit_code_ = models_make_command(); });
}

int Commands::validate_command() {
  int rc = kExitOk;
  for (const auto& f : validate_.files) {
    auto s = scenario::parse_scenario_file(f, validate_.sets);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      rc = kExitUsage;
    } else {
      std::printf("%s: ok (%s, %zu request kinds)\n", f.c_str(), s->name.c_str(), s->requests.size());
    }
  }
  return rc;
}

int Commands::models_make_command() {
  models::MakeOptions o;
  o.count = make_.count;
  o.seed = make_.seed;
  o.prefix = make_.prefix;
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

int Commands::run_command() {
  auto parsed = scenario::parse_scenario_file(run_.scenario, run_.sets);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return kExitUsage;
  }
  const scenario::Scenario& s = *parsed;
  runner::RunOptions options;
  options.results_root = run_.results_root;
  options.out_dir = run_.out_dir;
  options.overrides = run_.sets;
  options.server_executable = self_dir() + "/servelab-server";

  SignalStop signals;
  const bool quiet = run_.quiet || run_.json;
  ProgressPrinter printer(s.load.duration, quiet);
  auto started = [&](const std::string& url) {
    if (!quiet) std::fprintf(stderr, "target %s%s\n", url.c_str(), s.target == "embedded" ? " (embedded servelab-server)" : "");
  };
  auto outcome = runner::run_scenario(s, options, signals.flag(), std::ref(printer), started);
  printer.finish();
  if (!outcome) {
    std::fprintf(stderr, "run failed: %s\n", outcome.error().message.c_str());
    return kExitRunFailed;
  }
  if (run_.json) {
    std::printf("%s\n", outcome->result_path.c_str());
  } else {
    std::printf("%s", report::summary_text(outcome->record).c_str());
    std::printf("  result: %s\n", outcome->result_path.c_str());
  }
  if (outcome->record.stats.partial) return kExitInterrupted;
  if (outcome->record.server.embedded && !outcome->record.server.exit_clean) {
    std::fprintf(stderr, "embedded server did not exit cleanly: %s\n", outcome->record.server.exit.c_str());
    return kExitRunFailed;
  }
  return kExitOk;
}

}  // namespace servelab::cli
