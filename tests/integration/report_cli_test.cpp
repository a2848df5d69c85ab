// matrix, report, compare and gate end to end: the real `servelab` against
// the real embedded server, with very short runs and tiny models.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <fstream>
#include <sstream>

#include "fixture.h"
#include "report/ablation.h"
#include "report/matrix_file.h"
#include "report/result_json.h"
#include "report/run_metrics.h"

namespace servelab::testing {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* kTiny = R"(name = "tiny"
thresholds = ["error_rate<50%"]
[load]
connections = 4
duration = "300ms"
[server]
dims = [32, 32, 8]
[[requests]]
kind = "infer"
model = "mlp-0"
)";

// One matrix run shared by the tests below (4 combinations × 300 ms).
class MatrixCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("matrix");
    write(dir_->path() / "tiny.toml", kTiny);
    matrix_ = new ProcessOutput(
        run_cli({"matrix", (dir_->path() / "tiny.toml").string(), "--toggles", "pooling,streaming",
                 "--quiet", "--out", (dir_->path() / "m").string(), "--results",
                 (dir_->path() / "results").string()}));
  }
  static void TearDownTestSuite() {
    delete matrix_;
    delete dir_;
  }
  static fs::path out() { return dir_->path() / "m"; }
  static std::string result(const std::string& toggles) {
    return (out() / toggles / "result.json").string();
  }

  static TempDir* dir_;
  static ProcessOutput* matrix_;
};
TempDir* MatrixCli::dir_ = nullptr;
ProcessOutput* MatrixCli::matrix_ = nullptr;

TEST_F(MatrixCli, RunsEachCombinationWithItsOwnFilesAndTheAblationTable) {
  ASSERT_EQ(matrix_->exit_code, 0) << matrix_->err << matrix_->out;
  auto m = report::parse_matrix_json(read(out() / "matrix.json"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->results.size(), 4u);
  for (const char* t : {"all-off", "pooling", "streaming", "pooling+streaming"}) {
    for (const char* f :
         {"result.json", "report.md", "report.csv", "report.html", "latency.hgrm", "server.log"})
      EXPECT_TRUE(fs::exists(out() / t / f)) << t << "/" << f;
    auto r = report::read_result_file(result(t));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_GT(r->stats.counters.requests, 0u) << t;
    EXPECT_EQ(r->threshold_results.size(), 1u);
  }
  // Each combination ran with its own toggles: without pooling every request
  // opened a connection, with it the 4 connections were kept.
  const auto off = report::read_result_file(result("all-off"));
  const auto pooled = report::read_result_file(result("pooling"));
  ASSERT_TRUE(off.ok() && pooled.ok());
  EXPECT_GE(off->stats.counters.connections_opened, off->stats.counters.requests);
  EXPECT_LE(pooled->stats.counters.connections_opened, 4u);
  // The mix has infer requests only, so streaming had nothing to act on:
  // the rows with it on say so, with the reason under the table.
  const std::string table = read(out() / "ablation.md");
  EXPECT_NE(table.find("| all-off | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| pooling | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| streaming (streaming: no effect) | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| pooling+streaming (streaming: no effect) | 1 |"), std::string::npos)
      << table;
  EXPECT_NE(
      table.find("- streaming in streaming: acts only on generate requests with stream = true"),
      std::string::npos)
      << table;
  const auto streaming = report::read_result_file(result("streaming"));
  ASSERT_TRUE(streaming.ok());
  ASSERT_EQ(streaming->inert_toggles.size(), 1u);
  EXPECT_EQ(streaming->inert_toggles[0].toggle, "streaming");
  EXPECT_NE(matrix_->out.find("| pooling | 1 |"), std::string::npos) << matrix_->out;
  for (const char* f : {"ablation.csv", "ablation.html"}) EXPECT_TRUE(fs::exists(out() / f)) << f;
}

TEST_F(MatrixCli, ReportRendersAMatrixAsCsvAndHtml) {
  ASSERT_EQ(matrix_->exit_code, 0) << matrix_->err;
  auto csv = run_cli({"report", (out() / "matrix.json").string(), "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 5);  // header + 4 runs
  const auto html = dir_->path() / "r.html";
  auto h = run_cli(
      {"report", result("pooling"), result("all-off"), "--format", "html", "--out", html.string()});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_NE(read(html).find("id=\"ablation-plot\""), std::string::npos);
  auto hgrm = run_cli({"report", result("pooling"), "--format", "hgrm"});
  ASSERT_EQ(hgrm.exit_code, 0);
  EXPECT_NE(hgrm.out.find("#[Mean"), std::string::npos);
  EXPECT_EQ(run_cli({"report", result("pooling"), "--format", "pdf"}).exit_code, 2);
}

TEST_F(MatrixCli, CompareShowsBothSidesAndTheChange) {
  ASSERT_EQ(matrix_->exit_code, 0) << matrix_->err;
  auto c = run_cli({"compare", result("all-off"), result("pooling")});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("all-off vs pooling"), std::string::npos) << c.out;
  // The figures are the two result files' own, and the change between them.
  const auto a = report::read_result_file(result("all-off"));
  const auto b = report::read_result_file(result("pooling"));
  ASSERT_TRUE(a.ok() && b.ok());
  const report::RunMetrics ma = report::metrics_of(*a), mb = report::metrics_of(*b);
  const std::string rps =
      fmt::format("| req/s | {:.1f} | {:.1f} | {} | n/a (1 run) | {} |\n", ma.rps, mb.rps,
                  report::change_text(mb.rps, ma.rps), ma.rps == mb.rps ? "same" : "");
  EXPECT_NE(c.out.find(rps), std::string::npos) << rps << c.out;
  const std::string p99 = fmt::format(
      "| p99 ms | {:.3f} | {:.3f} | {} | n/a (1 run) | {} |\n", ma.p99_us / 1000, mb.p99_us / 1000,
      report::change_text(mb.p99_us, ma.p99_us), ma.p99_us == mb.p99_us ? "same" : "");
  EXPECT_NE(c.out.find(p99), std::string::npos) << p99 << c.out;
}

TEST_F(MatrixCli, GateExitCodesPassFailBadExpressionAndFailedRun) {
  ASSERT_EQ(matrix_->exit_code, 0) << matrix_->err;
  const std::string r = result("pooling");
  const auto junit = dir_->path() / "junit.xml";
  auto pass = run_cli({"gate", r, "--threshold", "rps>0", "--junit", junit.string()});
  EXPECT_EQ(pass.exit_code, 0) << pass.err << pass.out;
  boost::property_tree::ptree tree;
  std::ifstream in(junit);
  ASSERT_NO_THROW(boost::property_tree::read_xml(in, tree));
  EXPECT_EQ(tree.get<int>("testsuites.<xmlattr>.tests"), 2);  // the scenario's + the given one

  auto fail = run_cli({"gate", r, "--threshold", "p(99)<1us"});
  EXPECT_EQ(fail.exit_code, 1);
  EXPECT_NE(fail.err.find("FAIL p(99)<1us: measured"), std::string::npos) << fail.err;

  auto regress = run_cli({"gate", r, "--baseline", r, "--max-regression", "rps=5%,p99=10%"});
  EXPECT_EQ(regress.exit_code, 0) << regress.err;

  auto bad = run_cli({"gate", r, "--threshold", "p(99)<10"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("time unit"), std::string::npos) << bad.err;

  const std::string partial =
      std::string(SERVELAB_SOURCE_DIR) + "/tests/report/golden/partial_result.json";
  auto failed_run = run_cli({"gate", partial, "--threshold", "rps>0"});
  EXPECT_EQ(failed_run.exit_code, 3);
  EXPECT_NE(failed_run.err.find("partial"), std::string::npos) << failed_run.err;
}

// Repeats against a matrix baseline: the gate takes the matrix's run with the
// results' toggles, compares medians and prints the spread of each side.
TEST_F(MatrixCli, GateComparesRepeatsWithTheMatrixRunsOfTheirToggles) {
  ASSERT_EQ(matrix_->exit_code, 0) << matrix_->err;
  const std::string r = result("pooling");
  const std::string m = (out() / "matrix.json").string();
  auto gate = run_cli({"gate", r, r, "--baseline", m, "--max-regression", "rps=5%,p99=10%",
                       "--no-scenario-thresholds"});
  EXPECT_EQ(gate.exit_code, 0) << gate.err << gate.out;
  EXPECT_NE(gate.out.find("of 2 runs vs baseline"), std::string::npos) << gate.out;
  EXPECT_NE(gate.out.find("spread: baseline"), std::string::npos) << gate.out;
  EXPECT_NE(gate.out.find("unchanged"), std::string::npos) << gate.out;
  // The all-off run is another configuration: not a baseline for pooling.
  auto mixed = run_cli({"gate", r, result("all-off"), "--baseline", m});
  EXPECT_EQ(mixed.exit_code, 2) << mixed.err;
  EXPECT_NE(mixed.err.find("different configurations"), std::string::npos) << mixed.err;
}

// With $GITHUB_STEP_SUMMARY set (GitHub Actions), run, matrix and gate append
// their Markdown to that file after what earlier steps wrote.
TEST_F(MatrixCli, StepSummaryGetsTheRunAndTheGateAppended) {
  ASSERT_EQ(matrix_->exit_code, 0) << matrix_->err;
  const auto summary = dir_->path() / "step_summary.md";
  std::ofstream(summary) << "earlier step\n";
  ::setenv("GITHUB_STEP_SUMMARY", summary.c_str(), 1);
  auto fail =
      run_cli({"gate", result("pooling"), "--threshold", "p(99)<1us", "--threshold", "rps>0"});
  auto run = run_cli({"run", (dir_->path() / "tiny.toml").string(), "--quiet", "--out",
                      (dir_->path() / "summary-run").string(), "--results",
                      (dir_->path() / "results").string()});
  ::unsetenv("GITHUB_STEP_SUMMARY");
  EXPECT_EQ(fail.exit_code, 1) << fail.err;
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const std::string text = read(summary);
  EXPECT_EQ(text.rfind("earlier step\n", 0), 0u) << text;  // appended, not replaced
  EXPECT_NE(text.find("servelab gate: tiny: FAIL"), std::string::npos) << text;
  EXPECT_NE(text.find("| **FAIL** | `p(99)<1us` |"), std::string::npos) << text;
  EXPECT_NE(text.find("| pass | `rps>0` |"), std::string::npos) << text;
  EXPECT_GT(text.find("tiny", text.find("rps>0")), text.find("rps>0"))
      << text;  // the run's report after
  // Without the variable nothing is written anywhere.
  const std::string before = read(summary);
  auto quiet = run_cli({"gate", result("pooling"), "--threshold", "rps>0"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(read(summary), before);
}

// Streaming on with a streamed generate request: the embedded server streams
// it, so no "no effect" note appears anywhere.
TEST(RunCli, StreamingWithAStreamedGenerateRequestHasNoNoEffectNote) {
  TempDir dir;
  write(dir.path() / "gen.toml", R"(name = "gen"
[load]
connections = 2
duration = "300ms"
[toggles]
streaming = true
[server]
dims = [32, 32, 8]
[[requests]]
kind = "generate"
model = "tokens-0"
max_tokens = 4
stream = true
)");
  auto p = run_cli({"run", (dir.path() / "gen.toml").string(), "--out", (dir.path() / "o").string(),
                    "--results", (dir.path() / "results").string()});
  ASSERT_EQ(p.exit_code, 0) << p.err << p.out;
  EXPECT_EQ(p.out.find("no effect"), std::string::npos) << p.out;
  auto r = report::read_result_file((dir.path() / "o" / "result.json").string());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->scenario.toggles.streaming);
  EXPECT_GT(r->stats.generate.streamed, 0u);
  EXPECT_TRUE(r->inert_toggles.empty())
      << r->inert_toggles.front().toggle << ": " << r->inert_toggles.front().reason;
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_EQ(read(dir.path() / "o" / "report.md").find("no effect"), std::string::npos);
}

TEST(RunCli, AFailedScenarioThresholdExitsOneAndABadOneTwo) {
  TempDir dir;
  std::string failing = kTiny;
  failing.replace(failing.find("error_rate<50%"), 14, "p(99)<1us");
  write(dir.path() / "f.toml", failing);
  auto p = run_cli({"run", (dir.path() / "f.toml").string(), "--quiet", "--out",
                    (dir.path() / "o").string(), "--results", (dir.path() / "results").string()});
  EXPECT_EQ(p.exit_code, 1) << p.err;
  EXPECT_NE(p.err.find("FAIL p(99)<1us"), std::string::npos) << p.err;
  EXPECT_TRUE(fs::exists(dir.path() / "o" / "report.html"));

  std::string bad = kTiny;
  bad.replace(bad.find("error_rate<50%"), 14, "p(99)<1");
  write(dir.path() / "b.toml", bad);
  auto v = run_cli({"validate", (dir.path() / "b.toml").string()});
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_NE(v.err.find("b.toml: thresholds: threshold \"p(99)<1\""), std::string::npos) << v.err;
}

}  // namespace
}  // namespace servelab::testing
