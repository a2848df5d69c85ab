#include "runner/scenario_runner.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/duration.h"
#include "common/prometheus_text.h"
#include "common/redact.h"
#include "common/toggles.h"
#include "measure/percentile_text.h"
#include "models/repository_maker.h"
#include "report/csv_report.h"
#include "report/html_report.h"
#include "report/markdown_report.h"
#include "report/result_json.h"
#include "report/summary.h"
#include "report/threshold.h"
#include "runner/http_get.h"
#include "runner/inert_toggles.h"
#include "runner/model_metadata.h"
#include "runner/server_process.h"
#include "scenario/redaction.h"
#include "serve/server_flags.h"

namespace servelab::runner {
namespace fs = std::filesystem;
namespace {

std::string repository_label(const scenario::EmbeddedServerConfig& s) {
  return fmt::format("mlp-c{}-d{}-s{}", s.model_count, fmt::join(s.dims, "x"), s.model_seed);
}

std::string timestamp_utc() {
  return fmt::format(
      "{:%Y%m%d-%H%M%S}",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
}

std::map<std::string, double> counter_deltas(const std::map<std::string, double>& before,
                                             const std::map<std::string, double>& after) {
  std::map<std::string, double> delta;
  for (const auto& [key, value] : after) {
    const std::string name = key.substr(0, key.find('{'));
    const bool cumulative = name.ends_with("_total") || name.ends_with("_count") ||
                            name.ends_with("_sum") || name.ends_with("_bucket");
    if (!cumulative) continue;
    const auto it = before.find(key);
    delta[key] = value - (it == before.end() ? 0.0 : it->second);
  }
  return delta;
}

}  // namespace

Result<load::Plan> plan_run(const scenario::Scenario& s, const std::string& base_url) {
  auto inputs = fetch_model_inputs(s, base_url);
  if (!inputs) return inputs.error();
  return load::make_plan(s, base_url, *inputs);
}

Result<std::map<std::string, double>> read_metrics(const std::string& base_url) {
  auto reply = http_get(base_url + "/metrics", kScrapeTimeout, kMaxReplyBytes);
  if (!reply) return reply.error();
  if (reply->status != 200) return std::map<std::string, double>{};
  return parse_prometheus_text(reply->body);
}

std::map<std::string, double> scrape_metrics(const std::string& base_url) {
  auto m = read_metrics(base_url);
  return m ? std::move(*m) : std::map<std::string, double>{};
}

bool scrapes_metrics(const scenario::Scenario& s) {
  switch (s.server.scrape_metrics) {
    case scenario::ScrapeMetrics::on:
      return true;
    case scenario::ScrapeMetrics::off:
      return false;
    case scenario::ScrapeMetrics::auto_:
      break;
  }
  return s.target == "embedded";
}

bool target_answered(const load::RunStats& stats) {
  for (const auto& [status, count] : stats.status_codes)
    if (status > 0 && count > 0) return true;
  return false;
}

Result<std::string> ensure_model_repository(const scenario::Scenario& s,
                                            const std::string& results_root) {
  std::string dir = s.server.model_repository;
  if (dir.empty()) dir = (fs::path(results_root) / ".models" / repository_label(s.server)).string();
  models::MakeOptions make;
  make.count = s.server.model_count;
  make.dims = s.server.dims;
  make.seed = s.server.model_seed;
  bool complete = true;
  for (int i = 0; i < make.count && complete; ++i)
    complete = fs::exists(fs::path(dir) / fmt::format("{}-{}", make.prefix, i) / "model.toml");
  if (!complete) {
    auto made = models::make_repository(dir, make);
    if (!made)
      return make_error(fmt::format("making model repository {}: {}", dir, made.error().message));
  }
  // generate requests: a `tokens` model (tokens-0) beside the mlp models.
  const bool generate = std::any_of(
      s.requests.begin(), s.requests.end(),
      [](const scenario::RequestSpec& r) { return r.kind == scenario::RequestKind::generate; });
  if (generate && !fs::exists(fs::path(dir) / "tokens-0" / "model.toml")) {
    models::MakeOptions tokens;
    tokens.kind = "tokens";
    tokens.prefix = "tokens";
    tokens.count = 1;
    tokens.seed = s.server.model_seed;
    auto made = models::make_repository(dir, tokens);
    if (!made)
      return make_error(fmt::format("making tokens model in {}: {}", dir, made.error().message));
  }
  return dir;
}

Result<RunOutcome> run_scenario(const scenario::Scenario& s, const RunOptions& options,
                                const std::atomic<bool>& stop, const load::ProgressFn& progress,
                                const StartedFn& started) {
  RunOutcome outcome;
  report::RunRecord& record = outcome.record;
  // What leaves for result.json, the reports and the console is redacted
  // here, once (scenario/redaction.h): the run below uses `s` as given.
  record.scenario = scenario::redacted(s);
  record.overrides = scenario::redact_overrides(options.overrides);
  record.environment = report::capture_environment();
  record.inert_toggles = inert_toggles(s);
  for (const auto& t : record.inert_toggles)
    record.warnings.push_back(
        fmt::format("toggle {} = true has no effect: {}", t.toggle, t.reason));

  outcome.out_dir = !options.out_dir.empty()
                        ? options.out_dir
                        : (fs::path(options.results_root) / s.name /
                           fmt::format("{}_{}", timestamp_utc(), report::toggles_label(s.toggles)))
                              .string();
  std::error_code ec;
  fs::create_directories(outcome.out_dir, ec);
  if (ec) return make_error(fmt::format("create {}: {}", outcome.out_dir, ec.message()));
  outcome.result_path = (fs::path(outcome.out_dir) / "result.json").string();

  std::optional<ServerProcess> server;
  std::string base_url = s.target;
  record.server.embedded = s.target == "embedded";
  if (record.server.embedded) {
    auto repo = ensure_model_repository(s, options.results_root);
    if (!repo) return repo.error();
    ServerProcessConfig cfg;
    cfg.executable = options.server_executable;
    // The server's flags come from its own config (serve/server_flags.h):
    // the scenario's [server] table and its server-side toggles.
    serve::ServerConfig server_config;
    server_config.models_dir = *repo;
    server_config.http.threads = s.server.threads;
    serve::set_toggles(server_config, s.toggles);
    server_config.manager.memory_budget = s.server.model_memory_budget;
    server_config.manager.max_concurrent_loads = s.server.max_concurrent_loads;
    server_config.manager.prediction = s.server.prediction;
    server_config.manager.wait_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(s.server.load_wait_timeout);
    server_config.api.max_queue = static_cast<size_t>(s.server.max_queue);
    cfg.args = serve::server_args(server_config);
    cfg.log_path = (fs::path(outcome.out_dir) / "server.log").string();
    cfg.ready_timeout = options.server_ready_timeout;
    auto proc = ServerProcess::start(cfg);
    if (!proc) return proc.error();
    server.emplace(std::move(*proc));
    base_url = server->base_url();
  }
  record.server.url = redact_url(base_url);
  if (started) started(record.server.url);

  auto plan = plan_run(s, base_url);
  if (!plan) return make_error(redact_text(plan.error().message));
  std::map<std::string, double> metrics_before;
  const bool scrape = scrapes_metrics(s);
  if (scrape) {
    auto scraped = read_metrics(base_url);
    if (scraped)
      metrics_before = std::move(*scraped);
    else
      record.warnings.push_back(fmt::format("metrics scrape before the run: {}; no metrics_delta",
                                            scraped.error().message));
  }
  auto stats = load::run(*plan, stop, progress);
  if (!stats) return make_error(redact_text(stats.error().message));
  record.stats = std::move(*stats);
  for (load::RequestMixStats& m : record.stats.mix) m.name = redact_text(m.name);
  if (!metrics_before.empty()) {
    auto after = read_metrics(base_url);
    if (after)
      record.server.metrics_delta = counter_deltas(metrics_before, *after);
    else
      record.warnings.push_back(
          fmt::format("metrics scrape after the run: {}; no metrics_delta", after.error().message));
  }
  if (!target_answered(record.stats) && !record.stats.partial) {
    record.warnings.push_back(fmt::format(
        "the target {} never answered: {} requests, no HTTP response (connect errors {}, "
        "timeouts {}, protocol errors {})",
        record.server.url, record.stats.counters.requests,
        record.stats.counters.errors[static_cast<size_t>(load::ErrorClass::connect)],
        record.stats.counters.errors[static_cast<size_t>(load::ErrorClass::timeout)],
        record.stats.counters.errors[static_cast<size_t>(load::ErrorClass::protocol)]));
  }

  if (server) {
    const auto exit = server->stop();
    record.server.exit = exit.description;
    record.server.exit_clean = exit.clean;
  }
  // Thresholds were checked by the caller (check_thresholds); a bad one
  // here is recorded as a failed check rather than losing the run.
  for (const std::string& expr : s.thresholds) {
    auto t = report::parse_threshold(expr);
    if (t) {
      record.threshold_results.push_back(report::evaluate_threshold(*t, record));
    } else {
      report::CheckResult bad;
      bad.name = expr;
      bad.measured = false;
      bad.message = t.error().message;
      record.threshold_results.push_back(std::move(bad));
    }
  }
  if (auto written = write_run_files(outcome.out_dir, record); !written) return written.error();
  return outcome;
}

Status write_run_files(const std::string& dir, const report::RunRecord& record) {
  const fs::path d(dir);
  const std::vector<report::RunRecord> one{record};
  std::pair<const char*, std::string> files[] = {
      {"result.json", report::to_json_text(record)},
      {"report.md", report::markdown_report(one)},
      {"report.csv", report::csv_report(one)},
      {"report.html", report::html_report(one)},
      // HdrHistogram's percentile text, in ms, for existing HdrHistogram plotters.
      {"latency.hgrm", measure::percentile_distribution_text(record.stats.latency, 1000.0)},
  };
  // All or nothing (a full disk must not leave a new result.json beside the
  // previous run's reports), result.json renamed into place last.
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, text] : files) out.emplace_back((d / name).string(), std::move(text));
  if (record.scenario.load.mode == scenario::LoadMode::open) {
    out.emplace_back((d / "uncorrected.hgrm").string(),
                     measure::percentile_distribution_text(record.stats.uncorrected, 1000.0));
  }
  std::rotate(out.begin(), out.begin() + 1, out.end());
  return write_files_atomically(out);
}

Status check_thresholds(const scenario::Scenario& s) {
  for (const std::string& expr : s.thresholds) {
    auto t = report::parse_threshold(expr);
    if (!t) return make_error(fmt::format("{}: thresholds: {}", s.source, t.error().message));
  }
  return Ok{};
}

std::string matrix_timestamp() { return timestamp_utc(); }

}  // namespace servelab::runner
