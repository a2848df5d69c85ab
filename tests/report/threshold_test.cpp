#include "report/threshold.h"

#include <gtest/gtest.h>

#include "report_fixture.h"

namespace servelab::report {
namespace {

using testing::golden_record;

TEST(Threshold, ParsesTheK6LikeForms) {
  auto p99 = parse_threshold("p(99)<10ms");
  ASSERT_TRUE(p99.ok()) << p99.error().message;
  EXPECT_EQ(p99->stat, "p");
  EXPECT_DOUBLE_EQ(p99->percentile, 99);
  EXPECT_EQ(p99->op, Comparison::lt);
  EXPECT_DOUBLE_EQ(p99->limit, 10'000);  // µs

  auto p999 = parse_threshold(" p(99.9) <= 50 ms ");
  ASSERT_TRUE(p999.ok()) << p999.error().message;
  EXPECT_DOUBLE_EQ(p999->percentile, 99.9);
  EXPECT_EQ(p999->op, Comparison::le);

  auto er = parse_threshold("error_rate<0.1%");
  ASSERT_TRUE(er.ok());
  EXPECT_DOUBLE_EQ(er->limit, 0.001);

  auto rps = parse_threshold("rps>2500");
  ASSERT_TRUE(rps.ok());
  EXPECT_EQ(rps->op, Comparison::gt);
  EXPECT_DOUBLE_EQ(rps->limit, 2500);

  auto ttft = parse_threshold("ttft.p(95)<200ms");
  ASSERT_TRUE(ttft.ok());
  EXPECT_EQ(ttft->series, Series::ttft);

  auto mx = parse_threshold("uncorrected.max<1s");
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(mx->series, Series::uncorrected);
  EXPECT_DOUBLE_EQ(mx->limit, 1e6);
  EXPECT_TRUE(parse_threshold("med>=2us").ok());
}

TEST(Threshold, GrammarErrorsNameTheColumnAndWhatWasExpected) {
  auto missing_unit = parse_threshold("p(99)<10");
  ASSERT_FALSE(missing_unit.ok());
  EXPECT_NE(missing_unit.error().message.find("column 9"), std::string::npos)
      << missing_unit.error().message;
  EXPECT_NE(missing_unit.error().message.find("time unit"), std::string::npos);

  auto no_paren = parse_threshold("p99<10ms");
  ASSERT_FALSE(no_paren.ok());
  EXPECT_NE(no_paren.error().message.find("column 2: expected \"(\" after p"), std::string::npos)
      << no_paren.error().message;

  auto bad_stat = parse_threshold("avgg<10ms");
  ASSERT_FALSE(bad_stat.ok());
  EXPECT_NE(bad_stat.error().message.find("unknown statistic \"avgg\""), std::string::npos)
      << bad_stat.error().message;

  auto bad_op = parse_threshold("rps=>5");
  ASSERT_FALSE(bad_op.ok());
  EXPECT_NE(bad_op.error().message.find("expected a comparison"), std::string::npos);

  auto trailing = parse_threshold("rps>5 extra");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.error().message.find("unexpected \"extra\""), std::string::npos);

  EXPECT_FALSE(parse_threshold("p(101)<1ms").ok());
  EXPECT_FALSE(parse_threshold("ttft.rps>1").ok());
  EXPECT_FALSE(parse_threshold("").ok());
  EXPECT_FALSE(parse_threshold("error_rate<200%").ok());
}

TEST(Threshold, EvaluatesAgainstTheResultWithMeasuredValueAndLimit) {
  const RunRecord r = golden_record();
  const auto p99 = static_cast<double>(r.stats.latency.value_at_percentile(99));
  auto pass = evaluate_threshold(*parse_threshold("p(99)<1s"), r);
  EXPECT_TRUE(pass.pass);
  EXPECT_DOUBLE_EQ(pass.value, p99);
  auto fail = evaluate_threshold(*parse_threshold("p(99)<1us"), r);
  EXPECT_FALSE(fail.pass);
  EXPECT_NE(fail.message.find("measured"), std::string::npos);
  EXPECT_NE(fail.message.find("limit < 0.001 ms"), std::string::npos) << fail.message;
  EXPECT_TRUE(evaluate_threshold(*parse_threshold("rps>1"), r).pass);
  EXPECT_FALSE(evaluate_threshold(*parse_threshold("rps>100000000"), r).pass);
  EXPECT_TRUE(evaluate_threshold(*parse_threshold("error_rate<=0%"), r).pass);
}

TEST(Threshold, AStatisticTheResultLacksFailsAsNotMeasured) {
  auto c = evaluate_threshold(*parse_threshold("ttft.p(95)<200ms"), golden_record());
  EXPECT_FALSE(c.pass);
  EXPECT_FALSE(c.measured);
  EXPECT_NE(c.message.find("not measured"), std::string::npos);
}

}  // namespace
}  // namespace servelab::report
