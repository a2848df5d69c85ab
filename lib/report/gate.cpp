#include "report/gate.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "report/run_metrics.h"
#include "report/threshold.h"

namespace servelab::report {
namespace {

constexpr std::string_view kRegressionMetrics[] = {
    "rps", "p50", "p90", "p99", "p99.9", "max", "mean", "error_rate",
    // generate requests (run_metrics.h)
    "ttft_p50", "ttft_p99", "itl_p50", "itl_p99", "tokens_per_second"};

std::string show(std::string_view metric, double v) {
  if (metric == "rps") return fmt::format("{:.1f} req/s", v);
  if (metric == "error_rate") return fmt::format("{:.4g}%", v * 100.0);
  if (metric == "tokens_per_second") return fmt::format("{:.1f} tokens/s", v);
  return fmt::format("{:.3f} ms", v / 1000.0);
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Result<std::vector<RegressionLimit>> parse_max_regression(std::string_view text) {
  std::vector<RegressionLimit> out;
  const std::string valid = fmt::format("{}", fmt::join(kRegressionMetrics, ", "));
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || !item.ends_with('%'))
      return make_error(
          fmt::format("--max-regression \"{}\": expected metric=N% (as in rps=5%,p99=10%)", item));
    RegressionLimit l;
    l.text = std::string(item);
    l.metric = std::string(item.substr(0, eq));
    bool known = false;
    for (auto m : kRegressionMetrics) known = known || m == l.metric;
    if (!known)
      return make_error(
          fmt::format("--max-regression \"{}\": unknown metric \"{}\"; expected one of {}", item,
                      l.metric, valid));
    const std::string_view number = item.substr(eq + 1, item.size() - eq - 2);
    double v = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
    if (ec != std::errc() || end != number.data() + number.size() || v < 0 || !std::isfinite(v))
      return make_error(
          fmt::format("--max-regression \"{}\": expected a percentage >= 0 after '='", item));
    l.allowed = v / 100.0;
    out.push_back(std::move(l));
  }
  return out;
}

CheckResult check_regression(const RegressionLimit& limit, const RunRecord& result,
                             const RunRecord& baseline) {
  CheckResult c;
  c.name =
      fmt::format("regression {}<={}", limit.metric, limit.text.substr(limit.text.find('=') + 1));
  c.limit = limit.allowed;
  double now = 0, base = 0;
  metric_value(metrics_of(result), limit.metric, &now);
  metric_value(metrics_of(baseline), limit.metric, &base);
  if (limit.metric == "error_rate") {
    c.value = now - base;  // absolute increase
  } else if (base <= 0) {
    c.measured = false;
    c.message =
        fmt::format("{}: baseline {} is 0; a relative change is undefined", c.name, limit.metric);
    return c;
  } else {
    c.value = higher_is_better(limit.metric) ? (base - now) / base : (now - base) / base;
  }
  c.pass = c.value <= c.limit;
  c.message = fmt::format("{}: {} {} vs baseline {} ({} {:+.2f}%), allowed {:.2f}%", c.name,
                          limit.metric, show(limit.metric, now), show(limit.metric, base),
                          limit.metric == "error_rate" ? "increase" : "worse by", c.value * 100.0,
                          c.limit * 100.0);
  return c;
}

Result<std::vector<CheckResult>> run_gate(const RunRecord& result, const GateOptions& o) {
  std::vector<std::string> expressions;
  if (o.scenario_thresholds) expressions = result.scenario.thresholds;
  expressions.insert(expressions.end(), o.thresholds.begin(), o.thresholds.end());
  auto checks = evaluate_thresholds(expressions, result);
  if (!checks) return checks.error();
  if (!o.regressions.empty() && o.baseline == nullptr)
    return make_error("--max-regression needs --baseline RESULT");
  for (const auto& r : o.regressions) checks->push_back(check_regression(r, result, *o.baseline));
  return checks;
}

std::string junit_xml(std::string_view suite, const std::vector<CheckResult>& checks) {
  size_t failures = 0;
  for (const auto& c : checks) failures += c.pass ? 0 : 1;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites tests=\"{}\" failures=\"{}\">\n", checks.size(), failures);
  out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n",
                     xml_escape(suite), checks.size(), failures);
  for (const auto& c : checks) {
    out += fmt::format("    <testcase classname=\"servelab.gate.{}\" name=\"{}\"",
                       xml_escape(suite), xml_escape(c.name));
    if (c.pass) {
      out += fmt::format(">\n      <system-out>{}</system-out>\n    </testcase>\n",
                         xml_escape(c.message));
    } else {
      out += fmt::format(
          ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
          xml_escape(c.message), c.measured ? "threshold" : "not-measured", xml_escape(c.message));
    }
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

std::string gate_markdown(std::string_view suite, const std::vector<CheckResult>& checks) {
  size_t failed = 0;
  for (const CheckResult& c : checks) failed += c.pass ? 0 : 1;
  std::string out = fmt::format("### servelab gate: {}: {} ({} of {} checks failed)\n\n", suite,
                                failed == 0 ? "PASS" : "FAIL", failed, checks.size());
  out += "| verdict | check | measured and limit |\n|---|---|---|\n";
  // A '|' inside a cell would end it.
  auto cell = [](std::string text) {
    for (size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2))
      text.replace(at, 1, "\\|");
    return text;
  };
  for (const CheckResult& c : checks)
    out += fmt::format("| {} | `{}` | {} |\n",
                       c.pass ? "pass" : (c.measured ? "**FAIL**" : "**FAIL** (not measured)"),
                       cell(c.name), cell(c.message));
  return out + "\n";
}

}  // namespace servelab::report
