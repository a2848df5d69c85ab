// The scenario echo of result.json: written and read back from the key
// tables, in the exact form result files have always had.

#include "scenario/scenario_json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "scenario/scenario_parser.h"
#include "scenario_fixtures.h"

namespace servelab::scenario {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::value read_json(const std::string& relative) {
  std::ifstream in(std::string(SERVELAB_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

Scenario parsed(std::string_view text) {
  Result<Scenario> s = parse_scenario_text(text, "fixture.toml");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s).value() : Scenario{};
}

Scenario read_back(const json::value& echo) {
  Result<Scenario> s = scenario_from_json(echo);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s).value() : Scenario{};
}

std::string error_of(const json::value& echo) {
  Result<Scenario> s = scenario_from_json(echo);
  EXPECT_FALSE(s.ok()) << "read back but should not have: " << json::serialize(echo);
  return s.ok() ? std::string() : s.error().message;
}

// True when every key of `expected` is in `actual` with an equal value, the
// keys in the same order (`actual` may have more: keys added since).
::testing::AssertionResult contains(const json::value& actual, const json::value& expected,
                                    const std::string& at) {
  if (expected.is_object()) {
    if (!actual.is_object()) return ::testing::AssertionFailure() << at << " is not an object";
    const json::object& a = actual.as_object();
    size_t last = 0;
    for (const auto& kv : expected.as_object()) {
      const std::string path = at + "." + std::string(kv.key());
      const auto found = a.find(kv.key());
      if (found == a.end()) return ::testing::AssertionFailure() << path << " is missing";
      const auto index = static_cast<size_t>(found - a.begin());
      if (index < last) return ::testing::AssertionFailure() << path << " is out of order";
      last = index;
      if (auto r = contains(found->value(), kv.value(), path); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (expected.is_array() && actual.is_array() &&
      expected.as_array().size() == actual.as_array().size()) {
    for (size_t i = 0; i < expected.as_array().size(); ++i) {
      if (auto r = contains(actual.as_array()[i], expected.as_array()[i],
                            at + "[" + std::to_string(i) + "]");
          !r)
        return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (json::serialize(actual) == json::serialize(expected)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << at << " is " << json::serialize(actual) << ", expected " << json::serialize(expected);
}

TEST(ScenarioJson, EchoIsByteIdenticalToTheGoldenObjects) {
  const json::value golden = read_json("tests/scenario/golden/scenario_echo.json");
  for (auto [key, text] :
       {std::pair{"every_key", testing::kEveryKey}, {"closed_stages", testing::kClosedStages}}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(json::serialize(scenario_to_json(parsed(text))), json::serialize(golden.at(key)));
  }
}

TEST(ScenarioJson, RoundTripOfEverySectionChangesNothingButTheBody) {
  const json::object first = scenario_to_json(parsed(testing::kEveryKey));
  const Scenario back = read_back(first);
  json::object second = scenario_to_json(back);
  // The echo carries the http body's size, not the body: read back, it is empty.
  json::object expected = first;
  expected["requests"].as_array()[0].as_object()["body_bytes"] = 0U;
  EXPECT_EQ(json::serialize(second), json::serialize(expected));
  EXPECT_EQ(json::serialize(scenario_to_json(read_back(second))), json::serialize(second));

  EXPECT_EQ(back.source, "fixture.toml");
  EXPECT_EQ(back.load.mode, LoadMode::open);
  EXPECT_EQ(back.load.timeout, 1500ms);
  ASSERT_EQ(back.load.stages.size(), 2u);
  EXPECT_DOUBLE_EQ(back.load.stages[1].rate, 1000.5);
  EXPECT_FALSE(back.toggles.pooling);
  EXPECT_TRUE(back.toggles.async_loading);
  EXPECT_EQ(back.server.model_memory_budget, 64u << 20);
  EXPECT_EQ(back.server.dims, (std::vector<int>{16, 32, 8}));
  EXPECT_EQ(back.pool.max_age, 10min);
  EXPECT_EQ(back.tls.ca_file, "/etc/ssl/ca.pem");
  EXPECT_EQ(back.http.streams_per_connection, 8);
  ASSERT_EQ(back.requests.size(), 6u);
  EXPECT_EQ(back.requests[2].models, (std::vector<std::string>{"mlp-0", "mlp-1", "mlp-2"}));
  EXPECT_EQ(back.requests[3].model_weights, (std::vector<double>{3, 1.5}));
  EXPECT_TRUE(back.requests[4].send_seed);
  EXPECT_EQ(back.requests[4].seed, 11u);
  EXPECT_FALSE(back.requests[5].send_seed);
  EXPECT_EQ(back.thresholds.size(), 2u);
}

TEST(ScenarioJson, ReadBackRequestsHaveTheParsedMethodAndUrl) {
  const Scenario parsed_scenario = parsed(testing::kEveryKey);
  const Scenario back = read_back(scenario_to_json(parsed_scenario));
  for (size_t i = 0; i < parsed_scenario.requests.size(); ++i) {
    SCOPED_TRACE(parsed_scenario.requests[i].name);
    EXPECT_EQ(back.requests[i].kind, parsed_scenario.requests[i].kind);
    EXPECT_EQ(back.requests[i].method, parsed_scenario.requests[i].method);
    EXPECT_EQ(back.requests[i].url, parsed_scenario.requests[i].url);
  }
}

TEST(ScenarioJson, SecretHeaderValuesAreRedacted) {
  const json::object echo = scenario_to_json(parsed(testing::kEveryKey));
  const json::object& headers =
      echo.at("requests").as_array()[0].as_object().at("headers").as_object();
  EXPECT_EQ(headers.at("Authorization"), "<redacted>");
  EXPECT_EQ(headers.at("Content-Type"), "application/json");
}

// The golden result files are older than some keys: what they hold reads
// back and is written again unchanged, and the keys added since get defaults.
TEST(ScenarioJson, GoldenResultScenarioReadsBackUnchanged) {
  for (const char* file :
       {"tests/report/golden/result.json", "tests/report/golden/partial_result.json"}) {
    SCOPED_TRACE(file);
    const json::value golden = read_json(file).at("scenario");
    const Scenario s = read_back(golden);
    EXPECT_EQ(s.name, "baseline");
    EXPECT_EQ(s.requests.at(0).model, "mlp-0");
    EXPECT_EQ(s.requests.at(0).method, "POST");
    EXPECT_EQ(s.pool.health_check_path, "/v2/health/live");  // absent: the default
    EXPECT_TRUE(contains(json::value(scenario_to_json(s)), golden, "scenario"));
  }
}

TEST(ScenarioJson, WrongTypesAndBadValuesNameTheKey) {
  json::object echo = scenario_to_json(parsed(testing::kEveryKey));
  json::object bad = echo;
  bad["load"].as_object()["connections"] = "many";
  EXPECT_EQ(error_of(bad), "result: scenario.load.connections has the wrong type");
  bad = echo;
  bad["load"].as_object()["duration"] = "soon";
  EXPECT_EQ(error_of(bad).rfind("result: scenario.load.duration: ", 0), 0u) << error_of(bad);
  bad = echo;
  bad["load"].as_object()["mode"] = "half-open";
  EXPECT_EQ(error_of(bad), "result: scenario.load.mode: unknown value \"half-open\"");
  bad = echo;
  bad["requests"].as_array()[1].as_object()["rows"] = true;
  EXPECT_EQ(error_of(bad), "result: scenario.requests[1].rows has the wrong type");
  bad = echo;
  bad["toggles"] = 3;
  EXPECT_EQ(error_of(bad), "result: scenario.toggles has the wrong type");
  bad = echo;
  bad.erase("name");
  EXPECT_EQ(error_of(bad), "result: missing scenario.name");
  EXPECT_EQ(error_of(json::value(4)), "result: scenario has the wrong type");
}

}  // namespace
}  // namespace servelab::scenario
