#include "report/csv_report.h"

#include <fmt/format.h>

#include "report/generate_report.h"
#include "report/run_metrics.h"
#include "report/summary.h"
#include "scenario/scenario_parser.h"

namespace servelab::report {
namespace {

// RFC 4180: quote fields that hold a comma, quote or line break.
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string ms(double us) { return fmt::format("{:.3f}", us / 1000.0); }

}  // namespace

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns = {"scenario",
                                                   "toggles",
                                                   "inert_toggles",
                                                   "partial",
                                                   "mode",
                                                   "connections",
                                                   "threads",
                                                   "rate",
                                                   "duration_s",
                                                   "requests",
                                                   "ok",
                                                   "errors",
                                                   "error_rate",
                                                   "rps",
                                                   "p50_ms",
                                                   "p90_ms",
                                                   "p99_ms",
                                                   "p99_9_ms",
                                                   "max_ms",
                                                   "mean_ms",
                                                   "late",
                                                   "unfinished",
                                                   "connections_opened",
                                                   "connection_reuse_rate",
                                                   "client_cpu_s",
                                                   "started_at",
                                                   "git_commit"};
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v = columns;
    for (const auto& c : generate_csv_columns()) v.push_back(c);
    return v;
  }();
  return all;
}

std::string csv_report(const std::vector<RunRecord>& records) {
  std::string out = fmt::format("{}\n", fmt::join(csv_columns(), ","));
  for (const RunRecord& r : records) {
    const RunMetrics m = metrics_of(r);
    const auto& c = r.stats.counters;
    std::string inert;
    for (const auto& i : r.inert_toggles) inert += (inert.empty() ? "" : "+") + i.toggle;
    const std::vector<std::string> row = {
        field(r.scenario.name),
        toggles_label(r.scenario.toggles),
        inert,
        r.stats.partial ? "true" : "false",
        std::string(scenario::to_string(r.scenario.load.mode)),
        std::to_string(r.scenario.load.connections),
        std::to_string(r.scenario.load.threads),
        fmt::format("{:.3f}", r.scenario.load.rate),
        fmt::format("{:.3f}", std::chrono::duration<double>(r.stats.measured).count()),
        std::to_string(c.requests),
        std::to_string(c.ok),
        std::to_string(c.error_total()),
        fmt::format("{:.6f}", m.error_rate),
        fmt::format("{:.1f}", m.rps),
        ms(m.p50_us),
        ms(m.p90_us),
        ms(m.p99_us),
        ms(m.p999_us),
        ms(m.max_us),
        ms(m.mean_us),
        std::to_string(c.late),
        std::to_string(c.unfinished),
        std::to_string(c.connections_opened),
        fmt::format("{:.4f}", r.stats.connection_reuse_rate()),
        fmt::format("{:.3f}", r.stats.client_cpu_seconds),
        field(r.environment.started_at),
        field(r.environment.git_commit)};
    std::vector<std::string> full = row;
    for (auto& f : generate_csv_fields(r)) full.push_back(std::move(f));
    out += fmt::format("{}\n", fmt::join(full, ","));
  }
  return out;
}

}  // namespace servelab::report
