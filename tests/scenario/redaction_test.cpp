// The copy of a scenario that is recorded carries no credentials
// (scenario/redaction.h): URLs, request names, headers and --set arguments.
#include "scenario/redaction.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "scenario/scenario_json.h"
#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

TEST(Redaction, ScenarioCopyHidesUrlCredentialsAndSecretHeaders) {
  auto s = parse_scenario_text(R"(
name = "r"
target = "http://user:PW1@127.0.0.1:8000"
[[requests]]
kind = "http"
url = "/x?token=TOK2&page=1"
headers = { Cookie = "C3", "X-Auth-Token" = "X4", "x-goog-api-key" = "G5", Accept = "text/plain" }
)",
                               "<test>");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const Scenario r = redacted(*s);
  EXPECT_EQ(r.target, "http://***@127.0.0.1:8000");
  EXPECT_EQ(r.requests[0].url, "/x?token=***&page=1");
  EXPECT_EQ(r.requests[0].name, "http GET /x?token=***&page=1");
  const std::string echo = boost::json::serialize(scenario_to_json(r));
  for (const char* secret : {"PW1", "TOK2", "C3", "X4", "G5"})
    EXPECT_EQ(echo.find(secret), std::string::npos) << secret << " in " << echo;
  EXPECT_NE(echo.find("text/plain"), std::string::npos);
  // The scenario itself, which the run uses, is untouched.
  EXPECT_EQ(s->target, "http://user:PW1@127.0.0.1:8000");
}

TEST(Redaction, EchoRedactsACookieEvenWithoutTheRedactedCopy) {
  auto s = parse_scenario_text(
      "name = \"r\"\n[[requests]]\nkind = \"http\"\nheaders = { Cookie = \"C3\" }\n", "<test>");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const std::string echo = boost::json::serialize(scenario_to_json(*s));
  EXPECT_EQ(echo.find("C3"), std::string::npos) << echo;
}

TEST(Redaction, OverridesHideHeaderValuesAndUrlCredentials) {
  EXPECT_EQ(redact_override("requests.1.headers.Authorization=Bearer S1"),
            "requests.1.headers.Authorization=<redacted>");
  EXPECT_EQ(redact_override("target=http://u:S2@h:1"), "target=http://***@h:1");
  EXPECT_EQ(redact_override("requests.0.url=/x?api_key=S3"), "requests.0.url=/x?api_key=***");
  const std::string table =
      redact_override(R"(requests.0.headers={"X-Api-Key" = "S4", Accept = "a"})");
  EXPECT_EQ(table.find("S4"), std::string::npos) << table;
  EXPECT_NE(table.find("Accept"), std::string::npos) << table;
  const std::string nested = redact_override(
      R"(requests=[{kind = "http", url = "http://u:S5@h/", headers = {Cookie = "S6"}}])");
  EXPECT_EQ(nested.find("S5"), std::string::npos) << nested;
  EXPECT_EQ(nested.find("S6"), std::string::npos) << nested;
  // Nothing secret: shown exactly as given.
  EXPECT_EQ(redact_override("load.duration=2s"), "load.duration=2s");
  EXPECT_EQ(redact_override("requests.0.headers={Accept = \"a\"}"),
            "requests.0.headers={Accept = \"a\"}");
}

TEST(Redaction, ErrorsAboutAnOverrideDoNotQuoteItsSecret) {
  auto bad = parse_scenario_text("name = \"r\"\n[[requests]]\nkind = \"http\"\n", "<test>",
                                 {"target=ftp://u:S8@h"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.find("S8"), std::string::npos) << bad.error().message;
  // A curl-style header line where a table belongs: refused, and not quoted.
  EXPECT_EQ(redact_override("requests.0.headers=Authorization: Bearer S9"),
            "requests.0.headers=<redacted>");
  auto curl_style = parse_scenario_text("name = \"r\"\n[[requests]]\nkind = \"http\"\n", "<test>",
                                        {"requests.0.headers=Authorization: Bearer S9"});
  ASSERT_FALSE(curl_style.ok());
  EXPECT_EQ(curl_style.error().message.find("S9"), std::string::npos) << curl_style.error().message;
}

}  // namespace
}  // namespace servelab::scenario

namespace servelab::scenario {
namespace {

TEST(ScrapeMetricsKey, DefaultsToAutoReadsOnOffAndRefusesOthers) {
  const std::string base = "name = \"r\"\n[[requests]]\nkind = \"http\"\n";
  auto plain = parse_scenario_text(base, "<test>");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->server.scrape_metrics, ScrapeMetrics::auto_);
  auto off = parse_scenario_text(base, "<test>", {"server.scrape_metrics=off"});
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->server.scrape_metrics, ScrapeMetrics::off);
  const std::string echo = boost::json::serialize(scenario_to_json(*off));
  EXPECT_NE(echo.find("\"scrape_metrics\":\"off\""), std::string::npos) << echo;
  auto bad = parse_scenario_text(base + "[server]\nscrape_metrics = \"sometimes\"\n", "<test>");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("scrape_metrics"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find(":5:"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace servelab::scenario
