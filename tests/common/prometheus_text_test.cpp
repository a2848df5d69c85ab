#include "common/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>

namespace servelab {
namespace {

TEST(PrometheusText, ReadsSamplesWithAndWithoutLabels) {
  const auto m = parse_prometheus_text(
      "# HELP up Whether up.\n"
      "# TYPE up gauge\n"
      "up 1\n"
      "\n"
      "http_total{route=\"a b\",code=\"200\"} 12 1700000000000\n"
      "  lat_bucket{le=\"+Inf\"}   7\r\n"
      "odd{v=\"has } brace and \\\" quote\"} 3.5e-3\n");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m.at("up"), 1);
  EXPECT_EQ(m.at(R"(http_total{route="a b",code="200"})"), 12);
  EXPECT_EQ(m.at(R"(lat_bucket{le="+Inf"})"), 7);
  EXPECT_DOUBLE_EQ(m.at(R"(odd{v="has } brace and \" quote"})"), 0.0035);
}

TEST(PrometheusText, ReadsSpecialValues) {
  const auto m = parse_prometheus_text("a +Inf\nb -Inf\nc NaN\n");
  EXPECT_TRUE(std::isinf(m.at("a")) && m.at("a") > 0);
  EXPECT_TRUE(std::isinf(m.at("b")) && m.at("b") < 0);
  EXPECT_TRUE(std::isnan(m.at("c")));
}

TEST(PrometheusText, SkipsLinesThatAreNotSamples) {
  const auto m = parse_prometheus_text("no_value\nbad{x=\"1\" 2\nword abc\nok 2");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.at("ok"), 2);
}

}  // namespace
}  // namespace servelab
