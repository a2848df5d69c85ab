#pragma once
// Follows one `generate` transfer (an OpenAI-compatible completion) as its
// body arrives: SSE events are parsed incrementally and timed at arrival;
// a non-streamed JSON body is parsed at the end. One tracker per connection
// slot, allocated before the run and reused by every transfer on it.
//
// Token rule (documented in docs/SCENARIOS.md):
// - An SSE event carries k tokens when one of its choices has non-empty text
//   (`choices[].text`, or `choices[].delta.content` of chat chunks): k is the
//   growth of a cumulative `usage.completion_tokens` carried by the same
//   event (vLLM's continuous usage stats) when that is > 0, else the length
//   of `choices[0].logprobs.tokens` when present, else 1. Events without text
//   (role-only deltas, the final usage chunk) carry none.
// - TTFT = first token-carrying event − intended send time.
// - ITL: an event carrying k tokens that arrives g µs after the previous
//   token-carrying event contributes one gap g and k − 1 gaps of 0 (the
//   tokens arrived together); the first event's extra k − 1 tokens give k − 1
//   zero gaps too. So every token after the first has exactly one gap, and
//   the ITLs sum to (last token − first token).
// - Output tokens = `usage.completion_tokens` of the answer when present
//   (counted as usage_mismatch when the events said otherwise), else the
//   count from the events. TPOT = (end to end − TTFT) ÷ (tokens − 1).
// - A non-streamed answer: TTFT = end to end, tokens from usage, no ITL.
// Times are clock reads taken when the bytes were handed over (one per libcurl
// write callback) and when the transfer ended, not the loop turn's time:
// bytes of different connections read in one epoll wake-up get their own
// times. Events that arrived in the same read share one (a gap of 0).

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "load/generate_stats.h"
#include "load/sse_parser.h"

namespace servelab::load {

struct GenerateOutcome {
  bool streamed = false;                          // the body was an SSE stream
  bool failed = false;                            // a failing issue (fails_request) was found
  GenerateIssue failure = GenerateIssue::kCount;  // which, when failed
  bool usage_mismatch = false;
  bool no_usage = false;
  uint64_t tokens = 0;   // output tokens (0 with no_usage)
  int64_t ttft_us = -1;  // -1: no token arrived
  int64_t e2e_us = 0;
  int64_t tpot_us = -1;            // -1: fewer than 2 tokens, or not streamed
  std::span<const uint32_t> gaps;  // ITL in µs (valid until the next begin())
  uint64_t gaps_dropped = 0;       // gaps beyond the buffer's capacity
};

// Adds one finished generate transfer to `stats`: counters always; TTFT,
// ITL, TPOT and token histograms only for an ok answer (`request_failed`
// false: 2xx and no failing issue).
void record_outcome(GenerateStats& stats, const GenerateOutcome& outcome,
                    bool request_failed) noexcept;

class GenerateTracker final : public SseSink {
 public:
  using Clock = std::chrono::steady_clock;
  // Largest non-streamed body kept (bigger is a bad_body).
  static constexpr size_t kMaxBody = 16u << 20;

  // `max_gaps`: ITL gaps buffered per transfer (the largest max_tokens of the
  // plan's generate requests is enough against a server that honours it).
  explicit GenerateTracker(size_t max_gaps);
  GenerateTracker(const GenerateTracker&) = delete;
  GenerateTracker& operator=(const GenerateTracker&) = delete;

  // A transfer starts; latency is measured from `intended`.
  void begin(Clock::time_point intended) noexcept;
  // Body bytes that arrived at `now` (from the libcurl write callback).
  void on_body(std::string_view bytes, Clock::time_point now);
  // The transfer ended at `now`. When `answered_ok` is false (transport
  // error or 4xx/5xx, already classified by the caller) the body is not judged.
  GenerateOutcome finish(Clock::time_point now, bool answered_ok);

 private:
  enum class Mode { unknown, sse, json };
  void on_event(const SseEvent& event) override;
  // Parses `text` into json_; false when it is not a JSON object.
  bool parse(std::string_view text);
  void add_tokens(uint64_t k);
  void fail(GenerateIssue issue) noexcept;

  SseParser sse_;
  std::string body_;            // a non-streamed body
  std::vector<uint32_t> gaps_;  // capacity fixed at construction
  size_t gap_count_ = 0;
  uint64_t gaps_dropped_ = 0;
  // JSON of one event is parsed into this arena, released per event: no
  // allocation unless an event is larger than the arena.
  std::vector<unsigned char> arena_;
  std::vector<unsigned char> parser_temp_;
  boost::json::monotonic_resource resource_;
  boost::json::parser parser_;

  Mode mode_ = Mode::unknown;
  Clock::time_point intended_{};
  Clock::time_point now_{};  // arrival time of the bytes being parsed
  Clock::time_point first_token_{};
  Clock::time_point last_token_{};
  uint64_t counted_ = 0;       // tokens from events
  int64_t usage_tokens_ = -1;  // last usage.completion_tokens seen
  bool done_ = false;          // data: [DONE] seen
  bool failed_ = false;
  GenerateIssue failure_ = GenerateIssue::kCount;
};

}  // namespace servelab::load
