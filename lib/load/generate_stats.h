#pragma once
// What `generate` requests measured, per thread (in a Recorder) and merged
// per run (in RunStats). Only histograms and counters: no per-request storage.

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "measure/histogram.h"

namespace servelab::load {

// Problems specific to a completion answer. The first four fail the request
// (counted as a `protocol` error); the others are reported but the request
// counts as ok.
enum class GenerateIssue : uint8_t {
  missing_done,    // an SSE stream ended without `data: [DONE]` (fails)
  bad_event,       // an SSE event's data is not a JSON object (fails)
  error_event,     // an SSE event or the body carried {"error": ...} (fails)
  bad_body,        // a non-streamed body is not a JSON completion (fails)
  usage_mismatch,  // usage.completion_tokens differs from the tokens the events carried
  no_usage,        // non-streamed answer without usage.completion_tokens: tokens unknown
  no_tokens,       // an ok answer with zero output tokens (no TTFT to record)
  itl_dropped,     // more tokens than the per-connection gap buffer (gaps not recorded)
  kCount
};
std::string_view to_string(GenerateIssue issue);
constexpr bool fails_request(GenerateIssue issue) { return issue <= GenerateIssue::bad_body; }

struct GenerateStats {
  // Output tokens per request: up to 10 million at 3 significant digits.
  static constexpr int64_t kTokensHighest = 10'000'000;

  bool enabled = false;        // the run had generate requests (else nothing below is reported)
  uint64_t requests = 0;       // generate requests answered 2xx without a failing issue
  uint64_t streamed = 0;       // of these, answered as an SSE stream
  uint64_t output_tokens = 0;  // sum over `requests` (usage.completion_tokens when given)
  std::array<uint64_t, static_cast<size_t>(GenerateIssue::kCount)> issues{};
  // µs. TTFT: intended send → first token event (non-streamed: = end to end).
  measure::Histogram ttft;
  // µs, per token after the first of streamed answers (see generate_tracker.h).
  measure::Histogram itl;
  // µs, (end to end − TTFT) ÷ (tokens − 1), streamed answers with >= 2 tokens.
  measure::Histogram tpot;
  measure::Histogram tokens{kTokensHighest, 3};  // output tokens per request (a count, not µs)

  uint64_t issue(GenerateIssue i) const { return issues[static_cast<size_t>(i)]; }
  uint64_t issue_total() const;
  // Output tokens per second of the measured phase (0 when nothing was measured).
  double tokens_per_second(std::chrono::microseconds measured) const;
  Status merge(const GenerateStats& other);
  void reset() noexcept;
};

}  // namespace servelab::load
