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

TEST(Threshold, TakesEveryDurationUnitScenariosAccept) {
  const std::pair<const char*, double> cases[] = {
      {"max<250us", 250},      {"max<250µs", 250},
      {"max<2ms", 2e3},        {"max<1.5s", 1.5e6},
      {"max<2m", 120e6},       {"p(99)<1h", 3600e6},
      {"mean <= 0.5 m", 30e6}, {"uncorrected.p(50)<3s", 3e6}};
  for (const auto& [text, micros] : cases) {
    auto t = parse_threshold(text);
    ASSERT_TRUE(t.ok()) << text << ": " << t.error().message;
    EXPECT_DOUBLE_EQ(t->limit, micros) << text;
  }
  auto days = parse_threshold("max<1d");
  ASSERT_FALSE(days.ok());
  EXPECT_NE(days.error().message.find("(us, ms, s, m or h)"), std::string::npos)
      << days.error().message;
}

TEST(Threshold, ReadsK6MetricNamesAsTheSameFigures) {
  auto d = parse_threshold("http_req_duration.p(95)<200");  // k6: ms without a unit
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->series, Series::latency);
  EXPECT_EQ(d->stat, "p");
  EXPECT_DOUBLE_EQ(d->percentile, 95);
  EXPECT_DOUBLE_EQ(d->limit, 200e3);
  auto ds = parse_threshold("http_req_duration.avg<1s");
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->stat, "mean");
  EXPECT_DOUBLE_EQ(ds->limit, 1e6);

  auto failed = parse_threshold("http_req_failed.rate<0.01");
  ASSERT_TRUE(failed.ok()) << failed.error().message;
  EXPECT_EQ(failed->stat, "error_rate");
  EXPECT_DOUBLE_EQ(failed->limit, 0.01);
  auto rate = parse_threshold("http_reqs.rate>100");
  ASSERT_TRUE(rate.ok());
  EXPECT_EQ(rate->stat, "rps");
  auto count = parse_threshold("http_reqs.count>=1000");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->stat, "requests");

  // The same figure as the native name, measured on one result.
  const RunRecord r = golden_record();
  EXPECT_DOUBLE_EQ(evaluate_threshold(*d, r).value,
                   evaluate_threshold(*parse_threshold("p(95)<200ms"), r).value);
  EXPECT_DOUBLE_EQ(evaluate_threshold(*failed, r).value,
                   evaluate_threshold(*parse_threshold("error_rate<0.01"), r).value);

  auto bad = parse_threshold("http_req_failed.p(99)<1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("http_req_failed takes rate"), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(parse_threshold("http_req_duration.rps>1").ok());
  auto no_unit_native = parse_threshold("p(95)<200");  // only k6's names default to ms
  EXPECT_FALSE(no_unit_native.ok());
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
