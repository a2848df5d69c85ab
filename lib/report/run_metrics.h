#pragma once
// The headline figures of one run, in fixed units, as every report, the
// ablation table, compare and the gate use them (one definition, so a
// figure means the same thing everywhere).

#include <string_view>

#include "report/run_record.h"

namespace servelab::report {

struct RunMetrics {
  double rps = 0;         // completed requests per second of the measured phase
  double error_rate = 0;  // errors / requests (fraction, 0..1)
  double requests = 0;
  double errors = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
  // `generate` requests (0 without them; see has_generate).
  bool has_generate = false;
  double ttft_p50_us = 0, ttft_p99_us = 0, itl_p50_us = 0, itl_p99_us = 0, tokens_per_second = 0;
};

RunMetrics metrics_of(const RunRecord& record);

// Every figure of RunMetrics under the name the gate and thresholds use.
struct MetricField {
  std::string_view name;
  double RunMetrics::*field;
};
inline constexpr MetricField kMetricFields[] = {
    {"rps", &RunMetrics::rps},
    {"error_rate", &RunMetrics::error_rate},
    {"requests", &RunMetrics::requests},
    {"errors", &RunMetrics::errors},
    {"p50", &RunMetrics::p50_us},
    {"p90", &RunMetrics::p90_us},
    {"p99", &RunMetrics::p99_us},
    {"p99.9", &RunMetrics::p999_us},
    {"max", &RunMetrics::max_us},
    {"mean", &RunMetrics::mean_us},
    {"ttft_p50", &RunMetrics::ttft_p50_us},
    {"ttft_p99", &RunMetrics::ttft_p99_us},
    {"itl_p50", &RunMetrics::itl_p50_us},
    {"itl_p99", &RunMetrics::itl_p99_us},
    {"tokens_per_second", &RunMetrics::tokens_per_second},
};

// Named access for the gate and thresholds (a name of kMetricFields).
// Returns false for unknown names.
bool metric_value(const RunMetrics& m, std::string_view name, double* out);
// True when a larger value is better (rps); false for latencies and errors.
bool higher_is_better(std::string_view name);

}  // namespace servelab::report
