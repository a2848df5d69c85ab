#pragma once
// HdrHistogram's "percentile distribution" text (the .hgrm format written by
// outputPercentileDistribution), so servelab histograms can be read by the
// same tools (e.g. the HdrHistogram plotter) as those of wrk2 and others.

#include <string>

#include "measure/histogram.h"

namespace servelab::measure {

// Columns Value, Percentile (0..1), TotalCount, 1/(1-Percentile), one row per
// point of percentile_spectrum(5), then the #[Mean ...], #[Max ...] and
// #[Buckets ...] footer. Values (and mean, stddev, max) are divided by
// `value_unit_scale`: 1000.0 prints µs recordings as ms. A scale <= 0 is
// taken as 1.
std::string percentile_distribution_text(const Histogram& histogram, double value_unit_scale);

}  // namespace servelab::measure
