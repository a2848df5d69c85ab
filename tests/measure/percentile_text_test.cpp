#include "measure/percentile_text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace servelab::measure {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(PercentileText, SingleValueMatchesHdrHistogramLayout) {
  Histogram h;
  h.record(1000);  // 1000 µs printed as 1.000 ms
  const auto lines = lines_of(percentile_distribution_text(h, 1000.0));
  const std::vector<std::string> expected = {
      "       Value     Percentile TotalCount 1/(1-Percentile)",
      "",
      "       1.000 0.000000000000          1           1.00",
      "       1.000 1.000000000000          1",
      "#[Mean    =        1.000, StdDeviation   =        0.000]",
      "#[Max     =        1.000, Total count    =            1]",
      "#[Buckets =           22, SubBuckets     =         2048]",
  };
  EXPECT_EQ(lines, expected);
}

TEST(PercentileText, RowsFollowTheSpectrum) {
  Histogram h;
  for (int64_t v = 1; v <= 10'000; ++v) h.record(v);
  const auto spectrum = h.percentile_spectrum(5);
  const auto lines = lines_of(percentile_distribution_text(h, 1.0));
  ASSERT_EQ(lines.size(), 2 + spectrum.size() + 3);
  // The median row: 5000 sits in a bucket of 4 (5000..5003), so 5003 values
  // are at or below its highest equivalent value; 1/(1-0.5) = 2.
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "    5003.000 0.500000000000       5003           2.00"),
            lines.end());
  // The last row is 100% without the infinite last column.
  EXPECT_EQ(lines[1 + spectrum.size()], "   10007.000 1.000000000000      10000");
  EXPECT_EQ(lines[2 + spectrum.size()].rfind("#[Mean    =     5000.", 0), 0u);
  EXPECT_EQ(lines[3 + spectrum.size()], "#[Max     =    10000.000, Total count    =        10000]");
  for (size_t i = 2; i < 2 + spectrum.size(); ++i)
    EXPECT_EQ(lines[i].substr(12, 1), " ") << lines[i];
}

TEST(PercentileText, EmptyHistogramHasHeaderAndFooterOnly) {
  const auto lines = lines_of(percentile_distribution_text(Histogram{}, 1.0));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].substr(0, 12), "       Value");
  EXPECT_EQ(lines[4].rfind("#[Buckets", 0), 0u);
}

}  // namespace
}  // namespace servelab::measure
