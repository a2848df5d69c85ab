#include <gtest/gtest.h>

#include <string>

#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kMinimal = R"(name = "t"
[[requests]]
kind = "infer"
model = "m"
)";

Result<Scenario> parse(const std::string& text) { return parse_scenario_text(text, "test.toml"); }

std::string error_of(const std::string& text) {
  Result<Scenario> r = parse(text);
  EXPECT_FALSE(r.ok()) << "parsed but should not have:\n" << text;
  return r.ok() ? std::string() : r.error().message;
}

TEST(PoolKeys, AbsentSectionsGetTheirDefaults) {
  Result<Scenario> r = parse(std::string(kMinimal));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->pool.min, 0);
  EXPECT_EQ(r->pool.max, 0);  // = load.connections
  EXPECT_EQ(r->pool.idle_timeout, 0s);
  EXPECT_EQ(r->pool.max_age, 0s);
  EXPECT_EQ(r->pool.health_check_interval, 0s);
  EXPECT_EQ(r->pool.health_check_path, "/v2/health/live");
  EXPECT_FALSE(r->tls.insecure);
  EXPECT_TRUE(r->tls.ca_file.empty());
  EXPECT_FALSE(r->http.http2);
  EXPECT_EQ(r->http.streams_per_connection, 100);
}

TEST(PoolKeys, EveryKeyIsRead) {
  Result<Scenario> r = parse(std::string(kMinimal) + R"(
[pool]
min = 4
max = 8
idle_timeout = "5s"
max_age = "10m"
health_check_interval = "30s"
health_check_path = "/healthz"
[tls]
insecure = true
ca_file = "/tmp/ca.pem"
[http]
http2 = true
streams_per_connection = 16
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->pool.min, 4);
  EXPECT_EQ(r->pool.max, 8);
  EXPECT_EQ(r->pool.idle_timeout, 5s);
  EXPECT_EQ(r->pool.max_age, 600s);
  EXPECT_EQ(r->pool.health_check_interval, 30s);
  EXPECT_EQ(r->pool.health_check_path, "/healthz");
  EXPECT_TRUE(r->tls.insecure);
  EXPECT_EQ(r->tls.ca_file, "/tmp/ca.pem");
  EXPECT_TRUE(r->http.http2);
  EXPECT_EQ(r->http.streams_per_connection, 16);
}

TEST(PoolKeys, MinAboveMaxIsAnErrorAtItsPosition) {
  const std::string e = error_of(std::string(kMinimal) + "[pool]\nmin = 9\nmax = 8\n");
  EXPECT_NE(e.find("test.toml:6:7: pool.min: expected at most pool.max (8), got 9"),
            std::string::npos)
      << e;
}

TEST(PoolKeys, MinAboveConnectionsIsAnErrorWhenMaxIsDefault) {
  const std::string e =
      error_of(std::string(kMinimal) + "[load]\nconnections = 2\n[pool]\nmin = 3\n");
  EXPECT_NE(e.find("pool.min: expected at most pool.max (2, from load.connections), got 3"),
            std::string::npos)
      << e;
}

TEST(PoolKeys, SubSecondIdleTimeoutAndMaxAgeAreRejected) {
  const std::string e =
      error_of(std::string(kMinimal) + "[pool]\nidle_timeout = \"500ms\"\nmax_age = \"1500ms\"\n");
  EXPECT_NE(e.find("pool.idle_timeout: expected whole seconds"), std::string::npos) << e;
  EXPECT_NE(e.find("pool.max_age: expected whole seconds"), std::string::npos) << e;
}

TEST(PoolKeys, UnknownPoolKeySuggestsTheClosest) {
  const std::string e = error_of(std::string(kMinimal) + "[pool]\nidle_timout = \"5s\"\n");
  EXPECT_NE(
      e.find(
          "test.toml:6:1: unknown key \"idle_timout\" in [pool]; did you mean \"idle_timeout\"?"),
      std::string::npos)
      << e;
}

TEST(PoolKeys, HealthCheckPathMustBeAPath) {
  const std::string e =
      error_of(std::string(kMinimal) + "[pool]\nhealth_check_path = \"health\"\n");
  EXPECT_NE(e.find("pool.health_check_path: expected a path starting with \"/\""),
            std::string::npos)
      << e;
}

TEST(PoolKeys, StreamsPerConnectionWithoutHttp2IsAnError) {
  const std::string e = error_of(std::string(kMinimal) + "[http]\nstreams_per_connection = 8\n");
  EXPECT_NE(e.find("http.streams_per_connection: only applies to HTTP/2"), std::string::npos) << e;
}

TEST(PoolKeys, WrongTypesSayWhatIsExpected) {
  const std::string e = error_of(std::string(kMinimal) +
                                 "[tls]\ninsecure = \"yes\"\nca_file = \"\"\n[http]\nhttp2 = 1\n");
  EXPECT_NE(e.find("tls.insecure"), std::string::npos) << e;
  EXPECT_NE(e.find("tls.ca_file: expected the path of a PEM file"), std::string::npos) << e;
  EXPECT_NE(e.find("http.http2"), std::string::npos) << e;
}

}  // namespace
}  // namespace servelab::scenario
