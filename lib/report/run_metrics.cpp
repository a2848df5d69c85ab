#include "report/run_metrics.h"

#include <algorithm>

namespace servelab::report {

RunMetrics metrics_of(const RunRecord& r) {
  const auto& st = r.stats;
  const auto& h = st.latency;
  RunMetrics m;
  m.rps = st.rps();
  m.requests = static_cast<double>(st.counters.requests);
  m.errors = static_cast<double>(st.counters.error_total());
  m.error_rate = st.counters.requests ? m.errors / m.requests : 0.0;
  m.max_us = static_cast<double>(h.max());
  // A percentile is its bucket's highest equivalent value, which can lie
  // above the exact maximum: never report a percentile above the max.
  auto pct = [&](double p) {
    return std::min(m.max_us, static_cast<double>(h.value_at_percentile(p)));
  };
  m.p50_us = pct(50);
  m.p90_us = pct(90);
  m.p99_us = pct(99);
  m.p999_us = pct(99.9);
  m.mean_us = h.mean();
  const load::GenerateStats& g = st.generate;
  m.has_generate = g.enabled;
  auto capped = [](const measure::Histogram& x, double p) {
    return std::min(static_cast<double>(x.max()), static_cast<double>(x.value_at_percentile(p)));
  };
  m.ttft_p50_us = capped(g.ttft, 50);
  m.ttft_p99_us = capped(g.ttft, 99);
  m.itl_p50_us = capped(g.itl, 50);
  m.itl_p99_us = capped(g.itl, 99);
  m.tokens_per_second = g.tokens_per_second(st.measured);
  return m;
}

bool metric_value(const RunMetrics& m, std::string_view name, double* out) {
  for (const MetricField& f : kMetricFields) {
    if (f.name == name) {
      *out = m.*f.field;
      return true;
    }
  }
  return false;
}

bool higher_is_better(std::string_view name) {
  return name == "rps" || name == "requests" || name == "tokens_per_second";
}

}  // namespace servelab::report
