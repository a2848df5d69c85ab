// Threshold expressions (report/threshold.h): parsing, and evaluation of a
// parsed one against an empty and a non-empty result.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "report/run_record.h"
#include "report/threshold.h"

namespace {

servelab::report::RunRecord measured_record() {
  servelab::report::RunRecord record;
  auto& stats = record.stats;
  for (int64_t us = 1; us < 100'000; us = us * 3 + 1) stats.latency.record(us);
  stats.uncorrected = stats.latency;
  stats.measured = std::chrono::seconds(2);
  stats.counters.requests = 1000;  // see load/run_stats.h
  stats.counters.ok = 997;
  stats.counters.errors[0] = 3;
  stats.generate.enabled = true;
  stats.generate.requests = 10;
  stats.generate.ttft = stats.latency;
  stats.generate.itl = stats.latency;
  stats.generate.tpot = stats.latency;
  return record;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const servelab::report::RunRecord empty;
  static const servelab::report::RunRecord measured = measured_record();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto threshold = servelab::report::parse_threshold(text);
  if (!threshold.ok()) return 0;
  for (const auto* record : {&empty, &measured}) {
    const auto check = servelab::report::evaluate_threshold(*threshold, *record);
    (void)servelab::report::format_value(*threshold, check.value);
  }
  return 0;
}
