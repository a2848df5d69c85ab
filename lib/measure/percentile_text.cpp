#include "measure/percentile_text.h"

#include <fmt/format.h>

#include <iterator>

namespace servelab::measure {

std::string percentile_distribution_text(const Histogram& histogram, double value_unit_scale) {
  const double scale = value_unit_scale > 0.0 ? value_unit_scale : 1.0;
  // Values print with as many decimals as the histogram has significant digits.
  const int decimals = histogram.significant_digits();
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount",
                 "1/(1-Percentile)");
  for (const PercentilePoint& p : histogram.percentile_spectrum(5)) {
    const double value = static_cast<double>(p.value) / scale;
    const double fraction = p.percentile / 100.0;
    if (p.percentile != 100.0) {
      fmt::format_to(it, "{:12.{}f} {:2.12f} {:10d} {:14.2f}\n", value, decimals, fraction,
                     p.total_count, 1.0 / (1.0 - fraction));
    } else {
      // 1/(1-1) is infinite: the last row leaves the column out, as HdrHistogram does.
      fmt::format_to(it, "{:12.{}f} {:2.12f} {:10d}\n", value, decimals, fraction, p.total_count);
    }
  }
  fmt::format_to(it, "#[Mean    = {:12.{}f}, StdDeviation   = {:12.{}f}]\n",
                 histogram.mean() / scale, decimals, histogram.stddev() / scale, decimals);
  fmt::format_to(it, "#[Max     = {:12.{}f}, Total count    = {:12d}]\n",
                 static_cast<double>(histogram.max()) / scale, decimals, histogram.count());
  fmt::format_to(it, "#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", histogram.bucket_count(),
                 histogram.sub_bucket_count());
  return out;
}

}  // namespace servelab::measure
