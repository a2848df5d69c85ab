// generate figures in result.json (write + read back), reports, the ablation
// table's TTFT columns and ttft/itl/tpot thresholds.
#include <gtest/gtest.h>

#include "report/ablation.h"
#include "report/csv_report.h"
#include "report/markdown_report.h"
#include "report/result_json.h"
#include "report/summary.h"
#include "report/threshold.h"
#include "report_fixture.h"

namespace servelab::report {
namespace {

using testing::expect_golden;
using testing::golden_record;

// The golden run, as if it had been a generate run.
RunRecord generate_record(int64_t ttft_base_us = 20'000) {
  RunRecord r = golden_record();
  scenario::RequestSpec q;
  q.kind = scenario::RequestKind::generate;
  q.name = "generate tokens-0";
  q.model = "tokens-0";
  q.method = "POST";
  q.url = "/v1/completions";
  q.prompts = {"a", "b"};
  q.max_tokens = 32;
  q.temperature = 0.5;
  q.seed = 7;
  q.send_seed = true;
  q.headers = {{"Authorization", "Bearer secret"}};
  q.extra_body = R"({"ignore_eos":true})";
  r.scenario.requests = {q};
  load::GenerateStats& g = r.stats.generate;
  g.enabled = true;
  for (int i = 0; i < 100; ++i) {
    g.ttft.record(ttft_base_us + i * 100);
    g.tpot.record(1'000 + i);
    for (int k = 0; k < 31; ++k) g.itl.record(900 + k * 10);
    g.tokens.record(32);
  }
  g.requests = 100;
  g.streamed = 100;
  g.output_tokens = 3200;
  g.issues[static_cast<size_t>(load::GenerateIssue::missing_done)] = 2;
  return r;
}

TEST(GenerateResult, RoundTripsThroughResultJson) {
  const RunRecord r = generate_record();
  const std::string text = to_json_text(r);
  EXPECT_EQ(text.find("Bearer secret"), std::string::npos) << "credentials are not written";
  auto back = parse_result_json(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  const load::GenerateStats& g = back->stats.generate;
  EXPECT_TRUE(g.enabled);
  EXPECT_EQ(g.requests, 100u);
  EXPECT_EQ(g.streamed, 100u);
  EXPECT_EQ(g.output_tokens, 3200u);
  EXPECT_EQ(g.issue(load::GenerateIssue::missing_done), 2u);
  EXPECT_EQ(g.ttft, r.stats.generate.ttft);
  EXPECT_EQ(g.itl, r.stats.generate.itl);
  EXPECT_EQ(g.tpot, r.stats.generate.tpot);
  EXPECT_EQ(g.tokens, r.stats.generate.tokens);
  const scenario::RequestSpec& q = back->scenario.requests.at(0);
  EXPECT_EQ(q.kind, scenario::RequestKind::generate);
  EXPECT_EQ(q.model, "tokens-0");
  EXPECT_EQ(q.prompts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q.max_tokens, 32);
  EXPECT_TRUE(q.send_seed);
  EXPECT_EQ(q.seed, 7u);
  EXPECT_EQ(q.extra_body, R"({"ignore_eos":true})");
  EXPECT_EQ(q.headers.at(0).value, "<redacted>");
  // A second round trip changes nothing.
  EXPECT_EQ(to_json_text(*back), text);
  expect_golden("written_generate_result.json", text);
}

TEST(GenerateResult, RunWithoutGenerateRequestsHasNoGenerateSection) {
  const std::string text = to_json_text(golden_record());
  EXPECT_EQ(text.find("\"generate\""), std::string::npos);
  auto back = parse_result_json(text);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->stats.generate.enabled);
}

TEST(GenerateResult, TtftItlAndTpotThresholdsAreMeasured) {
  const RunRecord r = generate_record();
  auto ttft = evaluate_threshold(*parse_threshold("ttft.p(95)<30ms"), r);
  EXPECT_TRUE(ttft.measured);
  EXPECT_TRUE(ttft.pass) << ttft.message;
  EXPECT_NEAR(ttft.value, 29'500, 150);  // 3 significant digits
  auto itl = evaluate_threshold(*parse_threshold("itl.p(99)<1ms"), r);
  EXPECT_TRUE(itl.measured);
  EXPECT_FALSE(itl.pass) << itl.message;
  EXPECT_TRUE(evaluate_threshold(*parse_threshold("tpot.max<2ms"), r).pass);
  auto tps = evaluate_threshold(*parse_threshold("tokens_per_second>1"), r);
  EXPECT_TRUE(tps.measured);
  EXPECT_TRUE(tps.pass) << tps.message;
  // Without generate requests these are "not measured".
  auto none = evaluate_threshold(*parse_threshold("itl.p(99)<1ms"), golden_record());
  EXPECT_FALSE(none.measured);
  EXPECT_FALSE(none.pass);
}

TEST(GenerateResult, ReportsShowTtftAndTokens) {
  const RunRecord r = generate_record();
  const std::string md = markdown_report({r});
  EXPECT_NE(md.find("| time to first token |"), std::string::npos) << md;
  EXPECT_NE(md.find("missing_done=2"), std::string::npos) << md;
  const std::string text = summary_text(r);
  EXPECT_NE(text.find("  ttft "), std::string::npos) << text;
  EXPECT_NE(text.find("tokens/s"), std::string::npos) << text;
  const std::string csv = csv_report({r});
  const std::string row = csv.substr(csv.find('\n') + 1);
  EXPECT_NE(row.find(",3200,"), std::string::npos) << csv;
  // Without generate: the generate columns are empty, the header is the same.
  const std::string plain = csv_report({golden_record()});
  EXPECT_EQ(plain.substr(0, plain.find('\n')), csv.substr(0, csv.find('\n')));
}

TEST(GenerateResult, AblationTableHasTtftColumnsAgainstAllOff) {
  RunRecord off = generate_record(40'000);
  off.scenario.toggles = {false, false, false, false};
  off.inert_toggles.clear();
  RunRecord on = generate_record(20'000);
  on.scenario.toggles = {false, false, true, false};
  on.inert_toggles.clear();
  const std::string md = markdown_report({off, on});
  EXPECT_NE(md.find("TTFT p99 ms"), std::string::npos) << md;
  // The streaming row's TTFT p99 (~29.9 ms) against all-off's (~49.8 ms).
  EXPECT_NE(md.find("| -40."), std::string::npos) << md;
  // A table without generate runs has no TTFT columns.
  EXPECT_EQ(markdown_report({golden_record(), golden_record()}).find("TTFT"), std::string::npos);
}

}  // namespace
}  // namespace servelab::report
