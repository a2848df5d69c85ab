#include "report/compare.h"

#include <fmt/format.h>

#include <cmath>

#include "report/ablation.h"

namespace servelab::report {

std::string compare_markdown(const std::vector<RunRecord>& a, const std::vector<RunRecord>& b,
                             const std::string& a_name, const std::string& b_name) {
  const AblationTable ta = make_ablation(a), tb = make_ablation(b);
  std::string out = fmt::format("# servelab compare\n\nA: `{}`  \nB: `{}`\n\n", a_name, b_name);
  const bool single = ta.rows.size() == 1 && tb.rows.size() == 1;
  struct Metric {
    const char* label;
    double RunMetrics::*field;
    double scale;  // display divisor
    const char* fmt;
  };
  const Metric metrics[] = {{"req/s", &RunMetrics::rps, 1, "{:.1f}"},
                            {"p50 ms", &RunMetrics::p50_us, 1000, "{:.3f}"},
                            {"p90 ms", &RunMetrics::p90_us, 1000, "{:.3f}"},
                            {"p99 ms", &RunMetrics::p99_us, 1000, "{:.3f}"},
                            {"p99.9 ms", &RunMetrics::p999_us, 1000, "{:.3f}"},
                            {"max ms", &RunMetrics::max_us, 1000, "{:.3f}"},
                            {"error rate %", &RunMetrics::error_rate, 0.01, "{:.3f}"}};
  bool any = false;
  for (const AblationRow& ra : ta.rows) {
    for (const AblationRow& rb : tb.rows) {
      // Two single results are compared whatever their toggles (A/B of one change).
      if (!single && ra.label != rb.label) continue;
      any = true;
      out += single && ra.label != rb.label ? fmt::format("## {} vs {}\n\n", ra.label, rb.label)
                                            : fmt::format("## {}\n\n", ra.label);
      out += fmt::format(
          "| metric | A ({} run{}) | B ({} run{}) | change | noise | verdict "
          "|\n|---|---:|---:|---:|---:|---|\n",
          ra.runs, ra.runs > 1 ? "s" : "", rb.runs, rb.runs > 1 ? "s" : "");
      for (const Metric& m : metrics) {
        const double va = ra.median.*m.field, vb = rb.median.*m.field;
        // Noise: the larger relative half-range of the two sides.
        double noise = 0;
        if (ra.runs > 1 && va != 0)
          noise = std::max(noise, (ra.high.*m.field - ra.low.*m.field) / 2 / std::abs(va));
        if (rb.runs > 1 && vb != 0)
          noise = std::max(noise, (rb.high.*m.field - rb.low.*m.field) / 2 / std::abs(vb));
        const double change = va != 0 ? (vb - va) / va : 0;
        std::string verdict;
        if (va == vb)
          verdict = "same";
        else if (ra.runs > 1 || rb.runs > 1)
          verdict = std::abs(change) <= noise ? "within noise" : "beyond noise";
        out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", m.label,
                           fmt::format(fmt::runtime(m.fmt), va / m.scale),
                           fmt::format(fmt::runtime(m.fmt), vb / m.scale), change_text(vb, va),
                           ra.runs > 1 || rb.runs > 1 ? fmt::format("±{:.1f}%", noise * 100)
                                                      : std::string("n/a (1 run)"),
                           verdict);
      }
      out += "\n";
      for (const auto* row : {&ra, &rb})
        for (const auto& i : row->inert)
          out += fmt::format("- {}: {} had no effect ({})\n", row == &ra ? "A" : "B", i.toggle,
                             i.reason);
      if (ra.partial || rb.partial) out += "- at least one side is a PARTIAL (interrupted) run\n";
      out += "\n";
    }
  }
  if (!any) out += "No toggle combination appears on both sides.\n";
  return out;
}

}  // namespace servelab::report
