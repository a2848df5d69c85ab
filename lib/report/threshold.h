#pragma once
// Threshold expressions, in a k6-like grammar, and their evaluation against
// a result. Grammar (whitespace between tokens is allowed):
//
//   threshold := [series "."] stat op number unit?
//              | k6_metric op number unit?
//   series    := "latency" | "uncorrected" | "ttft" | "itl" | "tpot"  (default: latency)
//   stat      := "p(" number ")" | "avg" | "mean" | "med" | "min" | "max"
//              | "error_rate" | "rps" | "requests" | "errors" | "tokens_per_second"
//   k6_metric := "http_req_duration." stat   latency; the unit may be left out: ms, as in k6
//              | "http_req_failed.rate"      error_rate (a fraction, or %)
//              | "http_reqs.rate"            rps
//              | "http_reqs.count"           requests
//   op        := "<" | "<=" | ">" | ">=" | "==" | "!="
//   unit      := "us" | "µs" | "ms" | "s" | "m" | "h"   required for latency stats
//              | "%"                       optional for error_rate (else a fraction)
//
// Examples: "p(99)<10ms", "p(99.9)<=50ms", "error_rate<0.1%", "rps>2500",
// "ttft.p(95)<200ms", "uncorrected.max<1s", "max<2m",
// "http_req_duration.p(95)<200", "http_req_failed.rate<0.01".

#include <string>
#include <string_view>

#include "common/result.h"
#include "report/run_record.h"

namespace servelab::report {

enum class Comparison { lt, le, gt, ge, eq, ne };
// ttft, itl, tpot: of `generate` requests (load/generate_stats.h).
enum class Series { latency, uncorrected, ttft, itl, tpot };

struct Threshold {
  std::string text;  // as written
  Series series = Series::latency;
  std::string stat;       // "p", "mean", "min", "max", "error_rate", "rps", "requests", "errors",
                          // "tokens_per_second"
  double percentile = 0;  // stat == "p"
  Comparison op = Comparison::lt;
  double limit = 0;  // µs for latency stats, a fraction for error_rate
  bool latency_stat() const {
    return stat == "p" || stat == "mean" || stat == "min" || stat == "max";
  }
};

// Errors quote the expression, give the 1-based column and say what was
// expected there.
Result<Threshold> parse_threshold(std::string_view text);

// Measured value vs limit. A statistic this result does not have (TTFT
// without `generate` requests, or none answered) fails with measured = false.
CheckResult evaluate_threshold(const Threshold& threshold, const RunRecord& record);

// Parses and evaluates every expression; the first parse error is returned.
Result<std::vector<CheckResult>> evaluate_thresholds(const std::vector<std::string>& expressions,
                                                     const RunRecord& record);

std::string_view to_string(Comparison op);
// "12.345 ms" for µs values, "0.10%" for fractions, plain otherwise.
std::string format_value(const Threshold& threshold, double value);

}  // namespace servelab::report
