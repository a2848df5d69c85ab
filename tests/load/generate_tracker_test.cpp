// The token tracker's rules: TTFT, ITL per token (k tokens in one event give
// k - 1 zero gaps), usage as the check, non-streamed answers, failures.
#include "load/generate_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "load/generate_stats.h"

namespace servelab::load {
namespace {

using namespace std::chrono_literals;
using Clock = GenerateTracker::Clock;

const Clock::time_point t0 = Clock::time_point() + 1h;

std::string event(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }

// An OpenAI completion chunk carrying `text`.
std::string token(std::string_view text) {
  return event(R"({"object":"text_completion","choices":[{"index":0,"text":")" + std::string(text) +
               R"(","logprobs":null,"finish_reason":null}]})");
}

std::string usage(int completion_tokens) {
  return event(
      R"({"choices":[{"index":0,"text":"","finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":)" +
      std::to_string(completion_tokens) + "}}");
}

const std::string kDone = "data: [DONE]\n\n";

std::vector<uint32_t> gaps_of(const GenerateOutcome& o) { return {o.gaps.begin(), o.gaps.end()}; }

TEST(GenerateTracker, StreamedTokensGiveTtftItlAndTpot) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body(token("a"), t0 + 10ms);
  t.on_body(token("b"), t0 + 13ms);
  t.on_body(token("c") + usage(3) + kDone, t0 + 20ms);
  const GenerateOutcome o = t.finish(t0 + 21ms, true);
  EXPECT_TRUE(o.streamed);
  EXPECT_FALSE(o.failed);
  EXPECT_EQ(o.tokens, 3u);
  EXPECT_EQ(o.ttft_us, 10'000);
  EXPECT_EQ(o.e2e_us, 21'000);
  EXPECT_EQ(gaps_of(o), (std::vector<uint32_t>{3'000, 7'000}));
  EXPECT_EQ(o.tpot_us, (21'000 - 10'000) / 2);
  EXPECT_FALSE(o.usage_mismatch);
}

TEST(GenerateTracker, EventsSplitAcrossNetworkChunksAreTimedAtCompletion) {
  GenerateTracker t(16);
  t.begin(t0);
  const std::string a = token("a");
  t.on_body(a.substr(0, 9), t0 + 5ms);  // half an event: no token yet
  t.on_body(a.substr(9), t0 + 8ms);
  t.on_body(kDone, t0 + 9ms);
  const GenerateOutcome o = t.finish(t0 + 9ms, true);
  EXPECT_EQ(o.ttft_us, 8'000);
  EXPECT_EQ(o.tokens, 1u);
  EXPECT_TRUE(o.gaps.empty());
  EXPECT_EQ(o.tpot_us, -1);
}

TEST(GenerateTracker, EventCarryingKTokensGivesOneGapAndKMinusOneZeroGaps) {
  GenerateTracker t(16);
  t.begin(t0);
  // Cumulative usage on every chunk (vLLM's continuous usage stats): the
  // second event carries 3 tokens.
  t.on_body(event(R"({"choices":[{"text":"a"}],"usage":{"completion_tokens":1}})"), t0 + 10ms);
  t.on_body(event(R"({"choices":[{"text":"bcd"}],"usage":{"completion_tokens":4}})"), t0 + 16ms);
  t.on_body(kDone, t0 + 17ms);
  const GenerateOutcome o = t.finish(t0 + 17ms, true);
  EXPECT_EQ(o.tokens, 4u);
  EXPECT_EQ(gaps_of(o), (std::vector<uint32_t>{6'000, 0, 0}));
  EXPECT_FALSE(o.usage_mismatch);
}

TEST(GenerateTracker, LogprobTokensGiveTheCountOfAnEvent) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body(event(R"({"choices":[{"text":"ab","logprobs":{"tokens":["a","b"]}}]})"), t0 + 10ms);
  t.on_body(event(R"({"choices":[{"text":"c","logprobs":{"tokens":["c"]}}]})"), t0 + 14ms);
  t.on_body(kDone, t0 + 14ms);
  const GenerateOutcome o = t.finish(t0 + 14ms, true);
  EXPECT_EQ(o.tokens, 3u);
  EXPECT_EQ(o.ttft_us, 10'000);
  EXPECT_EQ(gaps_of(o), (std::vector<uint32_t>{0, 4'000}))
      << "the first event's second token arrived with it";
}

TEST(GenerateTracker, EventsWithoutTextCarryNoToken) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body(event(R"({"choices":[{"delta":{"role":"assistant"}}]})"), t0 + 2ms);  // chat role chunk
  t.on_body(event(R"({"choices":[{"delta":{"content":"x"}}]})"), t0 + 5ms);       // chat content
  t.on_body(usage(1) + kDone, t0 + 6ms);
  const GenerateOutcome o = t.finish(t0 + 6ms, true);
  EXPECT_EQ(o.ttft_us, 5'000);
  EXPECT_EQ(o.tokens, 1u);
}

TEST(GenerateTracker, UsageDecidesTheCountAndADifferenceIsFlagged) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body(token("a") + token("b") + usage(5) + kDone, t0 + 1ms);
  const GenerateOutcome o = t.finish(t0 + 1ms, true);
  EXPECT_EQ(o.tokens, 5u);
  EXPECT_TRUE(o.usage_mismatch);
}

TEST(GenerateTracker, StreamWithoutDoneFailsAsMissingDone) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body(token("a"), t0 + 1ms);
  const GenerateOutcome o = t.finish(t0 + 2ms, true);
  EXPECT_TRUE(o.failed);
  EXPECT_EQ(o.failure, GenerateIssue::missing_done);
}

TEST(GenerateTracker, NonJsonEventAndErrorEventFail) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body("data: {not json\n\n" + kDone, t0 + 1ms);
  GenerateOutcome o = t.finish(t0 + 1ms, true);
  EXPECT_TRUE(o.failed);
  EXPECT_EQ(o.failure, GenerateIssue::bad_event);

  t.begin(t0);
  t.on_body(event(R"({"error":{"message":"overloaded"}})") + kDone, t0 + 1ms);
  o = t.finish(t0 + 1ms, true);
  EXPECT_TRUE(o.failed);
  EXPECT_EQ(o.failure, GenerateIssue::error_event);
}

TEST(GenerateTracker, NonStreamedAnswerHasTtftEqualToEndToEndAndTokensFromUsage) {
  GenerateTracker t(16);
  t.begin(t0);
  const std::string body =
      R"({"id":"c","object":"text_completion","choices":[{"index":0,"text":"abcd","finish_reason":"length"}],)"
      R"("usage":{"prompt_tokens":2,"completion_tokens":4,"total_tokens":6}})";
  t.on_body(body.substr(0, 20), t0 + 30ms);
  t.on_body(body.substr(20), t0 + 31ms);
  const GenerateOutcome o = t.finish(t0 + 31ms, true);
  EXPECT_FALSE(o.streamed);
  EXPECT_FALSE(o.failed);
  EXPECT_EQ(o.tokens, 4u);
  EXPECT_EQ(o.ttft_us, 31'000);
  EXPECT_EQ(o.ttft_us, o.e2e_us);
  EXPECT_TRUE(o.gaps.empty());
  EXPECT_EQ(o.tpot_us, -1);
}

TEST(GenerateTracker, NonStreamedBodyThatIsNoCompletionFails) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body("{\"hello\": 1}", t0 + 1ms);
  EXPECT_EQ(t.finish(t0 + 1ms, true).failure, GenerateIssue::bad_body);
  t.begin(t0);
  EXPECT_EQ(t.finish(t0 + 1ms, true).failure, GenerateIssue::bad_body) << "empty body";
}

TEST(GenerateTracker, AnHttpErrorIsNotJudgedAgain) {
  GenerateTracker t(16);
  t.begin(t0);
  t.on_body(R"({"error":"unknown model"})", t0 + 1ms);
  const GenerateOutcome o = t.finish(t0 + 1ms, false);
  EXPECT_FALSE(o.failed);
  EXPECT_EQ(o.tokens, 0u);
}

TEST(GenerateTracker, GapsBeyondCapacityAreCountedNotLost) {
  GenerateTracker t(2);
  t.begin(t0);
  for (int i = 0; i < 5; ++i) t.on_body(token("x"), t0 + std::chrono::milliseconds(i + 1));
  t.on_body(kDone, t0 + 6ms);
  const GenerateOutcome o = t.finish(t0 + 6ms, true);
  EXPECT_EQ(o.gaps.size(), 2u);
  EXPECT_EQ(o.gaps_dropped, 2u);
}

TEST(GenerateTracker, RecordOutcomeFillsHistogramsOnlyForOkAnswers) {
  GenerateTracker t(16);
  GenerateStats stats;
  t.begin(t0);
  t.on_body(token("a") + token("b") + usage(2) + kDone, t0 + 4ms);
  record_outcome(stats, t.finish(t0 + 5ms, true), false);
  t.begin(t0);
  t.on_body(token("a"), t0 + 1ms);
  const GenerateOutcome broken = t.finish(t0 + 2ms, true);
  record_outcome(stats, broken, broken.failed);
  EXPECT_EQ(stats.requests, 1u);
  EXPECT_EQ(stats.streamed, 1u);
  EXPECT_EQ(stats.output_tokens, 2u);
  EXPECT_EQ(stats.ttft.count(), 1u);
  EXPECT_EQ(stats.itl.count(), 1u);
  EXPECT_EQ(stats.tpot.count(), 1u);
  EXPECT_EQ(stats.issue(GenerateIssue::missing_done), 1u);
  EXPECT_DOUBLE_EQ(stats.tokens_per_second(std::chrono::seconds(2)), 1.0);
}

}  // namespace
}  // namespace servelab::load
