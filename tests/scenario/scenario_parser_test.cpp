#include "scenario/scenario_parser.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace servelab::scenario {
namespace {

using namespace std::chrono_literals;

// The smallest valid scenario; tests append or prepend what they check.
constexpr std::string_view kMinimal = R"(name = "t"
[[requests]]
kind = "infer"
model = "m"
)";

Result<Scenario> parse(std::string_view text) { return parse_scenario_text(text, "test.toml"); }

// The error text of a scenario that must not parse.
std::string error_of(std::string_view text) {
  Result<Scenario> r = parse(text);
  EXPECT_FALSE(r.ok()) << "parsed but should not have:\n" << text;
  return r.ok() ? std::string() : r.error().message;
}

TEST(Scenario, EveryShippedScenarioFileParses) {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"scenarios", "scenarios/examples"}) {
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(SERVELAB_SOURCE_DIR) / dir)) {
      if (entry.path().extension() == ".toml") files.push_back(entry.path());
    }
  }
  ASSERT_GE(files.size(), 3u);  // baseline + the two examples at least
  for (const auto& file : files) {
    Result<Scenario> r = parse_scenario_file(file.string());
    EXPECT_TRUE(r.ok()) << file << ":\n" << (r.ok() ? "" : r.error().message);
  }
}

TEST(Scenario, BaselineIsEmbeddedClosedLoopInferAt100Connections) {
  Result<Scenario> r =
      parse_scenario_file(std::string(SERVELAB_SOURCE_DIR) + "/scenarios/baseline.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "baseline");
  EXPECT_EQ(r->target, "embedded");
  EXPECT_EQ(r->load.mode, LoadMode::closed);
  EXPECT_EQ(r->load.connections, 100);
  EXPECT_EQ(r->load.threads, 1);
  EXPECT_EQ(r->load.duration, 10s);
  EXPECT_EQ(r->load.warmup, 1s);
  EXPECT_EQ(r->server.threads, 1);
  EXPECT_EQ(r->server.dims, (std::vector<int>{256, 256, 256}));
  ASSERT_EQ(r->requests.size(), 1u);
  EXPECT_EQ(r->requests[0].kind, RequestKind::infer);
  EXPECT_EQ(r->requests[0].model, "mlp-0");
}

TEST(Scenario, OpenLoopExampleReadsRateArrivalAndWeights) {
  Result<Scenario> r =
      parse_scenario_file(std::string(SERVELAB_SOURCE_DIR) + "/scenarios/examples/open_loop.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->load.mode, LoadMode::open);
  EXPECT_EQ(r->load.arrival, Arrival::poisson);
  EXPECT_GT(r->load.rate, 0.0);
  ASSERT_EQ(r->requests.size(), 2u);
  EXPECT_EQ(r->requests[0].weight, 3.0);
}

TEST(Scenario, AbsentKeysGetTheirDefaults) {
  Result<Scenario> r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Scenario& s = *r;
  EXPECT_EQ(s.source, "test.toml");
  EXPECT_EQ(s.target, "embedded");
  EXPECT_EQ(s.description, "");
  EXPECT_TRUE(s.thresholds.empty());
  EXPECT_EQ(s.load.mode, LoadMode::closed);
  EXPECT_EQ(s.load.connections, 100);
  EXPECT_EQ(s.load.threads, 1);
  EXPECT_EQ(s.load.rate, 0.0);
  EXPECT_EQ(s.load.arrival, Arrival::constant);
  EXPECT_EQ(s.load.duration, 10s);
  EXPECT_EQ(s.load.warmup, 0s);
  EXPECT_EQ(s.load.timeout, 10s);
  EXPECT_EQ(s.load.think_time, 0s);
  EXPECT_TRUE(s.toggles.pooling);
  EXPECT_FALSE(s.toggles.batching);
  EXPECT_FALSE(s.toggles.streaming);
  EXPECT_FALSE(s.toggles.async_loading);
  EXPECT_EQ(s.server.threads, 1);
  EXPECT_EQ(s.server.model_repository, "");
  EXPECT_EQ(s.server.model_count, 1);
  EXPECT_EQ(s.server.dims, (std::vector<int>{256, 256, 256}));
  EXPECT_EQ(s.server.model_seed, 42u);
  ASSERT_EQ(s.requests.size(), 1u);
  const RequestSpec& q = s.requests[0];
  EXPECT_EQ(q.kind, RequestKind::infer);
  EXPECT_EQ(q.name, "infer m");
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.weight, 1.0);
  EXPECT_EQ(q.rows, 1);
  EXPECT_EQ(q.seed, 1u);
}

TEST(Scenario, HttpRequestReadsMethodUrlHeadersBodyAndDefaultName) {
  Result<Scenario> r = parse(R"(name = "t"
target = "http://127.0.0.1:8080"
[[requests]]
kind = "http"
method = "POST"
url = "/echo"
headers = { "Content-Type" = "application/json", "X-Trace" = "1" }
body = '{"a": 1}'
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const RequestSpec& q = r->requests[0];
  EXPECT_EQ(r->target, "http://127.0.0.1:8080");
  EXPECT_EQ(q.kind, RequestKind::http);
  EXPECT_EQ(q.name, "http POST /echo");
  EXPECT_EQ(q.url, "/echo");
  EXPECT_EQ(q.body, R"({"a": 1})");
  ASSERT_EQ(q.headers.size(), 2u);
  const bool has_type = std::any_of(q.headers.begin(), q.headers.end(), [](const Header& h) {
    return h.name == "Content-Type" && h.value == "application/json";
  });
  EXPECT_TRUE(has_type);
}

TEST(Scenario, SyntaxErrorGivesTomlPositionAndDescription) {
  const std::string e = error_of("name = \"t\"\n[load\nmode = \"open\"\n");
  EXPECT_TRUE(e.starts_with("test.toml:2:")) << e;
  EXPECT_NE(e.find("TOML syntax error: "), std::string::npos) << e;
  EXPECT_GT(e.size(), std::string("test.toml:2:1: TOML syntax error: ").size()) << e;
}

TEST(Scenario, UnknownKeySuggestsTheClosestValidKey) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[load]\nconections = 10\n"),
            R"(test.toml:6:1: unknown key "conections" in [load]; did you mean "connections"?)");
}

TEST(Scenario, UnknownKeyFarFromAnyListsTheValidKeys) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[toggles]\nturbo = true\n"),
            "test.toml:6:1: unknown key \"turbo\" in [toggles]; valid keys: pooling, batching, "
            "streaming, async_loading");
}

TEST(Scenario, UnknownSectionAndRequestKeyAreReportedWhereTheyAre) {
  const std::string e = error_of(R"(name = "t"
[lod]
mode = "open"
[[requests]]
kind = "infer"
modle = "m"
)");
  EXPECT_NE(e.find(R"(test.toml:2:2: unknown key "lod" at the top level; did you mean "load"?)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(R"(test.toml:6:1: unknown key "modle" in requests[0]; did you mean "model"?)"),
            std::string::npos)
      << e;
}

TEST(Scenario, WrongTypeSaysTheExpectedType) {
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "[load]\nconnections = \"100\"\n"),
      R"(test.toml:6:15: load.connections: expected an integer from 1 to 1000000, got string "100")");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[toggles]\npooling = 1\n"),
            "test.toml:6:11: toggles.pooling: expected a boolean (true or false), got integer 1");
  EXPECT_EQ(error_of("load = 5\n" + std::string(kMinimal)),
            "test.toml:1:8: load: expected a table ([load]), got integer 5");
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "[load]\nduration = 10\n"),
      R"(test.toml:6:12: load.duration: expected a duration string such as "10s" or "500ms", got integer 10)");
}

TEST(Scenario, BadEnumValueListsTheChoicesAndSuggests) {
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "[load]\nmode = \"clsoed\"\n"),
      R"(test.toml:6:8: load.mode: expected one of "closed", "open", got "clsoed"; did you mean "closed"?)");
  EXPECT_EQ(
      error_of("name = \"t\"\n[[requests]]\nkind = \"grpc\"\n"),
      R"(test.toml:3:8: requests[0].kind: expected one of "http", "infer", "generate", got "grpc")");
  EXPECT_EQ(
      error_of("name = \"t\"\n[[requests]]\nkind = \"http\"\nmethod = \"get\"\n"),
      R"(test.toml:4:10: requests[0].method: expected one of "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", got "get"; did you mean "GET"?)");
}

TEST(Scenario, BadDurationSaysWhatIsAccepted) {
  const std::string e = error_of(std::string(kMinimal) + "[load]\nduration = \"5x\"\n");
  EXPECT_TRUE(e.starts_with(
      R"(test.toml:6:12: load.duration: expected a duration such as "30s", "500ms", "250us", "10m", "1h" or "1m30s", got "5x")"))
      << e;
  EXPECT_NE(e.find("unknown unit \"x\""), std::string::npos) << e;
}

TEST(Scenario, ZeroAndNegativeNumbersAreRejected) {
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "[load]\nconnections = 0\n"),
      "test.toml:6:15: load.connections: expected an integer from 1 to 1000000, got integer 0");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[load]\nthreads = -2\n"),
            "test.toml:6:11: load.threads: expected an integer from 1 to 1024, got integer -2");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[load]\nduration = \"0s\"\n"),
            R"(test.toml:6:12: load.duration: expected a duration > 0, got "0s")");
  EXPECT_EQ(error_of(std::string(kMinimal) + "weight = 0\n"),
            "test.toml:5:10: requests[0].weight: expected a number > 0, got integer 0");
  EXPECT_EQ(
      error_of(std::string(kMinimal) + "rows = 5000\n"),
      "test.toml:5:8: requests[0].rows: expected an integer from 1 to 4096, got integer 5000");
  EXPECT_EQ(error_of(std::string(kMinimal) + "seed = -1\n"),
            "test.toml:5:8: requests[0].seed: expected an integer >= 0, got integer -1");
}

TEST(Scenario, ThreadsMayNotExceedConnections) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[load]\nconnections = 2\nthreads = 4\n"),
            "test.toml:7:11: load.threads: expected at most load.connections (2) threads, got 4");
}

TEST(Scenario, MissingNameIsReportedAtTheTopLevel) {
  EXPECT_EQ(error_of("[[requests]]\nkind = \"infer\"\nmodel = \"m\"\n"),
            "test.toml:1:1: name: missing required key; expected a string naming the scenario");
}

TEST(Scenario, MissingOrEmptyRequestsAreErrors) {
  EXPECT_EQ(error_of("name = \"t\"\n"),
            "test.toml:1:1: requests: missing required key; expected at least one [[requests]] "
            "table");
  EXPECT_EQ(error_of("name = \"t\"\nrequests = []\n"),
            "test.toml:2:12: requests: expected at least one [[requests]] table, got none");
}

TEST(Scenario, OpenModeWithoutRateIsAnError) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[load]\nmode = \"open\"\n"),
            "test.toml:6:8: load.rate: required when load.mode = \"open\"; expected the arrival "
            "rate in requests per second, a number > 0");
}

TEST(Scenario, RateInClosedModeIsAnErrorThatSaysWhy) {
  const std::string e = error_of(std::string(kMinimal) + "[load]\nrate = 100\n");
  EXPECT_TRUE(e.starts_with("test.toml:6:8: load.rate: only applies to load.mode = \"open\"")) << e;
  EXPECT_NE(e.find("closed loop sends each connection's next request"), std::string::npos) << e;
}

TEST(Scenario, InferWithoutModelIsReportedAtItsTable) {
  EXPECT_EQ(error_of("name = \"t\"\n[[requests]]\nkind = \"infer\"\n"),
            "test.toml:2:1: requests[0].model: missing required key; expected the name of the "
            "model to infer against (a string), or models = [...] / model_count = N to spread "
            "requests over several");
}

TEST(Scenario, KeyOfTheOtherRequestKindIsAnError) {
  EXPECT_EQ(error_of("name = \"t\"\n[[requests]]\nkind = \"http\"\nmodel = \"m\"\n"),
            "test.toml:4:9: requests[0].model: only applies to kind = \"infer\" or \"generate\"; "
            "this request has "
            "kind = \"http\"");
  EXPECT_EQ(error_of(std::string(kMinimal) + "url = \"/x\"\n"),
            "test.toml:5:7: requests[0].url: only applies to kind = \"http\" or \"generate\"; this "
            "request has "
            "kind = \"infer\"");
}

TEST(Scenario, TargetMustBeEmbeddedOrAnHttpUrl) {
  EXPECT_EQ(error_of("target = \"127.0.0.1:80\"\n" + std::string(kMinimal)),
            "test.toml:1:10: target: expected \"embedded\" or a base URL starting with http:// or "
            "https://, got \"127.0.0.1:80\"");
}

TEST(Scenario, DimsNeedTwoWidthsInRange) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "[server]\ndims = [256]\n"),
            "test.toml:6:8: server.dims: expected at least 2 widths (input, ..., output), got 1");
  EXPECT_EQ(error_of(std::string(kMinimal) + "[server]\ndims = [256, 0]\n"),
            "test.toml:6:14: server.dims[1]: expected an integer from 1 to 65536, got integer 0");
}

TEST(Scenario, EveryProblemIsReportedOnItsOwnLineInFileOrder) {
  const std::string e = error_of(R"(name = 5
[load]
mode = "clsoed"
[[requests]]
kind = "infer"
)");
  EXPECT_EQ(e,
            "test.toml:1:8: name: expected a string, got integer 5\n"
            "test.toml:3:8: load.mode: expected one of \"closed\", \"open\", got \"clsoed\"; did "
            "you mean \"closed\"?\n"
            "test.toml:4:1: requests[0].model: missing required key; expected the name of the "
            "model to infer against (a string), or models = [...] / model_count = N to spread "
            "requests over several");
}

TEST(Scenario, ModelRepositoryResolvesAgainstTheScenarioFolder) {
  const std::string text = std::string(kMinimal) + "[server]\nmodel_repository = \"models\"\n";
  Result<Scenario> relative = parse_scenario_text(text, "/srv/scenarios/s.toml");
  ASSERT_TRUE(relative.ok()) << relative.error().message;
  EXPECT_EQ(relative->server.model_repository, "/srv/scenarios/models");
  // A path given on the command line is relative to the working directory.
  Result<Scenario> overridden =
      parse_scenario_text(text, "/srv/scenarios/s.toml", {"server.model_repository=m2"});
  ASSERT_TRUE(overridden.ok()) << overridden.error().message;
  EXPECT_EQ(overridden->server.model_repository, "m2");
}

TEST(Scenario, MissingFileSaysWhichFile) {
  Result<Scenario> r = parse_scenario_file("/nonexistent/nope.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "/nonexistent/nope.toml: cannot open scenario file");
}

TEST(Scenario, ToStringNamesMatchTheFileValues) {
  EXPECT_EQ(to_string(LoadMode::closed), "closed");
  EXPECT_EQ(to_string(LoadMode::open), "open");
  EXPECT_EQ(to_string(Arrival::constant), "constant");
  EXPECT_EQ(to_string(Arrival::poisson), "poisson");
  EXPECT_EQ(to_string(RequestKind::http), "http");
  EXPECT_EQ(to_string(RequestKind::infer), "infer");
}

}  // namespace
}  // namespace servelab::scenario

namespace servelab::scenario {
namespace {

TEST(ScenarioEngine, EngineDefaultsToAutoAndReadsEachChoice) {
  Result<Scenario> d =
      parse_scenario_text("name = \"t\"\n[[requests]]\nkind = \"http\"\n", "test.toml");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->load.engine, EngineKind::auto_);
  for (auto [text, kind] : {std::pair{"curl", EngineKind::curl},
                            {"native", EngineKind::native},
                            {"auto", EngineKind::auto_}}) {
    Result<Scenario> r = parse_scenario_text(
        fmt::format("name = \"t\"\n[load]\nengine = \"{}\"\n[[requests]]\nkind = \"http\"\n", text),
        "test.toml");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->load.engine, kind) << text;
    EXPECT_EQ(to_string(r->load.engine), text);
  }
}

TEST(ScenarioEngine, UnknownEngineNamesTheChoices) {
  Result<Scenario> r = parse_scenario_text(
      "name = \"t\"\n[load]\nengine = \"wrk\"\n[[requests]]\nkind = \"http\"\n", "test.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message,
      "test.toml:3:10: load.engine: expected one of \"curl\", \"native\", \"auto\", got \"wrk\"");
}

}  // namespace
}  // namespace servelab::scenario
