// The ablation table and matrix.json (report/ablation.h, report/matrix_file.h).
#include <gtest/gtest.h>

#include <fstream>

#include "report/ablation.h"
#include "report/matrix_file.h"
#include "report/result_json.h"
#include "report_fixture.h"
#include "support/temp_dir.h"

namespace servelab::report {
namespace {

TEST(Ablation, RepeatsGiveMedianAndSpreadAndChangeAgainstAllOff) {
  report::RunRecord a = report::testing::golden_record();
  a.scenario.toggles = {};
  a.scenario.toggles.pooling = false;
  report::RunRecord slow = a, fast = a, on = a;
  slow.stats.measured = a.stats.measured * 2;  // half the rps
  on.scenario.toggles.pooling = true;
  const std::vector<report::RunRecord> runs{a, slow, fast, on};
  const auto t = report::make_ablation(runs);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.baseline, 0);
  EXPECT_EQ(t.rows[0].runs, 3);
  EXPECT_DOUBLE_EQ(t.rows[0].median.rps, a.stats.rps());
  EXPECT_DOUBLE_EQ(t.rows[0].low.rps, slow.stats.rps());
  EXPECT_EQ(report::change_text(t.rows[1].median.rps, t.rows[0].median.rps), "+0.0%");
  EXPECT_EQ(report::spread_text(t.rows[0].median.rps, t.rows[0].low.rps, t.rows[0].high.rps, 3),
            "±25.0%");
}

TEST(MatrixFile, RoundTripsResultsAndFailures) {
  report::MatrixFile m;
  m.scenario = "baseline";
  m.mode = "full";
  m.repeat = 2;
  m.results = {"../a/result.json"};
  m.failed = {{"batching", "server did not start"}};
  auto back = report::parse_matrix_json(report::to_json_text(m));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->results, m.results);
  ASSERT_EQ(back->failed.size(), 1u);
  EXPECT_EQ(back->failed[0].error, "server did not start");
  EXPECT_EQ(back->repeat, 2);
}

// Only the top-level key makes a file a matrix: a result whose scenario is
// named "servelab_matrix" is read as the result it is.
TEST(MatrixFile, AResultNamedLikeTheMatrixKeyIsStillAResult) {
  servelab::testing::TempDir dir("matrix-name");
  RunRecord r = testing::golden_record();
  r.scenario.name = "servelab_matrix";
  const std::string path = (dir.path() / "result.json").string();
  std::ofstream(path) << to_json_text(r);
  auto read = read_results({path});
  ASSERT_TRUE(read.ok()) << read.error().message;
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->front().scenario.name, "servelab_matrix");
}

}  // namespace
}  // namespace servelab::report
