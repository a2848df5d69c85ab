#include "report/generate_report.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/run_metrics.h"

namespace servelab::report {
namespace {

double capped(const measure::Histogram& h, double p) {
  return std::min(static_cast<double>(h.max()), static_cast<double>(h.value_at_percentile(p)));
}
std::string ms(double us) { return fmt::format("{:.3f}", us / 1000.0); }

std::string issues_text(const load::GenerateStats& g) {
  std::string out;
  for (size_t i = 0; i < g.issues.size(); ++i)
    if (g.issues[i])
      out +=
          fmt::format(" {}={}", load::to_string(static_cast<load::GenerateIssue>(i)), g.issues[i]);
  return out;
}

}  // namespace

std::string generate_summary_text(const RunRecord& r) {
  const load::GenerateStats& g = r.stats.generate;
  if (!g.enabled) return {};
  std::string out = "  generate (ms)       p50      p90      p99    p99.9      max     mean\n";
  auto row = [&](const char* label, const measure::Histogram& h) {
    if (h.count() == 0) {
      out += fmt::format("  {:<14} {:>8}\n", label, "-");
      return;
    }
    out += fmt::format("  {:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.3f}\n", label,
                       ms(capped(h, 50)), ms(capped(h, 90)), ms(capped(h, 99)), ms(capped(h, 99.9)),
                       ms(static_cast<double>(h.max())), h.mean() / 1000.0);
  };
  row("ttft", g.ttft);
  row("itl", g.itl);
  row("tpot", g.tpot);
  out += fmt::format(
      "  answers {} ({} streamed)  output tokens {} ({:.0f} per answer, p50 {})  →  {:.1f} "
      "tokens/s\n",
      g.requests, g.streamed, g.output_tokens, g.tokens.mean(), g.tokens.value_at_percentile(50),
      g.tokens_per_second(r.stats.measured));
  if (g.issue_total() > 0) out += fmt::format("  generate issues:{}\n", issues_text(g));
  return out;
}

std::string generate_markdown(const RunRecord& r) {
  const load::GenerateStats& g = r.stats.generate;
  if (!g.enabled) return {};
  std::string out =
      "| generate (ms) | p50 | p90 | p99 | p99.9 | max | mean | count "
      "|\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const char* label, const measure::Histogram& h) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", label, ms(capped(h, 50)),
                       ms(capped(h, 90)), ms(capped(h, 99)), ms(capped(h, 99.9)),
                       ms(static_cast<double>(h.max())), ms(h.mean()), h.count());
  };
  row("time to first token", g.ttft);
  row("inter-token latency", g.itl);
  row("time per output token", g.tpot);
  out +=
      "\n| answers | streamed | output tokens | tokens per answer (mean) | tokens/s | issues "
      "|\n|---:|---:|---:|---:|---:|---|\n";
  const std::string issues = issues_text(g);
  out += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {} |\n\n", g.requests, g.streamed,
                     g.output_tokens, g.tokens.mean(), g.tokens_per_second(r.stats.measured),
                     issues.empty() ? std::string("none") : issues.substr(1));
  return out;
}

const std::vector<std::string>& generate_csv_columns() {
  static const std::vector<std::string> columns = {"ttft_p50_ms",   "ttft_p99_ms",
                                                   "itl_p50_ms",    "itl_p99_ms",
                                                   "output_tokens", "tokens_per_second"};
  return columns;
}

std::vector<std::string> generate_csv_fields(const RunRecord& r) {
  if (!r.stats.generate.enabled) return std::vector<std::string>(generate_csv_columns().size());
  const RunMetrics m = metrics_of(r);
  return {ms(m.ttft_p50_us),
          ms(m.ttft_p99_us),
          ms(m.itl_p50_us),
          ms(m.itl_p99_us),
          std::to_string(r.stats.generate.output_tokens),
          fmt::format("{:.1f}", m.tokens_per_second)};
}

}  // namespace servelab::report
