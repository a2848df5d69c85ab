#pragma once
// HDR-style log-linear histogram (the HdrHistogram design): values are
// bucketed so that every recorded value is reproduced within the configured
// number of significant decimal digits, recording is an index computation and
// an increment, and histograms with the same layout merge by adding counts.
//
// servelab records latencies in microseconds: the default range is 1 µs to
// 1 hour at 3 significant digits. Values above the highest trackable value
// are counted in overflow_count() (and still move max()); values below the
// lowest (0 or negative) are recorded into the lowest bucket. Nothing is
// dropped silently.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace servelab::measure {

struct PercentilePoint {
  double percentile;     // 0..100
  int64_t value;         // highest equivalent value at that percentile (units of the recorder)
  uint64_t total_count;  // count of values at or below `value`
};

class Histogram {
 public:
  static constexpr int64_t kDefaultHighest = 3'600'000'000;  // 1 hour in µs
  static constexpr int kDefaultDigits = 3;

  // REQUIRES: highest >= 2, 1 <= significant_digits <= 5
  explicit Histogram(int64_t highest = kDefaultHighest, int significant_digits = kDefaultDigits);

  // O(1): index computation + increment. Never allocates.
  void record(int64_t value) noexcept { record_n(value, 1); }
  // A negative value (a clock step, a bug upstream) is recorded as 0, in the
  // lowest bucket, so it still counts; min() then reports 0. n == 0 is a no-op.
  void record_n(int64_t value, uint64_t n) noexcept;

  // Count of all recorded values, including overflowed ones.
  uint64_t count() const noexcept;
  // Values recorded above highest(): counted but not bucketed.
  uint64_t overflow_count() const noexcept;

  int64_t min() const noexcept;  // 0 when empty
  int64_t max() const noexcept;  // exact maximum recorded (even if overflowed); 0 when empty
  double mean() const noexcept;  // over bucketed values
  double stddev() const noexcept;
  // Highest value equivalent to the value at `percentile` (0..100).
  // Overflowed values rank above every bucket and report max().
  int64_t value_at_percentile(double percentile) const noexcept;
  // HdrHistogram's percentile spectrum: `ticks_per_half_distance` steps per
  // halving of the remaining distance to 100%, ending at 100.
  std::vector<PercentilePoint> percentile_spectrum(int ticks_per_half_distance = 5) const;

  // Adds `other`'s counts. Fails (without changing *this) if layouts differ.
  Status merge(const Histogram& other);
  void reset() noexcept;

  // Lossless compact text encoding for result files (base64 of a
  // zlib-compressed, zig-zag LEB128 run-length encoding of the counts,
  // with a header carrying layout, min, max and overflow).
  std::string encode() const;
  static Result<Histogram> decode(std::string_view text);

  int64_t highest() const noexcept { return highest_; }
  int significant_digits() const noexcept { return digits_; }
  // Layout figures as HdrHistogram names them (printed in the .hgrm footer).
  int32_t bucket_count() const noexcept { return bucket_count_; }
  int32_t sub_bucket_count() const noexcept { return sub_bucket_count_; }
  // Two values map to the same bucket iff lowest_equivalent() is equal.
  int64_t lowest_equivalent(int64_t value) const noexcept;
  int64_t highest_equivalent(int64_t value) const noexcept;

  friend bool operator==(const Histogram& a, const Histogram& b);

 private:
  // Layout (see HdrHistogram_c hdr_init): filled by the constructor.
  int64_t highest_;
  int digits_;
  int32_t sub_bucket_half_count_magnitude_ = 0;
  int32_t sub_bucket_count_ = 0;
  int32_t sub_bucket_half_count_ = 0;
  int64_t sub_bucket_mask_ = 0;
  int32_t bucket_count_ = 0;
  int32_t unit_magnitude_ = 0;  // 0: lowest discernible value is 1

  // REQUIRES: 0 <= value. Index into counts_ (may be past the end for
  // values above highest_, which record_n never passes).
  size_t counts_index(int64_t value) const noexcept;
  // Lowest value of the bucket at `index` (inverse of counts_index).
  int64_t value_at_index(size_t index) const noexcept;
  // Width of the bucket holding `value` (a power of two).
  int64_t equivalent_range(int64_t value) const noexcept;

  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;     // bucketed values
  uint64_t overflow_ = 0;  // values > highest_
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
};

}  // namespace servelab::measure
