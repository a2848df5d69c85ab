#include "report/ablation.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/summary.h"

namespace servelab::report {
namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

}  // namespace

AblationTable make_ablation(const std::vector<RunRecord>& records, std::vector<FailedRun> failed) {
  AblationTable t;
  t.failed = std::move(failed);
  for (const RunRecord& r : records) {
    const std::string label = toggles_label(r.scenario.toggles);
    auto it = std::find_if(t.rows.begin(), t.rows.end(),
                           [&](const AblationRow& row) { return row.label == label; });
    if (it == t.rows.end()) {
      t.rows.push_back({label, r.scenario.toggles, {}, 0, false, {}, {}, {}, {}});
      it = t.rows.end() - 1;
    }
    it->records.push_back(&r);
    it->partial = it->partial || r.stats.partial;
    for (const InertToggle& i : r.inert_toggles) {
      if (std::none_of(it->inert.begin(), it->inert.end(),
                       [&](const InertToggle& x) { return x.toggle == i.toggle; }))
        it->inert.push_back(i);
    }
  }
  for (size_t i = 0; i < t.rows.size(); ++i) {
    AblationRow& row = t.rows[i];
    row.runs = static_cast<int>(row.records.size());
    std::vector<RunMetrics> ms;
    for (const RunRecord* r : row.records) ms.push_back(metrics_of(*r));
    for (const MetricField& f : kMetricFields) {
      std::vector<double> v;
      for (const RunMetrics& m : ms) v.push_back(m.*f.field);
      row.median.*f.field = median_of(v);
      row.low.*f.field = *std::min_element(v.begin(), v.end());
      row.high.*f.field = *std::max_element(v.begin(), v.end());
    }
    const bool gen =
        std::any_of(ms.begin(), ms.end(), [](const RunMetrics& m) { return m.has_generate; });
    row.median.has_generate = row.low.has_generate = row.high.has_generate = gen;
    if (row.label == "all-off") t.baseline = static_cast<int>(i);
  }
  return t;
}

std::string change_text(double value, double base) {
  if (base == 0) return "";
  return fmt::format("{:+.1f}%", (value - base) / base * 100.0);
}

std::string spread_text(double median, double low, double high, int runs) {
  if (runs < 2 || median == 0) return "";
  return fmt::format("±{:.1f}%", (high - low) / 2.0 / median * 100.0);
}

}  // namespace servelab::report
