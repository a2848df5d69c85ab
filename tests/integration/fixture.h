#pragma once
// Integration fixture: a real servelab-server process on an ephemeral
// loopback port over a real model repository made by models::make_repository
// (h2o t/Util.pm spawn_h2o), plus a helper that runs the real `servelab`
// executable and captures what it prints.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "load/run_stats.h"
#include "runner/server_process.h"
#include "scenario/scenario.h"
#include "support/temp_dir.h"

namespace servelab::testing {

std::string bin_dir();  // where servelab and servelab-server are built

// A model repository of `count` small mlp models (dims 64x64x16 unless given).
std::string make_models(const TempDir& dir, int count = 1, std::vector<int> dims = {64, 64, 16});

runner::ServerProcess start_server(const std::string& models,
                                   std::vector<std::string> extra_args = {},
                                   const std::string& log_path = "");

// Scrapes /metrics; value of one series (0 when absent).
double metric(const std::map<std::string, double>& metrics, const std::string& series);

// One engine run of `s` against `server` with the server's /metrics scraped
// before and after, so that tests compare counts with what the server saw.
struct MeasuredRun {
  load::RunStats stats;
  std::map<std::string, double> before, after;
  double delta(const std::string& series) const {
    return metric(after, series) - metric(before, series);
  }
};
MeasuredRun run_measured(const runner::ServerProcess& server, const scenario::Scenario& s);

// A scenario aimed at `url` with one infer request against mlp-0.
scenario::Scenario infer_scenario(const std::string& url, std::chrono::milliseconds duration,
                                  int connections);

struct ProcessOutput {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};
// Runs `servelab args...` to completion with a deadline (killed after it).
ProcessOutput run_cli(const std::vector<std::string>& args,
                      std::chrono::milliseconds deadline = std::chrono::seconds(60));
// Runs `program` (servelab or servelab-server, from bin_dir()) with `input`
// on its standard input (under 60 KB), to completion with a deadline.
ProcessOutput run_program(const std::string& program, const std::vector<std::string>& args,
                          const std::string& input = "",
                          std::chrono::milliseconds deadline = std::chrono::seconds(60));

}  // namespace servelab::testing
