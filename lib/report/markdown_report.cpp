#include "report/markdown_report.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/generate_report.h"
#include "report/summary.h"
#include "scenario/scenario_parser.h"

namespace servelab::report {
namespace {

std::string ms(double us) { return fmt::format("{:.3f}", us / 1000.0); }

// A Markdown table cell must not contain '|' or a line break.
std::string cell(std::string s) {
  for (char& c : s)
    if (c == '|' || c == '\n') c = ' ';
  return s;
}

std::string run_section(const RunRecord& r) {
  const RunMetrics m = metrics_of(r);
  const auto& c = r.stats.counters;
  std::string out =
      fmt::format("## {} ({})\n\n", r.scenario.name, toggles_label(r.scenario.toggles));
  if (r.stats.partial) out += "> **PARTIAL**: the run was interrupted before its planned end.\n\n";
  out += fmt::format("Conditions: `{}`\n\n", conditions_line(r));
  out +=
      "| requests | ok | errors | error rate | req/s | late | unfinished | connections opened | "
      "reuse |\n";
  out += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  out += fmt::format("| {} | {} | {} | {:.3f}% | {:.1f} | {} | {} | {} | {:.1f}% |\n\n", c.requests,
                     c.ok, c.error_total(), m.error_rate * 100.0, m.rps, c.late, c.unfinished,
                     c.connections_opened, r.stats.connection_reuse_rate() * 100.0);
  const auto& ps = r.stats.pool;
  out +=
      "| pool | created | reused | reuse rate | failed | closed | pre-connected | peak size | max "
      "| health ok | health failed | client peak RSS |\n";
  out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  out += fmt::format(
      "| connections | {} | {} | {:.1f}% | {} | {} | {} | {} | {} | {} | {} | {:.1f} MiB |\n\n",
      ps.created, ps.reused, ps.reuse_rate() * 100.0, ps.failed, ps.closed, ps.preconnected,
      ps.peak_size, ps.max, ps.health_checks_passed, ps.health_checks_failed,
      static_cast<double>(r.stats.client_peak_rss_kb) / 1024.0);
  out +=
      "| latency (ms) | p50 | p90 | p99 | p99.9 | max | mean "
      "|\n|---|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const char* label, const measure::Histogram& h) {
    // Percentiles capped at the exact max, as in metrics_of().
    const double mx = static_cast<double>(h.max());
    auto p = [&](double q) {
      return ms(std::min(mx, static_cast<double>(h.value_at_percentile(q))));
    };
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", label, p(50), p(90), p(99),
                       p(99.9), ms(mx), ms(h.mean()));
  };
  if (r.scenario.load.mode == scenario::LoadMode::open) {
    row("corrected (from intended send)", r.stats.latency);
    row("uncorrected (from actual send)", r.stats.uncorrected);
  } else {
    row("latency", r.stats.latency);
  }
  out += "\n";
  out += generate_markdown(r);
  if (!r.threshold_results.empty()) {
    out += "Thresholds:\n\n";
    for (const auto& t : r.threshold_results)
      out += fmt::format("- {} {}\n", t.pass ? "PASS" : "**FAIL**", cell(t.message));
    out += "\n";
  }
  for (const auto& w : r.warnings) out += fmt::format("- warning: {}\n", w);
  if (!r.warnings.empty()) out += "\n";
  return out;
}

}  // namespace

std::string ablation_markdown(const AblationTable& t) {
  const AblationRow* base = t.baseline >= 0 ? &t.rows[static_cast<size_t>(t.baseline)] : nullptr;
  const bool repeats =
      std::any_of(t.rows.begin(), t.rows.end(), [](const AblationRow& r) { return r.runs > 1; });
  // TTFT columns only when the runs had generate requests.
  const bool ttft = std::any_of(t.rows.begin(), t.rows.end(),
                                [](const AblationRow& r) { return r.median.has_generate; });
  std::string out;
  out += fmt::format(
      "| combination | runs | req/s | Δ req/s | p50 ms | p90 ms | p99 ms | Δ p99 | p99.9 ms | max "
      "ms | errors |{}{}\n",
      ttft ? " TTFT p50 ms | TTFT p99 ms | Δ TTFT p99 | ITL p99 ms | tokens/s |" : "",
      repeats ? " spread req/s | spread p99 |" : "");
  out += fmt::format("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}{}\n",
                     ttft ? "---:|---:|---:|---:|---:|" : "", repeats ? "---:|---:|" : "");
  for (const AblationRow& row : t.rows) {
    std::string label = row.label;
    for (const auto& i : row.inert) label += fmt::format(" ({}: no effect)", i.toggle);
    if (row.partial) label += " (partial)";
    const RunMetrics& m = row.median;
    const bool is_base = base == &row;
    out += fmt::format("| {} | {} | {:.1f} | {} | {} | {} | {} | {} | {} | {} | {:.3f}% |",
                       cell(label), row.runs, m.rps,
                       is_base ? "base"
                       : base  ? change_text(m.rps, base->median.rps)
                               : "",
                       ms(m.p50_us), ms(m.p90_us), ms(m.p99_us),
                       is_base ? "base"
                       : base  ? change_text(m.p99_us, base->median.p99_us)
                               : "",
                       ms(m.p999_us), ms(m.max_us), m.error_rate * 100.0);
    if (ttft)
      out += fmt::format(" {} | {} | {} | {} | {:.1f} |", ms(m.ttft_p50_us), ms(m.ttft_p99_us),
                         is_base ? "base"
                         : base  ? change_text(m.ttft_p99_us, base->median.ttft_p99_us)
                                 : "",
                         ms(m.itl_p99_us), m.tokens_per_second);
    if (repeats)
      out += fmt::format(" {} | {} |", spread_text(m.rps, row.low.rps, row.high.rps, row.runs),
                         spread_text(m.p99_us, row.low.p99_us, row.high.p99_us, row.runs));
    out += "\n";
  }
  for (const FailedRun& f : t.failed)
    out += fmt::format("| {} (run failed) | 0 | | | | | | | | | |{}{}\n", cell(f.label),
                       ttft ? " | | | | |" : "", repeats ? " | |" : "");
  out += "\n";
  if (!base) out += "No all-off combination: changes are not shown.\n\n";
  if (repeats)
    out +=
        "Figures are medians over the runs; spread is half the min–max range relative to the "
        "median.\n\n";
  bool noted = false;
  for (const AblationRow& row : t.rows)
    for (const auto& i : row.inert) {
      if (!noted)
        out += "Toggles marked \"no effect\" were on but changed nothing in these runs:\n\n";
      noted = true;
      out += fmt::format("- {} in {}: {}\n", i.toggle, row.label, i.reason);
    }
  if (noted) out += "\n";
  for (const FailedRun& f : t.failed)
    out += fmt::format("- {} failed: {}\n", f.label, cell(f.error));
  if (!t.failed.empty()) out += "\n";
  return out;
}

std::string markdown_report(const std::vector<RunRecord>& records,
                            const std::vector<FailedRun>& failed) {
  std::string out;
  if (records.size() > 1 || !failed.empty()) {
    const std::string name =
        records.empty() ? std::string("matrix") : records.front().scenario.name;
    out += fmt::format("# servelab ablation: {}\n\n", name);
    out += ablation_markdown(make_ablation(records, failed));
    if (!records.empty())
      out += fmt::format("Conditions of the first run: `{}`\n\n", conditions_line(records.front()));
    return out;
  }
  for (const RunRecord& r : records) out += run_section(r);
  return out;
}

}  // namespace servelab::report
