#include "load/generate_stats.h"

namespace servelab::load {

std::string_view to_string(GenerateIssue issue) {
  switch (issue) {
    case GenerateIssue::missing_done:
      return "missing_done";
    case GenerateIssue::bad_event:
      return "bad_event";
    case GenerateIssue::error_event:
      return "error_event";
    case GenerateIssue::bad_body:
      return "bad_body";
    case GenerateIssue::usage_mismatch:
      return "usage_mismatch";
    case GenerateIssue::no_usage:
      return "no_usage";
    case GenerateIssue::no_tokens:
      return "no_tokens";
    case GenerateIssue::itl_dropped:
      return "itl_dropped";
    case GenerateIssue::kCount:
      break;
  }
  return "unknown";
}

uint64_t GenerateStats::issue_total() const {
  uint64_t n = 0;
  for (uint64_t v : issues) n += v;
  return n;
}

double GenerateStats::tokens_per_second(std::chrono::microseconds measured) const {
  if (measured.count() <= 0) return 0;
  return static_cast<double>(output_tokens) / (static_cast<double>(measured.count()) / 1e6);
}

Status GenerateStats::merge(const GenerateStats& o) {
  for (auto [dst, src] :
       {std::pair{&ttft, &o.ttft}, {&itl, &o.itl}, {&tpot, &o.tpot}, {&tokens, &o.tokens}}) {
    if (auto st = dst->merge(*src); !st) return st;
  }
  enabled = enabled || o.enabled;
  requests += o.requests;
  streamed += o.streamed;
  output_tokens += o.output_tokens;
  for (size_t i = 0; i < issues.size(); ++i) issues[i] += o.issues[i];
  return Ok{};
}

void GenerateStats::reset() noexcept {
  requests = streamed = output_tokens = 0;
  issues.fill(0);
  ttft.reset();
  itl.reset();
  tpot.reset();
  tokens.reset();
}

}  // namespace servelab::load
