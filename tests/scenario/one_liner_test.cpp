// `servelab run URL ...`: the flags become scenario TOML that the ordinary
// parser reads into the scenario a file would give.

#include "scenario/one_liner.h"

#include <gtest/gtest.h>

#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

Scenario parsed(const OneLiner& o) {
  auto text = one_liner_toml(o);
  EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message);
  if (!text.ok()) return {};
  auto s = parse_scenario_text(*text, "<command line>");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message) << "\n" << *text;
  return s.ok() ? *s : Scenario{};
}

TEST(OneLiner, DefaultsAreAClosedLoopGetLikeWrks) {
  OneLiner o;
  o.url = "http://127.0.0.1:8080/index.html";
  const Scenario s = parsed(o);
  EXPECT_EQ(s.target, "http://127.0.0.1:8080");
  EXPECT_EQ(s.load.mode, LoadMode::closed);
  EXPECT_EQ(s.load.connections, 10);
  EXPECT_EQ(s.load.duration, std::chrono::seconds(10));
  ASSERT_EQ(s.requests.size(), 1u);
  EXPECT_EQ(s.requests[0].kind, RequestKind::http);
  EXPECT_EQ(s.requests[0].method, "GET");
  EXPECT_EQ(s.requests[0].url, "/index.html");
  EXPECT_TRUE(s.requests[0].headers.empty());
  EXPECT_TRUE(s.requests[0].body.empty());
}

TEST(OneLiner, EveryFlagReachesItsScenarioKey) {
  OneLiner o;
  o.url = "https://example.test:8443/v1/items?limit=5&q=a%20b";
  o.connections = 64;
  o.duration = "1m30s";
  o.rate = 2500;
  o.threads = 2;
  o.timeout = "750ms";
  o.headers = {"Authorization: Bearer 'quoted' \"both\"", "X-Trace:abc", "Accept : */*"};
  o.method = "POST";
  o.body = "{\"k\": \"line\\nbreak\", \"q\": \"'\"}\n";
  const Scenario s = parsed(o);
  EXPECT_EQ(s.target, "https://example.test:8443");
  EXPECT_EQ(s.load.mode, LoadMode::open);
  EXPECT_DOUBLE_EQ(s.load.rate, 2500);
  EXPECT_EQ(s.load.connections, 64);
  EXPECT_EQ(s.load.threads, 2);
  EXPECT_EQ(s.load.duration, std::chrono::seconds(90));
  EXPECT_EQ(s.load.timeout, std::chrono::milliseconds(750));
  ASSERT_EQ(s.requests.size(), 1u);
  const RequestSpec& r = s.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "/v1/items?limit=5&q=a%20b");
  EXPECT_EQ(r.body, o.body);  // quotes, backslashes and newlines survive the TOML
  ASSERT_EQ(r.headers.size(), 3u);
  auto value = [&](const std::string& name) {
    for (const Header& h : r.headers)
      if (h.name == name) return h.value;
    return std::string("<absent>");
  };
  EXPECT_EQ(value("Authorization"), "Bearer 'quoted' \"both\"");
  EXPECT_EQ(value("X-Trace"), "abc");
  EXPECT_EQ(value("Accept"), "*/*");
}

TEST(OneLiner, AUrlWithoutAPathLoadsTheRoot) {
  OneLiner o;
  o.url = "http://[::1]:9000";
  EXPECT_EQ(parsed(o).requests.at(0).url, "/");
  EXPECT_EQ(parsed(o).target, "http://[::1]:9000");
  o.url = "http://localhost:9000?x=1";
  EXPECT_EQ(parsed(o).requests.at(0).url, "/?x=1");
}

TEST(OneLiner, BadFlagsAreErrorsNamingThem) {
  OneLiner o;
  o.url = "http://127.0.0.1:1/";
  o.headers = {"NoColon"};
  auto header = one_liner_toml(o);
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.error().message.find("-H 'NoColon': expected Name: value"), std::string::npos)
      << header.error().message;

  OneLiner twice;
  twice.url = "http://127.0.0.1:1/";
  twice.headers = {"X-A: 1", "X-A: 2"};
  auto dup = one_liner_toml(twice);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("given twice"), std::string::npos) << dup.error().message;

  OneLiner bad_url;
  bad_url.url = "ftp://127.0.0.1/";
  EXPECT_FALSE(one_liner_toml(bad_url).ok());
  bad_url.url = "http://";
  EXPECT_FALSE(one_liner_toml(bad_url).ok());

  // What the parser refuses in a file it refuses here, with the same words.
  OneLiner zero;
  zero.url = "http://127.0.0.1:1/";
  zero.duration = "soon";
  auto text = one_liner_toml(zero);
  ASSERT_TRUE(text.ok());
  auto s = parse_scenario_text(*text, "<command line>");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("load.duration"), std::string::npos) << s.error().message;
}

TEST(OneLiner, TheDescriptionKeepsNoCredentials) {
  OneLiner o;
  o.url = "http://user:secret@127.0.0.1:1/x?api_key=hunter2&page=2";
  const Scenario s = parsed(o);
  EXPECT_EQ(s.description.find("secret"), std::string::npos) << s.description;
  EXPECT_EQ(s.description.find("hunter2"), std::string::npos) << s.description;
  EXPECT_NE(s.description.find("page=2"), std::string::npos) << s.description;
}

TEST(OneLiner, OnlyHttpUrlsAreUrlArguments) {
  EXPECT_TRUE(is_url_argument("http://127.0.0.1/"));
  EXPECT_TRUE(is_url_argument("https://h/"));
  EXPECT_FALSE(is_url_argument("scenarios/baseline.toml"));
  EXPECT_FALSE(is_url_argument("-"));
  EXPECT_FALSE(is_url_argument("httpfile.toml"));
}

}  // namespace
}  // namespace servelab::scenario
