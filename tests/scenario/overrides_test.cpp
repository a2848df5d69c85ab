#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kScenario = R"(name = "t"
[load]
connections = 10
[[requests]]
kind = "infer"
model = "mlp-0"
)";

Result<Scenario> with(std::vector<std::string> overrides) {
  return parse_scenario_text(kScenario, "test.toml", overrides);
}

std::string error_with(std::vector<std::string> overrides) {
  Result<Scenario> r = with(overrides);
  EXPECT_FALSE(r.ok());
  return r.ok() ? std::string() : r.error().message;
}

TEST(Overrides, SetsANestedKey) {
  Result<Scenario> r = with({"load.connections=8"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->load.connections, 8);
}

TEST(Overrides, CreatesAbsentKeysAndTables) {
  Result<Scenario> r = with({"load.rate=250", "load.mode=open", "server.threads=2"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->load.mode, LoadMode::open);
  EXPECT_EQ(r->load.rate, 250.0);
  EXPECT_EQ(r->server.threads, 2);
}

TEST(Overrides, AddressesArrayElementsByIndex) {
  Result<Scenario> r = with({"requests.0.model=mlp-1", "requests.0.rows=4"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->requests[0].model, "mlp-1");
  EXPECT_EQ(r->requests[0].rows, 4);
  EXPECT_EQ(r->requests[0].name, "infer mlp-1");
}

TEST(Overrides, ValueThatIsNotTomlIsAPlainString) {
  Result<Scenario> r = with({"load.duration=30s", "target=http://127.0.0.1:9000", "name=x y"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->load.duration, 30s);
  EXPECT_EQ(r->target, "http://127.0.0.1:9000");
  EXPECT_EQ(r->name, "x y");
}

TEST(Overrides, ValueIsReadAsToml) {
  Result<Scenario> r =
      with({"toggles.pooling=false", "server.dims=[8, 4]", R"(description="a \"b\"")"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->toggles.pooling);
  EXPECT_EQ(r->server.dims, (std::vector<int>{8, 4}));
  EXPECT_EQ(r->description, "a \"b\"");
}

TEST(Overrides, LaterOverrideOfTheSameKeyWins) {
  Result<Scenario> r = with({"load.connections=8", "load.connections=9"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->load.connections, 9);
}

TEST(Overrides, UnknownPathNamesThePartThatDoesNotExist) {
  EXPECT_EQ(error_with({"lod.mode=open"}),
            R"(--set lod.mode=open: unknown key "lod" at the top level; did you mean "load"?)");
  EXPECT_EQ(
      error_with({"load.conections=5"}),
      R"(--set load.conections=5: unknown key "conections" in [load]; did you mean "connections"?)");
  EXPECT_EQ(error_with({"requests.3.model=m"}),
            "--set requests.3.model=m: requests.3 does not exist: requests has 1 element(s), "
            "indexed from 0");
  EXPECT_EQ(error_with({"requests.first.model=m"}),
            "--set requests.first.model=m: requests is an array; expected an element index (0, 1, "
            "...) after it, got \"first\"");
  EXPECT_EQ(error_with({"name.first=m"}),
            "--set name.first=m: name is a string, not a table, so it has no \"first\"");
}

TEST(Overrides, MalformedAssignmentIsAnError) {
  EXPECT_EQ(error_with({"load.connections"}),
            "--set load.connections: expected key=value, e.g. --set load.duration=30s");
  EXPECT_EQ(error_with({"load..mode=open"}),
            "--set load..mode=open: empty part in key \"load..mode\"");
}

TEST(Overrides, InvalidValueErrorPointsAtTheFlag) {
  EXPECT_EQ(error_with({"load.connections=many"}),
            "--set load.connections=many: load.connections: expected an integer from 1 to "
            "1000000, got string \"many\"");
  EXPECT_EQ(error_with({"load.mode=clsoed"}),
            "--set load.mode=clsoed: load.mode: expected one of \"closed\", \"open\", got "
            "\"clsoed\"; did you mean \"closed\"?");
  EXPECT_EQ(error_with({"server.dims=[0, 4]"}),
            "--set server.dims=[0, 4]: server.dims[0]: expected an integer from 1 to 65536, got "
            "integer 0");
}

TEST(Overrides, ErrorsFromOverridesComeBeforeFileErrors) {
  Result<Scenario> r = parse_scenario_text(
      "name = 1\n[[requests]]\nkind = \"infer\"\nmodel = \"m\"\n", "test.toml", {"load.threads=0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message,
      "--set load.threads=0: load.threads: expected an integer from 1 to 1024, got integer 0\n"
      "test.toml:1:8: name: expected a string, got integer 1");
}

}  // namespace
}  // namespace servelab::scenario
