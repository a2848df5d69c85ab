#include "report/gate.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "report/run_metrics.h"
#include "report/summary.h"
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

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

std::vector<double> values_of(const RunSet& runs, std::string_view metric) {
  std::vector<double> out;
  for (const RunRecord* r : runs) {
    double v = 0;
    metric_value(metrics_of(*r), metric, &v);
    out.push_back(v);
  }
  return out;
}

std::string runs_text(size_t n) { return n == 1 ? "1 run" : fmt::format("{} runs", n); }

}  // namespace

CheckResult check_regression(const RegressionLimit& limit, const RunSet& results,
                             const RunSet& baselines) {
  CheckResult c;
  c.name =
      fmt::format("regression {}<={}", limit.metric, limit.text.substr(limit.text.find('=') + 1));
  c.limit = limit.allowed;
  if (results.empty() || baselines.empty()) {
    c.measured = false;
    c.message =
        fmt::format("{}: no {} to compare", c.name, results.empty() ? "result" : "baseline");
    return c;
  }
  const std::vector<double> now_v = values_of(results, limit.metric);
  const std::vector<double> base_v = values_of(baselines, limit.metric);
  const double now = median(now_v), base = median(base_v);
  const bool absolute = limit.metric == "error_rate";
  const bool higher_better = higher_is_better(limit.metric);
  // "Worse" as a signed change: positive is worse, in the limit's terms.
  auto worse_by = [&](double x, double reference) {
    if (absolute) return x - reference;  // percentage points
    return higher_better ? (reference - x) / reference : (x - reference) / reference;
  };
  if (!absolute && base <= 0) {
    c.measured = false;
    c.message =
        fmt::format("{}: baseline {} is 0; a relative change is undefined", c.name, limit.metric);
    return c;
  }
  c.value = worse_by(now, base);
  const bool beyond_limit = c.value > c.limit;
  const auto [base_lo, base_hi] = std::minmax_element(base_v.begin(), base_v.end());
  const auto [now_lo, now_hi] = std::minmax_element(now_v.begin(), now_v.end());
  const std::string change = fmt::format("{} {:.2f}{}",
                                         c.value > 0   ? "worse by"
                                         : c.value < 0 ? "better by"
                                                       : "unchanged,",
                                         std::abs(c.value) * 100.0, absolute ? " points" : "%");
  std::string text = fmt::format("{}: {}{} of {} vs baseline {}{} of {} ({}), allowed {:.2f}{}",
                                 c.name, now_v.size() > 1 ? "median " : "", show(limit.metric, now),
                                 runs_text(now_v.size()), base_v.size() > 1 ? "median " : "",
                                 show(limit.metric, base), runs_text(base_v.size()), change,
                                 c.limit * 100.0, absolute ? " points" : "%");
  if (now_v.size() == 1 && base_v.size() == 1) {
    c.pass = !beyond_limit;
    c.message = text + fmt::format(
                           "; spread not measured (one run a side: give the gate several "
                           "runs of each to tell a change from noise) → {}",
                           c.pass ? "pass" : "FAIL");
    return c;
  }
  // Every candidate run worse than every baseline run (in the worse direction).
  const double best_now = higher_better ? *now_hi : *now_lo;
  const double worst_base = higher_better ? *base_lo : *base_hi;
  const bool apart = higher_better ? best_now < worst_base : best_now > worst_base;
  auto band = [&](double lo, double hi, double mid) {
    return fmt::format("{} to {} ({:.2f}%)", show(limit.metric, lo), show(limit.metric, hi),
                       mid > 0 ? (hi - lo) / mid * 100.0 : 0.0);
  };
  text += fmt::format("; spread: baseline {}, result {}", band(*base_lo, *base_hi, base),
                      band(*now_lo, *now_hi, now));
  c.pass = !(beyond_limit && apart);
  c.message = text + (!beyond_limit ? " → pass (within the limit)"
                      : !apart      ? " → pass (beyond the limit but within the noise: the runs "
                                      "overlap)"
                               : " → FAIL (beyond the limit and outside the noise: every run "
                                 "is worse than every baseline run)");
  return c;
}

CheckResult check_regression(const RegressionLimit& limit, const RunRecord& result,
                             const RunRecord& baseline) {
  return check_regression(limit, RunSet{&result}, RunSet{&baseline});
}

Result<RunSet> matching_baselines(const RunSet& results, const std::vector<RunRecord>& baselines) {
  if (results.empty()) return make_error("gate: no result given");
  const std::string label = toggles_label(results.front()->scenario.toggles);
  for (const RunRecord* r : results)
    if (toggles_label(r->scenario.toggles) != label)
      return make_error(
          fmt::format("gate: the results measured different configurations ({} and {}); gate one "
                      "configuration at a time",
                      label, toggles_label(r->scenario.toggles)));
  RunSet out;
  // Baselines of one configuration are taken as given (a single result of
  // other toggles included: the user chose it); only a set of several
  // configurations (a matrix) is narrowed to the results' own.
  bool one_configuration = true;
  for (const RunRecord& b : baselines)
    one_configuration = one_configuration && toggles_label(b.scenario.toggles) ==
                                                 toggles_label(baselines.front().scenario.toggles);
  if (one_configuration) {
    for (const RunRecord& b : baselines) out.push_back(&b);
    return out;
  }
  std::vector<std::string> seen;
  for (const RunRecord& b : baselines) {
    const std::string l = toggles_label(b.scenario.toggles);
    if (l == label)
      out.push_back(&b);
    else if (std::find(seen.begin(), seen.end(), l) == seen.end())
      seen.push_back(l);
  }
  if (out.empty() && !baselines.empty())
    return make_error(
        fmt::format("gate: no baseline run has the results' toggles ({}); the "
                    "baselines measured {}",
                    label, fmt::join(seen, ", ")));
  return out;
}

Result<std::vector<CheckResult>> run_gate(const RunSet& results, const GateOptions& o) {
  if (results.empty()) return make_error("gate: no result given");
  std::vector<CheckResult> checks;
  for (size_t i = 0; i < results.size(); ++i) {
    std::vector<std::string> expressions;
    if (o.scenario_thresholds) expressions = results[i]->scenario.thresholds;
    expressions.insert(expressions.end(), o.thresholds.begin(), o.thresholds.end());
    auto run_checks = evaluate_thresholds(expressions, *results[i]);
    if (!run_checks) return run_checks.error();
    for (CheckResult& c : *run_checks) {
      if (results.size() > 1) {
        const std::string run = fmt::format(" (run {} of {})", i + 1, results.size());
        c.name += run;
        c.message += run;
      }
      checks.push_back(std::move(c));
    }
  }
  if (!o.regressions.empty() && o.baselines.empty())
    return make_error("--max-regression needs --baseline RESULT...");
  for (const auto& r : o.regressions) checks.push_back(check_regression(r, results, o.baselines));
  return checks;
}

Result<std::vector<CheckResult>> run_gate(const RunRecord& result, const GateOptions& o) {
  return run_gate(RunSet{&result}, o);
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
