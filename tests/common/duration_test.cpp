#include "common/duration.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace servelab {
namespace {

using namespace std::chrono_literals;
using Micros = std::chrono::microseconds;

Micros parsed(std::string_view text) {
  Result<Micros> r = parse_duration(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Micros(-1);
}

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(parsed("30s"), 30s);
  EXPECT_EQ(parsed("500ms"), 500ms);
  EXPECT_EQ(parsed("250us"), 250us);
  EXPECT_EQ(parsed("10m"), 10min);
  EXPECT_EQ(parsed("1h"), 1h);
  EXPECT_EQ(parsed("0s"), 0s);
  EXPECT_EQ(parsed("250\u00b5s"), 250us);
}

TEST(Duration, AddsCompoundParts) {
  EXPECT_EQ(parsed("1m30s"), 90s);
  EXPECT_EQ(parsed("1h2m3s4ms5us"), 1h + 2min + 3s + 4ms + 5us);
}

TEST(Duration, ReadsExactFractions) {
  EXPECT_EQ(parsed("1.5s"), 1500ms);
  EXPECT_EQ(parsed("0.25ms"), 250us);
  Result<Micros> too_fine = parse_duration("0.0005ms");
  ASSERT_FALSE(too_fine.ok());
  EXPECT_NE(too_fine.error().message.find("finer than the 1us resolution"), std::string::npos);
}

TEST(Duration, FormatRoundTripsThroughParse) {
  for (Micros d : {Micros(0), Micros(1), Micros(250), Micros(1'000), Micros(1'500'000),
                   Micros(90'000'000), Micros(3'600'000'000), Micros(3'723'004'005)}) {
    const std::string text = format_duration(d);
    EXPECT_EQ(parsed(text), d) << text;
  }
}

TEST(Duration, FormatsShortestText) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(1500ms), "1s500ms");
  EXPECT_EQ(format_duration(250us), "250us");
  EXPECT_EQ(format_duration(1h), "1h");
}

TEST(Duration, RejectsMalformedTextSayingWhatIsAccepted) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"10", "missing unit after \"10\""},
      {"5x", "unknown unit \"x\"; units are h, m, s, ms, us"},
      {"-1s", "negative durations are not allowed"},
      {"", "empty"},
      {"s", "each part must start with a number"},
      {"1.s", "expected digits after '.'"},
      {"99999999999h", "too large"},
  };
  for (const auto& [text, reason] : cases) {
    Result<Micros> r = parse_duration(text);
    ASSERT_FALSE(r.ok()) << text;
    const std::string& message = r.error().message;
    EXPECT_NE(message.find(R"(expected a duration such as "30s", "500ms")"), std::string::npos)
        << message;
    EXPECT_NE(message.find(fmt::format("got \"{}\"", text)), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace servelab
