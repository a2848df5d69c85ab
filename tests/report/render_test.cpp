// CSV and Markdown of a fixed result file match golden files; the HTML page
// is well-formed markup with the three plots; a partial result says so.
// Regenerate the goldens after an intended format change with
// SERVELAB_UPDATE_GOLDEN=1 and review the diff.

#include <fstream>
#include <sstream>

// Boost.PropertyTree trips GCC 12's -Wmaybe-uninitialized under the sanitizers
// inside its own headers; the warning is not about this code.
#pragma GCC diagnostic push
#ifndef __clang__  // clang has no -Wmaybe-uninitialized
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#pragma GCC diagnostic pop
#include <gtest/gtest.h>

#include "report/csv_report.h"
#include "report/html_report.h"
#include "report/markdown_report.h"
#include "report/result_json.h"
#include "report_fixture.h"

namespace servelab::report {
namespace {

using testing::expect_golden;
using testing::golden_record;
using testing::read_text;

// Parses XHTML-compatible markup (the DOCTYPE line removed) as XML.
boost::property_tree::ptree parse_markup(const std::string& html) {
  std::istringstream in(html.substr(html.find("<html")));
  boost::property_tree::ptree tree;
  boost::property_tree::read_xml(in, tree);
  return tree;
}

int count_svg(const boost::property_tree::ptree& node, const std::string& id) {
  int n = 0;
  for (const auto& [name, child] : node) {
    if (name == "svg" && child.get<std::string>("<xmlattr>.id", "") == id) ++n;
    n += count_svg(child, id);
  }
  return n;
}

TEST(Render, CsvOfAFixedResultMatchesGolden) {
  const std::string csv = csv_report({golden_record()});
  expect_golden("result.csv", csv);
  // The header is the documented, stable column list.
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "scenario,toggles,inert_toggles,partial,mode,connections,threads,rate,"
            "duration_s,requests,ok,errors,error_rate,rps,p50_ms,p90_ms,p99_ms,p99_9_ms,"
            "max_ms,mean_ms,late,unfinished,connections_opened,connection_reuse_rate,"
            "client_cpu_s,started_at,git_commit,ttft_p50_ms,ttft_p99_ms,itl_p50_ms,"
            "itl_p99_ms,output_tokens,tokens_per_second");
}

TEST(Render, MarkdownOfAFixedResultMatchesGolden) {
  const std::string md = markdown_report({golden_record()});
  expect_golden("result.md", md);
  EXPECT_NE(md.find("| latency (ms) | p50 |"), std::string::npos);
}

TEST(Render, MarkdownOfSeveralResultsIsAnAblationTableShowingInertToggles) {
  RunRecord off = golden_record();
  off.scenario.toggles = {};
  off.scenario.toggles.pooling = false;
  off.inert_toggles.clear();
  const std::string md = markdown_report({off, golden_record()});
  expect_golden("ablation.md", md);
  EXPECT_NE(md.find("| all-off | 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("streaming: no effect"), std::string::npos) << md;
}

TEST(Render, HtmlIsWellFormedSelfContainedAndHasTheThreePlots) {
  const std::string html = html_report({golden_record(), golden_record("partial_result.json")});
  boost::property_tree::ptree tree;
  ASSERT_NO_THROW(tree = parse_markup(html)) << html.substr(0, 2000);
  EXPECT_EQ(count_svg(tree, "percentile-plot"), 1);
  EXPECT_EQ(count_svg(tree, "timeline-plot"), 1);
  EXPECT_EQ(count_svg(tree, "ablation-plot"), 1);
  // Self-contained: no scripts, nothing loaded from elsewhere.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_NE(html.find("PARTIAL"), std::string::npos);
}

// A run over 600 s has a timeline of wider buckets (36 s for 6 hours): it
// round-trips through result.json, and the HTML plot shows requests per
// second (requests ÷ bucket width), not per bucket.
TEST(Render, ATimelineOfWideBucketsRoundTripsAndIsPlottedPerSecond) {
  RunRecord r = golden_record();
  r.stats.timeline.clear();
  for (int i = 0; i < 3; ++i) {
    load::TimelinePoint p;
    p.second = 36.0 * i;
    p.requests = 3600;  // 100 req/s over 36 s
    p.p50_us = 500;
    p.p99_us = 1000;
    p.max_us = 2000;
    r.stats.timeline.push_back(p);
  }
  auto back = parse_result_json(to_json_text(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->stats.timeline.size(), 3u);
  EXPECT_EQ(back->stats.timeline[2].second, 72.0);
  EXPECT_EQ(back->stats.timeline[2].requests, 3600u);

  const std::string html = html_report({*back});
  const size_t at = html.find("id=\"timeline-plot\"");
  ASSERT_NE(at, std::string::npos);
  const std::string plot = html.substr(at, html.find("</svg>", at) - at);
  // The y axis ends at 100 req/s (nice_max(100)); per bucket it would be 5000.
  EXPECT_NE(plot.find("text-anchor=\"end\">100</text>"), std::string::npos) << plot;
  EXPECT_EQ(plot.find(">5000</text>"), std::string::npos) << plot;
}

TEST(Render, APartialResultIsMarkedPartialEverywhere) {
  const RunRecord r = golden_record("partial_result.json");
  EXPECT_TRUE(r.stats.partial);
  EXPECT_NE(markdown_report({r}).find("**PARTIAL**"), std::string::npos);
  const std::string csv = csv_report({r});
  EXPECT_NE(csv.find(",true,"), std::string::npos) << csv;
  EXPECT_NE(html_report({r}).find("PARTIAL"), std::string::npos);
}

TEST(ResultJson, ReadsBackEverythingAReportNeeds) {
  const RunRecord r = golden_record();
  EXPECT_EQ(r.scenario.load.connections, 100);
  EXPECT_EQ(r.scenario.requests.size(), 1u);
  EXPECT_EQ(r.scenario.requests[0].model, "mlp-0");
  EXPECT_FALSE(r.scenario.thresholds.empty());
  EXPECT_FALSE(r.environment.cpu_model.empty());
  EXPECT_FALSE(r.warnings.empty());
  ASSERT_EQ(r.inert_toggles.size(), 1u);
  EXPECT_EQ(r.inert_toggles[0].toggle, "streaming");
  EXPECT_FALSE(r.stats.status_codes.empty());
  EXPECT_FALSE(r.stats.mix.empty());
  // A second round trip changes nothing.
  auto again = parse_result_json(to_json_text(r));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_json_text(*again), to_json_text(r));
}

// The writer's output for a known record, byte for byte: the format of
// docs/RESULTS.md, including the scenario echo with every key at its value.
TEST(ResultJson, WrittenResultMatchesGolden) {
  expect_golden("written_result.json", to_json_text(golden_record()));
  expect_golden("written_partial_result.json", to_json_text(golden_record("partial_result.json")));
}

// A scenario that uses every echoed shape: stages, an http request with a
// credential header, infer requests spread by zipf and by weights, [pool],
// [tls], [http] and [server] away from their defaults.
RunRecord mixed_record() {
  RunRecord r = golden_record();
  auto& s = r.scenario;
  s.load.mode = scenario::LoadMode::open;
  s.load.rate = 250;
  s.load.arrival = scenario::Arrival::poisson;
  s.load.engine = scenario::EngineKind::native;
  s.load.warmup = std::chrono::milliseconds(500);
  s.load.think_time = std::chrono::milliseconds(5);
  s.load.stages = {{std::chrono::seconds(2), 100, 0}, {std::chrono::milliseconds(1500), 400, 0}};
  scenario::RequestSpec http;
  http.kind = scenario::RequestKind::http;
  http.name = "health";
  http.weight = 0.5;
  http.method = "POST";
  http.url = "/v2/health/ready";
  http.headers = {{"X-Trace", "1"}, {"Authorization", "Bearer secret"}};
  scenario::RequestSpec zipf;
  zipf.kind = scenario::RequestKind::infer;
  zipf.name = "spread";
  zipf.models = {"mlp-0", "mlp-1", "mlp-2"};
  zipf.distribution = scenario::Distribution::zipf;
  zipf.zipf_exponent = 1.5;
  zipf.rows = 4;
  zipf.seed = 9;
  scenario::RequestSpec weights = zipf;
  weights.name = "weighted";
  weights.distribution = scenario::Distribution::weights;
  weights.model_weights = {3, 1, 0};
  s.requests.insert(s.requests.begin(), http);
  s.requests.push_back(zipf);
  s.requests.push_back(weights);
  s.toggles.batching = true;
  s.server.threads = 2;
  s.server.model_count = 3;
  s.server.dims = {16, 8, 4};
  s.server.model_memory_budget = 1 << 20;
  s.server.max_concurrent_loads = 1;
  s.server.prediction = false;
  s.server.load_wait_timeout = std::chrono::seconds(3);
  s.pool.min = 2;
  s.pool.max = 8;
  s.pool.idle_timeout = std::chrono::seconds(5);
  s.pool.max_age = std::chrono::minutes(1);
  s.pool.health_check_interval = std::chrono::milliseconds(250);
  s.pool.health_check_path = "/healthz";
  s.tls.insecure = true;
  s.tls.ca_file = "ca.pem";
  s.http.http2 = true;
  s.http.streams_per_connection = 8;
  r.stats.engine = "native";
  r.stats.status_codes[503] = 3;
  return r;
}

TEST(ResultJson, MixedScenarioEchoMatchesGoldenAndRoundTrips) {
  const RunRecord r = mixed_record();
  const std::string text = to_json_text(r);
  expect_golden("written_mixed_result.json", text);
  EXPECT_EQ(text.find("Bearer secret"), std::string::npos) << "credentials are not written";
  auto back = parse_result_json(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_json_text(*back), text);
  const auto& s = back->scenario;
  EXPECT_EQ(s.load.arrival, scenario::Arrival::poisson);
  EXPECT_EQ(s.load.engine, scenario::EngineKind::native);
  EXPECT_EQ(s.load.think_time, std::chrono::milliseconds(5));
  ASSERT_EQ(s.requests.size(), 4u);
  EXPECT_EQ(s.requests[0].headers.at(1).value, "<redacted>");
  EXPECT_EQ(s.requests[2].distribution, scenario::Distribution::zipf);
  EXPECT_DOUBLE_EQ(s.requests[2].zipf_exponent, 1.5);
  EXPECT_EQ(s.requests[3].model_weights, (std::vector<double>{3, 1, 0}));
  EXPECT_EQ(s.server.dims, (std::vector<int>{16, 8, 4}));
  EXPECT_FALSE(s.server.prediction);
  EXPECT_EQ(s.server.load_wait_timeout, std::chrono::seconds(3));
  EXPECT_EQ(s.pool.max_age, std::chrono::minutes(1));
  EXPECT_EQ(s.tls.ca_file, "ca.pem");
  EXPECT_EQ(back->stats.engine, "native");
  EXPECT_EQ(back->stats.status_codes.at(503), 3u);
}

TEST(ResultJson, PoolStatsAndPeakRssRoundTrip) {
  RunRecord r = golden_record();
  EXPECT_EQ(r.stats.pool.created, 5855u);  // read from the golden file
  EXPECT_EQ(r.stats.client_peak_rss_kb, 21504u);
  r.stats.pool.preconnected = 4;
  r.stats.pool.reused = 90;
  r.stats.pool.fresh = 10;
  r.stats.pool.health_checks_passed = 7;
  r.stats.pool.health_checks_failed = 2;
  r.stats.pool.size_timeline = {4, 10, 8};
  r.scenario.pool.min = 3;
  r.scenario.pool.idle_timeout = std::chrono::seconds(5);
  r.scenario.pool.health_check_path = "/healthz";
  r.scenario.tls.insecure = true;
  r.scenario.http.http2 = true;
  r.scenario.http.streams_per_connection = 8;
  auto back = parse_result_json(to_json_text(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  const pool::PoolStats& p = back->stats.pool;
  EXPECT_EQ(p.preconnected, 4u);
  EXPECT_EQ(p.reused, 90u);
  EXPECT_EQ(p.fresh, 10u);
  EXPECT_DOUBLE_EQ(p.reuse_rate(), 0.9);
  EXPECT_EQ(p.health_checks_passed, 7u);
  EXPECT_EQ(p.health_checks_failed, 2u);
  EXPECT_EQ(p.size_timeline, (std::vector<uint64_t>{4, 10, 8}));
  EXPECT_EQ(p.max, 100u);
  EXPECT_EQ(back->scenario.pool.min, 3);
  EXPECT_EQ(back->scenario.pool.idle_timeout, std::chrono::seconds(5));
  EXPECT_EQ(back->scenario.pool.health_check_path, "/healthz");
  EXPECT_TRUE(back->scenario.tls.insecure);
  EXPECT_TRUE(back->scenario.http.http2);
  EXPECT_EQ(back->scenario.http.streams_per_connection, 8);
}

TEST(ResultJson, ResultWithoutPoolBlockStillParses) {
  std::string text = to_json_text(golden_record());
  const size_t at = text.find("\n  \"pool\": {");  // the top-level block, not scenario.pool
  ASSERT_NE(at, std::string::npos);
  text.erase(at, text.find("\n  },", at) + 5 - at);
  auto back = parse_result_json(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->stats.pool.created, 0u);
}

TEST(ResultJson, StagesRoundTrip) {
  RunRecord r = golden_record();
  r.scenario.load.mode = scenario::LoadMode::open;
  r.scenario.load.stages = {{std::chrono::seconds(2), 100, 0}, {std::chrono::seconds(3), 500, 0}};
  auto back = parse_result_json(to_json_text(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->scenario.load.stages.size(), 2u);
  EXPECT_EQ(back->scenario.load.stages[1].duration, std::chrono::seconds(3));
  EXPECT_DOUBLE_EQ(back->scenario.load.stages[1].rate, 500);
}

}  // namespace
}  // namespace servelab::report

namespace servelab::report {
namespace {

// Found by result_json_fuzz: 1e999 read as infinity, written back as null,
// and then not readable. A reader refuses what no writer could have written.
TEST(ResultJson, ANumberBeyondTheDoubleRangeIsRefused) {
  auto r = parse_result_json(R"({"servelab_result": 1, "x": 1.516E551})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("out of range"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace servelab::report
