// [[load.stages]]: k6-like ramps, validated with located errors.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kRequest = R"(
[[requests]]
kind = "infer"
model = "m"
)";

Result<Scenario> parse(const std::string& load, const std::vector<std::string>& sets = {}) {
  return parse_scenario_text("name = \"t\"\n" + load + std::string(kRequest), "s.toml", sets);
}

TEST(Stages, OpenLoopStagesSetTheDurationToTheirSum) {
  auto s = parse(R"([load]
mode = "open"
rate = 100
[[load.stages]]
duration = "2s"
rate = 500
[[load.stages]]
duration = "3s"
rate = 500
)");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->load.stages.size(), 2u);
  EXPECT_EQ(s->load.duration, 5s);
  EXPECT_DOUBLE_EQ(s->load.stages[0].rate, 500);
  EXPECT_EQ(peak_connections(s->load), 100);
}

TEST(Stages, OpenLoopMayStartFromRateZero) {
  auto s = parse("[load]\nmode = \"open\"\n[[load.stages]]\nduration = \"1s\"\nrate = 10\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_DOUBLE_EQ(s->load.rate, 0);
}

TEST(Stages, ClosedLoopPeakConnectionsIsTheLargestTarget) {
  auto s = parse(R"([load]
connections = 10
[[load.stages]]
duration = "1s"
connections = 50
[[load.stages]]
duration = "1s"
connections = 0
)");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(peak_connections(s->load), 50);
  EXPECT_EQ(s->load.duration, 2s);
}

TEST(Stages, AnExplicitDurationScalesTheStages) {
  auto s = parse(
      "[load]\nconnections = 4\n[[load.stages]]\nduration = \"10s\"\nconnections = 8\n"
      "[[load.stages]]\nduration = \"30s\"\nconnections = 8\n",
      {"load.duration=4s"});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->load.duration, 4s);
  EXPECT_EQ(s->load.stages[0].duration, 1s);
  EXPECT_EQ(s->load.stages[1].duration, 3s);
}

TEST(Stages, TheOtherModesTargetIsALocatedError) {
  auto s = parse(
      "[load]\nmode = \"open\"\nrate = 5\n[[load.stages]]\nduration = \"1s\"\nconnections = 8\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("s.toml:5:1: load.stages[0].rate"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("load.stages[0].connections"), std::string::npos)
      << s.error().message;
}

TEST(Stages, MissingDurationAndUnknownKeysAreErrors) {
  auto s = parse("[load]\n[[load.stages]]\nconnections = 8\nramp = \"linear\"\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("load.stages[0].duration"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("ramp"), std::string::npos) << s.error().message;
  auto neg = parse("[load]\n[[load.stages]]\nduration = \"1s\"\nconnections = -1\n");
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.error().message.find("s.toml:5:15"), std::string::npos) << neg.error().message;
}

TEST(Stages, EveryShippedScenarioWithStagesValidates) {
  for (const char* name : {"baseline", "high", "stress", "sustained"}) {
    const auto path =
        std::filesystem::path(SERVELAB_SOURCE_DIR) / "scenarios" / (std::string(name) + ".toml");
    auto s = parse_scenario_file(path.string());
    ASSERT_TRUE(s.ok()) << path << ": " << (s.ok() ? "" : s.error().message);
    EXPECT_EQ(s->name, name);
    // `--set load.duration=...` shortens every scenario, stages or not.
    auto short_run = parse_scenario_file(path.string(), {"load.duration=2s"});
    ASSERT_TRUE(short_run.ok());
    EXPECT_EQ(short_run->load.duration, 2s);
  }
}

}  // namespace
}  // namespace servelab::scenario
