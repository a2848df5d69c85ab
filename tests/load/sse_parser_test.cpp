// The SSE parser against the WHATWG event-stream rules, fed whole and split
// at every byte boundary.
#include "load/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace servelab::load {
namespace {

struct Collected {
  std::string type, data, id;
  bool operator==(const Collected&) const = default;
};

class Collector final : public SseSink {
 public:
  void on_event(const SseEvent& e) override {
    events.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
  }
  std::vector<Collected> events;
};

std::vector<Collected> parse_whole(std::string_view stream) {
  SseParser p;
  Collector c;
  p.feed(stream, c);
  return c.events;
}

// Every split into two pieces, and byte by byte, must give the same events.
void expect_split_invariant(std::string_view stream, const std::vector<Collected>& expected) {
  EXPECT_EQ(parse_whole(stream), expected);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser p;
    Collector c;
    p.feed(stream.substr(0, cut), c);
    p.feed(stream.substr(cut), c);
    EXPECT_EQ(c.events, expected) << "split at byte " << cut;
  }
  SseParser p;
  Collector c;
  for (char ch : stream) p.feed(std::string_view(&ch, 1), c);
  EXPECT_EQ(c.events, expected) << "byte by byte";
}

const std::string kChunk = R"({"choices":[{"text":"hi","index":0}]})";

TEST(SseParser, OpenAiStreamGivesOneEventPerDataLineAtEverySplit) {
  const std::string stream = "data: " + kChunk + "\n\ndata: " + kChunk + "\n\ndata: [DONE]\n\n";
  expect_split_invariant(
      stream, {{"message", kChunk, ""}, {"message", kChunk, ""}, {"message", "[DONE]", ""}});
}

TEST(SseParser, CrLfAndBareCrEndLinesAtEverySplit) {
  expect_split_invariant("data: a\r\n\r\ndata: b\r\rdata: c\n\n",
                         {{"message", "a", ""}, {"message", "b", ""}, {"message", "c", ""}});
}

TEST(SseParser, MultiLineDataIsJoinedWithNewlines) {
  expect_split_invariant("data: first\ndata:second\ndata\ndata:  two spaces\n\n",
                         {{"message", "first\nsecond\n\n two spaces", ""}});
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  expect_split_invariant(
      ": keep-alive\n:\nretry: 10\nfoo: bar\ndata: x\n: between\n\n: only a comment\n\n",
      {{"message", "x", ""}});
}

TEST(SseParser, EventTypeAndIdAreCarried) {
  expect_split_invariant("event: delta\nid: 7\ndata: x\n\ndata: y\n\n",
                         {{"delta", "x", "7"}, {"message", "y", "7"}});
}

TEST(SseParser, EventWithoutDataIsNotDispatchedButEmptyDataIs) {
  expect_split_invariant("event: ping\n\ndata:\n\n", {{"message", "", ""}});
}

TEST(SseParser, LeadingBomIsSkippedEvenWhenSplit) {
  expect_split_invariant(
      "\xEF\xBB\xBF"
      "data: x\n\n",
      {{"message", "x", ""}});
}

TEST(SseParser, UnterminatedLastEventIsNotDispatchedAndIsReported) {
  SseParser p;
  Collector c;
  p.feed("data: a\n\ndata: b\n", c);
  EXPECT_EQ(c.events.size(), 1u);
  EXPECT_FALSE(p.finish_clean());
  p.feed("\n", c);
  EXPECT_EQ(c.events.size(), 2u);
  EXPECT_TRUE(p.finish_clean());
}

TEST(SseParser, ResetStartsANewStream) {
  SseParser p;
  Collector c;
  p.feed("id: 1\ndata: half", c);
  p.reset();
  p.feed("data: b\n\n", c);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0], (Collected{"message", "b", ""}));
  EXPECT_EQ(p.events(), 1u);
}

}  // namespace
}  // namespace servelab::load
