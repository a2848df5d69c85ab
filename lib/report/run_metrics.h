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

// Named access for the gate and the ablation table: "rps", "error_rate",
// "p50", "p90", "p99", "p99.9", "max", "mean", "ttft_p50", "ttft_p99",
// "itl_p50", "itl_p99", "tokens_per_second". Returns false for unknown names.
bool metric_value(const RunMetrics& m, std::string_view name, double* out);
// True when a larger value is better (rps); false for latencies and errors.
bool higher_is_better(std::string_view name);

}  // namespace servelab::report
