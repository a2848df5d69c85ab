#include "measure/histogram.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace servelab::measure {
namespace {

constexpr double kRelativePrecision = 1e-3;  // 3 significant digits

// Nearest-rank percentile of sorted exact data: the smallest value with at
// least ceil(p% of n) values at or below it.
int64_t exact_percentile(const std::vector<int64_t>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * n - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::vector<int64_t> lognormal_values(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(8.0, 1.5);  // median ~3 ms in µs, long tail
  std::vector<int64_t> v(n);
  for (auto& x : v) x = std::max<int64_t>(1, static_cast<int64_t>(dist(rng)));
  return v;
}

// Builds an encoded string from raw (pre-zlib) bytes, to feed decode crafted input.
std::string pack(const std::string& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string z(size, '\0');
  EXPECT_EQ(
      compress2(reinterpret_cast<Bytef*>(z.data()), &size,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 6),
      Z_OK);
  z.resize(size);
  namespace b64 = boost::beast::detail::base64;
  std::string text(b64::encoded_size(z.size()), '\0');
  text.resize(b64::encode(text.data(), z.data(), z.size()));
  return text;
}

std::string unbase64(const std::string& text) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::decoded_size(text.size()), '\0');
  out.resize(b64::decode(out.data(), text.data(), text.size()).first);
  return out;
}

std::string rebase64(const std::string& bytes) {
  namespace b64 = boost::beast::detail::base64;
  std::string text(b64::encoded_size(bytes.size()), '\0');
  text.resize(b64::encode(text.data(), bytes.data(), bytes.size()));
  return text;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
uint64_t zz(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

// Raw encoding of a default-layout histogram header (see histogram.cpp).
std::string raw_header(uint64_t highest, uint64_t digits, int64_t min, int64_t max,
                       uint64_t overflow, uint64_t total) {
  std::string raw = "SLH";
  raw.push_back('\x01');
  put_varint(raw, highest);
  put_varint(raw, digits);
  put_varint(raw, zz(min));
  put_varint(raw, zz(max));
  put_varint(raw, overflow);
  put_varint(raw, total);
  return raw;
}

TEST(Histogram, DefaultLayoutMatchesHdrHistogram) {
  // HdrHistogram_c: 1 h in µs at 3 digits has 2048 sub-buckets and
  // counts_len 23552 = (22 + 1) * 1024.
  Histogram h;
  EXPECT_EQ(h.highest(), 3'600'000'000);
  EXPECT_EQ(h.significant_digits(), 3);
  EXPECT_EQ(h.sub_bucket_count(), 2048);
  EXPECT_EQ(h.bucket_count(), 22);
}

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.stddev(), 0.0);
  EXPECT_EQ(h.value_at_percentile(50), 0);
  EXPECT_TRUE(h.percentile_spectrum().empty());
}

TEST(Histogram, EquivalentValuesAtBucketBoundaries) {
  Histogram h;
  // Unit resolution below 2048.
  EXPECT_EQ(h.lowest_equivalent(2047), 2047);
  EXPECT_EQ(h.highest_equivalent(2047), 2047);
  // 2048..4095: buckets of 2; 4096..8191: of 4; 8192..16383: of 8.
  EXPECT_EQ(h.lowest_equivalent(2049), 2048);
  EXPECT_EQ(h.highest_equivalent(2048), 2049);
  EXPECT_EQ(h.highest_equivalent(4095), 4095);
  EXPECT_EQ(h.lowest_equivalent(4099), 4096);
  EXPECT_EQ(h.highest_equivalent(4096), 4099);
  // Figures from HdrHistogram_c's tests.
  EXPECT_EQ(h.lowest_equivalent(10007), 10000);
  EXPECT_EQ(h.lowest_equivalent(10009), 10008);
  EXPECT_EQ(h.highest_equivalent(8180), 8183);
  EXPECT_EQ(h.highest_equivalent(8191), 8191);
  EXPECT_EQ(h.highest_equivalent(8193), 8199);
  EXPECT_EQ(h.highest_equivalent(9995), 9999);
  EXPECT_EQ(h.highest_equivalent(10007), 10007);
  EXPECT_EQ(h.highest_equivalent(10008), 10015);
  // Every bucket is narrower than 1 part in 10^3 of its values.
  for (int64_t v :
       {int64_t{1000}, int64_t{123'456}, int64_t{987'654'321}, int64_t{3'599'999'999}}) {
    const int64_t width = h.highest_equivalent(v) - h.lowest_equivalent(v) + 1;
    EXPECT_LE(static_cast<double>(width) / static_cast<double>(h.lowest_equivalent(v)),
              kRelativePrecision)
        << v;
  }
}

TEST(Histogram, RecordsValuesAtExactBucketBoundaries) {
  Histogram h;
  h.record(2047);
  h.record(2048);
  h.record(2049);
  h.record(4096);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.min(), 2047);
  EXPECT_EQ(h.max(), 4096);
  EXPECT_EQ(h.value_at_percentile(25), 2047);
  // 2048 and 2049 share a bucket, reported by its highest equivalent value.
  EXPECT_EQ(h.value_at_percentile(50), 2049);
  EXPECT_EQ(h.value_at_percentile(75), 2049);
  EXPECT_EQ(h.value_at_percentile(100), 4099);
}

TEST(Histogram, UniformDistributionPercentiles) {
  constexpr int64_t kN = 100'000;
  Histogram h;
  for (int64_t v = 1; v <= kN; ++v) h.record(v);
  EXPECT_EQ(h.count(), static_cast<uint64_t>(kN));
  EXPECT_EQ(h.min(), 1);
  EXPECT_EQ(h.max(), kN);
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const auto exact = std::max<int64_t>(1, static_cast<int64_t>(std::llround(p / 100.0 * kN)));
    const int64_t got = h.value_at_percentile(p);
    EXPECT_EQ(got, h.highest_equivalent(exact)) << "p" << p;
    EXPECT_LE(static_cast<double>(got - exact) / static_cast<double>(exact), kRelativePrecision)
        << "p" << p;
  }
  EXPECT_NEAR(h.mean(), (kN + 1) / 2.0, (kN + 1) / 2.0 * kRelativePrecision);
}

TEST(Histogram, StallDistributionLikeHdrHistogramC) {
  // 10000 responses of 1 ms and one 100 s stall (µs).
  Histogram h;
  for (int i = 0; i < 10'000; ++i) h.record(1000);
  h.record(100'000'000);
  EXPECT_EQ(h.count(), 10'001u);
  EXPECT_EQ(h.min(), 1000);
  EXPECT_EQ(h.max(), 100'000'000);
  EXPECT_EQ(h.value_at_percentile(30), 1000);
  EXPECT_EQ(h.value_at_percentile(99), 1000);
  EXPECT_EQ(h.value_at_percentile(99.98), 1000);
  EXPECT_EQ(h.value_at_percentile(99.99), 1000);  // rank ceil(9999.9999) = 10000
  // 99.999% of 10001 values is 10000.9 values: the stall is needed to cover it.
  const int64_t stall = h.value_at_percentile(99.999);
  EXPECT_EQ(stall, h.highest_equivalent(100'000'000));
  EXPECT_NEAR(static_cast<double>(stall), 1e8, 1e8 * kRelativePrecision);
  EXPECT_EQ(h.value_at_percentile(100), stall);

  const double exact_mean = (10'000.0 * 1000 + 1e8) / 10'001;
  EXPECT_NEAR(h.mean(), exact_mean, exact_mean * kRelativePrecision);
  const double exact_var =
      (10'000.0 * std::pow(1000 - exact_mean, 2) + std::pow(1e8 - exact_mean, 2)) / 10'001;
  EXPECT_NEAR(h.stddev(), std::sqrt(exact_var), std::sqrt(exact_var) * kRelativePrecision);
}

TEST(Histogram, PercentilesWithinOnePartInAThousandOfExact) {
  auto values = lognormal_values(200'000, 42);
  Histogram h;
  for (int64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());
  for (double p = 0.0; p <= 100.0; p += 0.5) {
    const int64_t exact = exact_percentile(values, p);
    const int64_t got = h.value_at_percentile(p);
    EXPECT_EQ(got, h.highest_equivalent(exact)) << "p" << p;
    EXPECT_GE(got, exact);
    EXPECT_LE(static_cast<double>(got - exact) / static_cast<double>(exact), kRelativePrecision)
        << "p" << p;
  }
  for (double p : {99.9, 99.99, 99.999}) {
    EXPECT_EQ(h.value_at_percentile(p), h.highest_equivalent(exact_percentile(values, p))) << p;
  }
}

TEST(Histogram, MinMaxMeanStddevMatchExactComputation) {
  const auto values = lognormal_values(100'000, 7);
  Histogram h;
  double sum = 0;
  for (int64_t v : values) {
    h.record(v);
    sum += static_cast<double>(v);
  }
  const double mean = sum / static_cast<double>(values.size());
  double sq = 0;
  for (int64_t v : values) sq += std::pow(static_cast<double>(v) - mean, 2);
  const double stddev = std::sqrt(sq / static_cast<double>(values.size()));

  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_NEAR(h.mean(), mean, mean * kRelativePrecision);
  EXPECT_NEAR(h.stddev(), stddev, stddev * kRelativePrecision);
}

TEST(Histogram, RecordNCountsEachValue) {
  Histogram a;
  Histogram b;
  a.record_n(500, 3);
  a.record_n(700, 0);  // no-op: must not move max
  for (int i = 0; i < 3; ++i) b.record(500);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.max(), 500);
}

TEST(Histogram, OverflowIsCountedAndMovesMax) {
  Histogram h(1000, 3);
  h.record(500);
  h.record_n(5000, 2);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.overflow_count(), 2u);
  EXPECT_EQ(h.min(), 500);
  EXPECT_EQ(h.max(), 5000);
  EXPECT_EQ(h.mean(), 500.0);  // bucketed values only
  EXPECT_EQ(h.value_at_percentile(33), 500);
  // Overflowed values rank above every bucket and report max().
  EXPECT_EQ(h.value_at_percentile(50), 5000);
  EXPECT_EQ(h.value_at_percentile(100), 5000);

  Histogram hour;
  hour.record(Histogram::kDefaultHighest);  // at the limit: bucketed
  hour.record(Histogram::kDefaultHighest + 1);
  EXPECT_EQ(hour.overflow_count(), 1u);
  EXPECT_EQ(hour.max(), Histogram::kDefaultHighest + 1);
}

TEST(Histogram, OnlyOverflowedValues) {
  Histogram h(1000, 3);
  h.record(7000);
  h.record(9000);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 7000);
  EXPECT_EQ(h.max(), 9000);
  EXPECT_EQ(h.value_at_percentile(0), 9000);
  const auto spectrum = h.percentile_spectrum();
  ASSERT_FALSE(spectrum.empty());
  EXPECT_EQ(spectrum.back().percentile, 100.0);
  EXPECT_EQ(spectrum.back().value, 9000);
}

TEST(Histogram, NonPositiveValuesGoToLowestBucket) {
  Histogram h;
  h.record(-5);
  h.record(0);
  h.record(10);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.overflow_count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.value_at_percentile(50), 0);
  EXPECT_EQ(h.value_at_percentile(100), 10);
}

TEST(Histogram, MergeEqualsRecordingIntoOne) {
  const auto values = lognormal_values(50'000, 3);
  Histogram one;
  Histogram parts[3];
  for (size_t i = 0; i < values.size(); ++i) {
    one.record(values[i]);
    parts[i % 3].record(values[i]);
  }
  one.record(Histogram::kDefaultHighest * 2);  // overflow survives the merge
  parts[1].record(Histogram::kDefaultHighest * 2);
  Histogram merged;
  for (const auto& p : parts) ASSERT_TRUE(merged.merge(p).ok());
  EXPECT_EQ(merged, one);
  EXPECT_EQ(merged.count(), one.count());
  EXPECT_EQ(merged.overflow_count(), 1u);
  EXPECT_EQ(merged.min(), one.min());
  EXPECT_EQ(merged.max(), one.max());
  EXPECT_EQ(merged.value_at_percentile(99.9), one.value_at_percentile(99.9));
}

TEST(Histogram, MergeOfEmptyKeepsMinMax) {
  Histogram h;
  h.record(42);
  ASSERT_TRUE(h.merge(Histogram{}).ok());
  EXPECT_EQ(h.min(), 42);
  EXPECT_EQ(h.max(), 42);
  EXPECT_EQ(h.count(), 1u);
}

TEST(Histogram, MergeOfDifferentLayoutsFailsAndChangesNothing) {
  Histogram h;
  h.record(100);
  const Histogram before = h;
  Histogram other_range(1'000'000, 3);
  other_range.record(5);
  Histogram other_digits(Histogram::kDefaultHighest, 2);
  other_digits.record(5);
  EXPECT_FALSE(h.merge(other_range).ok());
  EXPECT_FALSE(h.merge(other_digits).ok());
  EXPECT_NE(h.merge(other_digits).error().message.find("layouts differ"), std::string::npos);
  EXPECT_EQ(h, before);
}

TEST(Histogram, EqualityComparesCountsAndExtremes) {
  Histogram a;
  Histogram b;
  EXPECT_EQ(a, b);
  a.record(100);
  EXPECT_NE(a, b);
  b.record(100);
  EXPECT_EQ(a, b);
  // Same bucket, different exact max.
  a.record(2048);
  b.record(2049);
  EXPECT_NE(a, b);
  EXPECT_NE(Histogram(1000, 3), Histogram(2000, 3));
}

TEST(Histogram, ResetEmpties) {
  Histogram h;
  h.record(5);
  h.record(Histogram::kDefaultHighest + 1);
  h.reset();
  EXPECT_EQ(h, Histogram{});
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0);
}

TEST(Histogram, EncodeDecodeRoundTrip) {
  std::vector<Histogram> cases;
  cases.emplace_back();  // empty
  cases.emplace_back().record(1234);
  {
    auto& many = cases.emplace_back();
    for (int64_t v : lognormal_values(20'000, 11)) many.record(v);
  }
  {
    auto& overflowed = cases.emplace_back(1'000'000, 2);
    overflowed.record(0);
    overflowed.record_n(999'999, 1'000'000'000'000);
    overflowed.record(50'000'000);
  }
  cases.emplace_back(1000, 3).record(5000);  // overflow only
  {
    auto& wide = cases.emplace_back(INT64_MAX, 3);  // the whole int64 range
    wide.record(1);
    wide.record(INT64_MAX);
  }
  {
    auto& fine = cases.emplace_back(10'000'000, 5);
    fine.record(123'457);
    fine.record(9'999'999);
  }
  for (const auto& h : cases) {
    const std::string text = h.encode();
    EXPECT_EQ(
        text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
        std::string::npos);
    auto back = Histogram::decode(text);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, h);
    EXPECT_EQ(back->count(), h.count());
    EXPECT_EQ(back->min(), h.min());
    EXPECT_EQ(back->max(), h.max());
    EXPECT_EQ(back->overflow_count(), h.overflow_count());
    EXPECT_EQ(back->value_at_percentile(99), h.value_at_percentile(99));
  }
}

TEST(Histogram, EncodingIsCompact) {
  Histogram h;
  for (int64_t v : lognormal_values(100'000, 5)) h.record(v);
  // 23552 buckets of 8 bytes in memory; a few thousand are occupied.
  EXPECT_LT(h.encode().size(), 8'000u);
  EXPECT_LT(Histogram{}.encode().size(), 64u);
}

TEST(Histogram, DecodeRejectsGarbage) {
  for (const std::string bad :
       {"", "A", "!!!!", "AAAA", "AAA=", "====", "AB=C", "abc\ndef", "QUJD", "SGVsbG8gd29ybGQh"}) {
    auto r = Histogram::decode(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "'";
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("histogram decode"), std::string::npos);
    }
  }
}

// The byte-by-byte tests use a small layout (2304 buckets) so that their
// thousands of decodes stay fast under the sanitizers.
Histogram small_sample(uint32_t seed) {
  Histogram h(10'000'000, 2);
  for (int64_t v : lognormal_values(1'000, seed)) h.record(v);
  h.record(20'000'000);  // and an overflow
  return h;
}

TEST(Histogram, DecodeRejectsTruncation) {
  const Histogram h = small_sample(9);
  const std::string text = h.encode();
  // Truncated text (whole base64 quads, and mid-quad).
  for (size_t len = 0; len < text.size(); len += 3) {
    EXPECT_FALSE(Histogram::decode(text.substr(0, len)).ok()) << len;
  }
  // Truncated compressed bytes, re-encoded as valid base64.
  const std::string bytes = unbase64(text);
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(Histogram::decode(rebase64(bytes.substr(0, len))).ok()) << len;
  }
  // Trailing bytes after the zlib stream.
  EXPECT_FALSE(Histogram::decode(rebase64(bytes + "xyz")).ok());
}

TEST(Histogram, DecodeRejectsEveryCorruptedByte) {
  const Histogram h = small_sample(13);
  const std::string bytes = unbase64(h.encode());
  ASSERT_TRUE(Histogram::decode(rebase64(bytes)).ok());
  // zlib's header check and Adler-32 catch a changed byte; the only bits
  // nobody checks are the final deflate byte's padding, and flipping those
  // must still give back the same histogram.
  size_t rejected = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (const unsigned flip : {0x01u, 0x80u, 0xffu}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ flip);
      auto r = Histogram::decode(rebase64(bad));
      if (r.ok()) {
        EXPECT_EQ(*r, h) << "byte " << i << " ^ " << flip;
      } else {
        ++rejected;
      }
    }
  }
  EXPECT_GE(rejected, 3 * bytes.size() - 3);
}

TEST(Histogram, DecodeValidatesContents) {
  constexpr uint64_t kHigh = 3'600'000'000;
  auto expect_error = [](const std::string& raw, const std::string& what) {
    auto r = Histogram::decode(pack(raw));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  };
  // A well-formed payload decodes: one value 5.
  {
    std::string raw = raw_header(kHigh, 3, 5, 5, 0, 1);
    put_varint(raw, zz(-5));
    put_varint(raw, zz(1));
    auto r = Histogram::decode(pack(raw));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->value_at_percentile(50), 5);
  }
  expect_error("XYZ\x01", "bad magic");
  expect_error("SLH\x02", "unsupported version");
  expect_error("SLH\x01", "truncated header");
  expect_error(raw_header(1, 3, INT64_MAX, 0, 0, 0), "highest");
  expect_error(raw_header(kHigh, 0, INT64_MAX, 0, 0, 0), "digits");
  expect_error(raw_header(kHigh, 6, INT64_MAX, 0, 0, 0), "digits");
  {
    std::string raw = raw_header(kHigh, 3, INT64_MAX, 0, 0, 0);
    raw.append(11, '\xff');  // varint longer than 64 bits
    expect_error(raw, "truncated count");
  }
  {
    std::string raw = raw_header(kHigh, 3, 5, 5, 0, 2);  // total says 2, counts say 1
    put_varint(raw, zz(-5));
    put_varint(raw, zz(1));
    expect_error(raw, "add up");
  }
  {
    std::string raw = raw_header(kHigh, 3, 5, 5, 0, 1);
    put_varint(raw, zz(-30'000));  // past the 23552 buckets
    put_varint(raw, zz(1));
    expect_error(raw, "past the last bucket");
  }
  {
    std::string raw = raw_header(kHigh, 3, 5, 5, 0, 1);
    put_varint(raw, zz(0));
    expect_error(raw, "zero");
  }
  {
    std::string raw = raw_header(kHigh, 3, 5, 5, 0, 1);
    put_varint(raw, zz(-5));
    put_varint(raw, zz(1));
    put_varint(raw, zz(-3));
    expect_error(raw, "trailing empty run");
  }
  {
    std::string raw = raw_header(kHigh, 3, 7, 7, 0, 1);  // min/max 7, but the count is at 5
    put_varint(raw, zz(-5));
    put_varint(raw, zz(1));
    expect_error(raw, "disagrees");
  }
  {
    std::string raw = raw_header(kHigh, 3, 5, 5, 1, 1);  // overflow but max within range
    put_varint(raw, zz(-5));
    put_varint(raw, zz(1));
    expect_error(raw, "overflow");
  }
  expect_error(raw_header(kHigh, 3, 3, 0, 0, 0), "empty");
  {
    // A decompression bomb: far more bytes than the layout could need.
    std::string raw = raw_header(kHigh, 3, INT64_MAX, 0, 0, 0);
    raw.append(8'000'000, '\x02');
    expect_error(raw, "longer than the layout allows");
  }
}

TEST(Histogram, SpectrumEndsAtHundredAndIsMonotonic) {
  Histogram h;
  for (int64_t v : lognormal_values(50'000, 17)) h.record(v);
  const auto s = h.percentile_spectrum(5);
  ASSERT_GT(s.size(), 20u);
  EXPECT_EQ(s.front().percentile, 0.0);
  EXPECT_EQ(s.front().value, h.highest_equivalent(h.min()));
  EXPECT_EQ(s.back().percentile, 100.0);
  EXPECT_EQ(s.back().value, h.highest_equivalent(h.max()));
  EXPECT_EQ(s.back().total_count, h.count());
  for (size_t i = 1; i < s.size(); ++i) {
    EXPECT_GE(s[i].percentile, s[i - 1].percentile) << i;
    EXPECT_GE(s[i].value, s[i - 1].value) << i;
    EXPECT_GE(s[i].total_count, s[i - 1].total_count) << i;
  }
  // Each point agrees with the percentile query at its level.
  for (const auto& p : s) EXPECT_EQ(p.value, h.value_at_percentile(p.percentile)) << p.percentile;
}

TEST(Histogram, SpectrumStepsHalveTowardsHundred) {
  Histogram h;
  for (int64_t v = 1; v <= 1'000'000; v += 7) h.record(v);
  const auto s = h.percentile_spectrum(5);
  const std::vector<double> expected = {0,  10, 20,   30, 40,   50, 55,   60,   65,
                                        70, 75, 77.5, 80, 82.5, 85, 87.5, 88.75};
  ASSERT_GE(s.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_DOUBLE_EQ(s[i].percentile, expected[i]) << i;
  // More ticks, more points.
  EXPECT_GT(h.percentile_spectrum(10).size(), s.size());
}

TEST(Histogram, SpectrumReportsOverflowAsMax) {
  Histogram h(1000, 3);
  for (int v = 1; v <= 99; ++v) h.record(v);
  h.record(123'456);
  const auto s = h.percentile_spectrum();
  EXPECT_EQ(s.back().percentile, 100.0);
  EXPECT_EQ(s.back().value, 123'456);
  EXPECT_EQ(s.back().total_count, 100u);
  EXPECT_EQ(s[s.size() - 2].value, 123'456);  // the last level below 100 crossed into overflow
}

}  // namespace
}  // namespace servelab::measure
