#include "measure/histogram.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <boost/beast/core/detail/base64.hpp>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

namespace servelab::measure {

namespace {

// Encoded form, before zlib and base64:
//   "SLH" version(1 byte)
//   varint highest, varint digits, zigzag min, zigzag max,
//   varint overflow, varint total (bucketed)
//   counts from index 0 up to the last non-zero one, each a zigzag varint:
//   > 0 is a count, < 0 is a run of that many empty buckets (0 never occurs).
constexpr char kMagic[3] = {'S', 'L', 'H'};
constexpr uint8_t kVersion = 1;
constexpr size_t kMaxVarintBytes = 10;  // 64 bits / 7 per byte, rounded up
constexpr size_t kMaxHeaderBytes = 4 + 6 * kMaxVarintBytes;

uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Bounds-checked reader over the inflated bytes: every read reports failure
// instead of running past the end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool varint(uint64_t& v) {
    v = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      if (pos_ >= bytes_.size()) return false;
      const auto b = static_cast<uint8_t>(bytes_[pos_++]);
      // The 10th byte may only carry the top bit of a 64-bit value.
      if (i == kMaxVarintBytes - 1 && b > 1) return false;
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool svarint(int64_t& v) {
    uint64_t u = 0;
    if (!varint(u)) return false;
    v = unzigzag(u);
    return true;
  }
  bool bytes(size_t n, std::string_view& out) {
    if (bytes_.size() - pos_ < n) return false;
    out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == bytes_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

// Streaming inflate with an output cap, so a hostile input cannot make decode
// allocate more than the layout it claims could ever need.
class Inflater {
 public:
  explicit Inflater(std::string_view in) {
    std::memset(&zs_, 0, sizeof zs_);
    ok_ = inflateInit(&zs_) == Z_OK;
    // zlib's API is not const-correct; inflate never writes to next_in.
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
  }
  ~Inflater() {
    if (ok_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates into `out` until it holds `limit` bytes or the stream ends.
  Status fill(std::string& out, size_t limit) {
    if (!ok_) return make_error("histogram decode: zlib init failed");
    constexpr size_t kChunk = 64 * 1024;
    while (!ended_ && out.size() < limit) {
      const size_t old = out.size();
      const size_t room = std::min(kChunk, limit - old);
      out.resize(old + room);
      zs_.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      zs_.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      out.resize(old + room - zs_.avail_out);
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc != Z_OK) {
        // Z_BUF_ERROR here means the input ended before the stream did.
        return make_error(rc == Z_BUF_ERROR ? "histogram decode: truncated compressed data"
                                            : "histogram decode: corrupt compressed data");
      }
    }
    return Ok{};
  }
  bool ended() const { return ended_; }
  bool input_left() const { return zs_.avail_in != 0; }

 private:
  z_stream zs_;
  bool ok_ = false;
  bool ended_ = false;
};

Result<std::string> base64_decode(std::string_view text) {
  namespace b64 = boost::beast::detail::base64;
  if (text.empty() || text.size() % 4 != 0) {
    return make_error("histogram decode: not base64 (length must be a positive multiple of 4)");
  }
  const size_t pad = text.find('=');
  const size_t body = pad == std::string_view::npos ? text.size() : pad;
  if (text.size() - body > 2 || text.find_first_not_of('=', body) != std::string_view::npos) {
    return make_error("histogram decode: not base64 (bad padding)");
  }
  std::string out(b64::decoded_size(text.size()), '\0');
  const auto [written, read] = b64::decode(out.data(), text.data(), body);
  if (read != body) return make_error("histogram decode: not base64 (invalid character)");
  out.resize(written);
  return out;
}

}  // namespace

Histogram::Histogram(int64_t highest, int significant_digits)
    : highest_(highest), digits_(significant_digits) {
  assert(highest >= 2 && significant_digits >= 1 && significant_digits <= 5);
  // Same layout as HdrHistogram_c hdr_init with lowest discernible value 1:
  // enough sub-buckets that values up to 2 * 10^digits have unit resolution,
  // then one bucket per doubling of the range.
  int64_t single_unit_limit = 2;
  for (int i = 0; i < digits_; ++i) single_unit_limit *= 10;
  const int32_t sub_bucket_count_magnitude =
      static_cast<int32_t>(std::bit_width(static_cast<uint64_t>(single_unit_limit - 1)));
  sub_bucket_half_count_magnitude_ = std::max(sub_bucket_count_magnitude, 1) - 1;
  sub_bucket_count_ = int32_t{1} << (sub_bucket_half_count_magnitude_ + 1);
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = static_cast<int64_t>(sub_bucket_count_ - 1) << unit_magnitude_;

  int64_t smallest_untrackable = static_cast<int64_t>(sub_bucket_count_) << unit_magnitude_;
  bucket_count_ = 1;
  while (smallest_untrackable <= highest_) {
    if (smallest_untrackable > std::numeric_limits<int64_t>::max() / 2) {
      ++bucket_count_;
      break;
    }
    smallest_untrackable <<= 1;
    ++bucket_count_;
  }
  counts_.assign(
      static_cast<size_t>(bucket_count_ + 1) * static_cast<size_t>(sub_bucket_half_count_), 0);
}

size_t Histogram::counts_index(int64_t value) const noexcept {
  const auto v = static_cast<uint64_t>(value | sub_bucket_mask_);
  const int32_t pow2ceiling = 64 - std::countl_zero(v);
  const int32_t bucket = pow2ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  const int64_t sub_bucket = value >> (bucket + unit_magnitude_);
  const int64_t base = static_cast<int64_t>(bucket + 1) << sub_bucket_half_count_magnitude_;
  return static_cast<size_t>(base + sub_bucket - sub_bucket_half_count_);
}

int64_t Histogram::value_at_index(size_t index) const noexcept {
  const auto i = static_cast<int64_t>(index);
  int32_t bucket = static_cast<int32_t>(i >> sub_bucket_half_count_magnitude_) - 1;
  int64_t sub_bucket = (i & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return sub_bucket << (bucket + unit_magnitude_);
}

int64_t Histogram::equivalent_range(int64_t value) const noexcept {
  const auto v = static_cast<uint64_t>(value | sub_bucket_mask_);
  const int32_t pow2ceiling = 64 - std::countl_zero(v);
  const int32_t bucket = pow2ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  return int64_t{1} << (unit_magnitude_ + bucket);
}

int64_t Histogram::lowest_equivalent(int64_t value) const noexcept {
  if (value <= 0) return 0;
  const int64_t range = equivalent_range(value);
  return value & ~(range - 1);
}

int64_t Histogram::highest_equivalent(int64_t value) const noexcept {
  if (value < 0) value = 0;
  const int64_t lowest = lowest_equivalent(value);
  const int64_t range = equivalent_range(value);
  // Saturate instead of overflowing for values in the top bucket of int64.
  if (lowest > std::numeric_limits<int64_t>::max() - range)
    return std::numeric_limits<int64_t>::max();
  return lowest + range - 1;
}

void Histogram::record_n(int64_t value, uint64_t n) noexcept {
  if (n == 0) return;
  if (value < 0) value = 0;
  if (value < min_) min_ = value;
  if (value > max_) max_ = value;
  if (value > highest_) {
    overflow_ += n;
    return;
  }
  counts_[counts_index(value)] += n;
  total_ += n;
}

uint64_t Histogram::count() const noexcept { return total_ + overflow_; }
uint64_t Histogram::overflow_count() const noexcept { return overflow_; }
int64_t Histogram::min() const noexcept { return count() == 0 ? 0 : min_; }
int64_t Histogram::max() const noexcept { return max_; }

// Mean and deviation use each bucket's median equivalent value, as
// HdrHistogram does: within half a bucket of the exact figure.
double Histogram::mean() const noexcept {
  if (total_ == 0) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const int64_t v = value_at_index(i);
    const double median = static_cast<double>(v + (equivalent_range(v) >> 1));
    sum += median * static_cast<double>(counts_[i]);
  }
  return sum / static_cast<double>(total_);
}

double Histogram::stddev() const noexcept {
  if (total_ == 0) return 0.0;
  const double m = mean();
  double sum = 0.0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const int64_t v = value_at_index(i);
    const double d = static_cast<double>(v + (equivalent_range(v) >> 1)) - m;
    sum += d * d * static_cast<double>(counts_[i]);
  }
  return std::sqrt(sum / static_cast<double>(total_));
}

int64_t Histogram::value_at_percentile(double percentile) const noexcept {
  const uint64_t total = count();
  if (total == 0) return 0;
  double p = percentile;
  if (!(p > 0.0)) p = 0.0;  // also catches NaN
  if (p > 100.0) p = 100.0;
  // Rank = ceil(p% of total), at least 1. Multiplying before dividing keeps
  // e.g. 99% of 100 exact; the small downward nudge absorbs the rounding
  // error of the product so 99.9% of 1000 is 999, not 1000.
  const double x = p * static_cast<double>(total) / 100.0;
  const double r = std::ceil(x - x * 4 * std::numeric_limits<double>::epsilon());
  uint64_t rank = r < 1.0 ? 1 : static_cast<uint64_t>(r);
  if (rank > total) rank = total;
  if (rank > total_) return max_;  // overflowed values rank above every bucket
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    if (cumulative >= rank) return highest_equivalent(value_at_index(i));
  }
  return max_;  // unreachable: bucket counts add up to total_
}

std::vector<PercentilePoint> Histogram::percentile_spectrum(int ticks_per_half_distance) const {
  // HdrHistogram's PercentileIterator. Overflowed values form one virtual
  // bucket past the last, whose value is max().
  std::vector<PercentilePoint> out;
  const uint64_t total = count();
  if (total == 0) return out;
  const double ticks = std::max(ticks_per_half_distance, 1);
  const size_t n = counts_.size() + 1;
  auto count_at = [&](size_t i) { return i < counts_.size() ? counts_[i] : overflow_; };
  auto value_at = [&](size_t i) {
    return i < counts_.size() ? highest_equivalent(value_at_index(i)) : max_;
  };

  double level = 0.0;  // percentile to report next
  uint64_t cumulative = 0;
  size_t i = 0;
  bool fresh = true;  // count of bucket i not yet added
  while (i < n) {
    const uint64_t c = count_at(i);
    if (fresh) {
      cumulative += c;
      fresh = false;
    }
    const double current = 100.0 * static_cast<double>(cumulative) / static_cast<double>(total);
    if (c != 0 && current >= level) {
      out.push_back({level, value_at(i), cumulative});
      if (cumulative == total) break;
      // Halve the step each time the remaining distance to 100% halves.
      const double halvings = std::floor(std::log2(100.0 / (100.0 - level)));
      level += 100.0 / (ticks * std::exp2(halvings + 1));
      // Only reachable through rounding with astronomically large counts.
      if (level >= 100.0) break;
      continue;  // the same bucket may satisfy several levels
    }
    ++i;
    fresh = true;
  }
  out.push_back({100.0, value_at(std::min(i, n - 1)), total});
  return out;
}

Status Histogram::merge(const Histogram& other) {
  if (other.highest_ != highest_ || other.digits_ != digits_) {
    return make_error("histogram merge: layouts differ (highest " + std::to_string(highest_) + "/" +
                      std::to_string(other.highest_) + ", digits " + std::to_string(digits_) + "/" +
                      std::to_string(other.digits_) + ")");
  }
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  overflow_ += other.overflow_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  return Ok{};
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  overflow_ = 0;
  min_ = INT64_MAX;
  max_ = 0;
}

bool operator==(const Histogram& a, const Histogram& b) {
  return a.highest_ == b.highest_ && a.digits_ == b.digits_ && a.total_ == b.total_ &&
         a.overflow_ == b.overflow_ && a.min_ == b.min_ && a.max_ == b.max_ &&
         a.counts_ == b.counts_;
}

std::string Histogram::encode() const {
  std::string raw(kMagic, sizeof kMagic);
  raw.push_back(static_cast<char>(kVersion));
  put_varint(raw, static_cast<uint64_t>(highest_));
  put_varint(raw, static_cast<uint64_t>(digits_));
  put_varint(raw, zigzag(min_));
  put_varint(raw, zigzag(max_));
  put_varint(raw, overflow_);
  put_varint(raw, total_);
  // Counts above 2^63 (never reached by counting events) would not survive
  // the zigzag; everything else is exact.
  uint64_t zeros = 0;
  for (const uint64_t c : counts_) {
    if (c == 0) {
      ++zeros;
      continue;
    }
    if (zeros != 0) {
      put_varint(raw, zigzag(-static_cast<int64_t>(zeros)));
      zeros = 0;
    }
    put_varint(raw, zigzag(static_cast<int64_t>(c)));
  }
  // Trailing empty buckets are implied.

  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                           reinterpret_cast<const Bytef*>(raw.data()),
                           static_cast<uLong>(raw.size()), Z_DEFAULT_COMPRESSION);
  // compress2 into a compressBound-sized buffer only fails on out-of-memory.
  assert(rc == Z_OK);
  (void)rc;
  packed.resize(packed_size);

  namespace b64 = boost::beast::detail::base64;
  std::string text(b64::encoded_size(packed.size()), '\0');
  text.resize(b64::encode(text.data(), packed.data(), packed.size()));
  return text;
}

Result<Histogram> Histogram::decode(std::string_view text) {
  auto packed = base64_decode(text);
  if (!packed) return std::move(packed).error();

  Inflater inflater(*packed);
  std::string raw;
  if (auto st = inflater.fill(raw, kMaxHeaderBytes); !st) return std::move(st).error();

  Reader header(raw);
  std::string_view magic;
  if (!header.bytes(4, magic) || magic.substr(0, 3) != std::string_view(kMagic, 3)) {
    return make_error("histogram decode: not a servelab histogram (bad magic)");
  }
  if (static_cast<uint8_t>(magic[3]) != kVersion) {
    return make_error("histogram decode: unsupported version " +
                      std::to_string(static_cast<uint8_t>(magic[3])));
  }
  uint64_t highest = 0;
  uint64_t digits = 0;
  int64_t min = 0;
  int64_t max = 0;
  uint64_t overflow = 0;
  uint64_t total = 0;
  if (!header.varint(highest) || !header.varint(digits) || !header.svarint(min) ||
      !header.svarint(max) || !header.varint(overflow) || !header.varint(total)) {
    return make_error("histogram decode: truncated header");
  }
  if (highest < 2 || highest > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return make_error("histogram decode: highest value out of range");
  }
  if (digits < 1 || digits > 5)
    return make_error("histogram decode: significant digits out of range");

  Histogram h(static_cast<int64_t>(highest), static_cast<int>(digits));
  const size_t header_size = header.pos();
  // Each bucket costs at most one varint.
  const size_t cap = header_size + h.counts_.size() * kMaxVarintBytes;
  if (auto st = inflater.fill(raw, cap + 1); !st) return std::move(st).error();
  if (!inflater.ended())
    return make_error("histogram decode: counts longer than the layout allows");
  if (inflater.input_left())
    return make_error("histogram decode: trailing data after compressed stream");

  Reader body(std::string_view(raw).substr(header_size));
  size_t index = 0;
  uint64_t sum = 0;
  bool last_was_run = false;
  while (!body.done()) {
    int64_t v = 0;
    if (!body.svarint(v)) return make_error("histogram decode: truncated count");
    if (v == 0) return make_error("histogram decode: malformed count (zero)");
    const uint64_t len = v < 0 ? 0 - static_cast<uint64_t>(v) : 1;
    if (len > h.counts_.size() - index)
      return make_error("histogram decode: counts past the last bucket");
    if (v < 0) {
      index += static_cast<size_t>(len);
      last_was_run = true;
      continue;
    }
    const auto c = static_cast<uint64_t>(v);
    if (sum > std::numeric_limits<uint64_t>::max() - c)
      return make_error("histogram decode: count overflow");
    sum += c;
    h.counts_[index++] = c;
    last_was_run = false;
  }
  if (last_was_run) return make_error("histogram decode: malformed counts (trailing empty run)");
  if (sum != total) return make_error("histogram decode: counts do not add up to the total");
  if (overflow > std::numeric_limits<uint64_t>::max() - total) {
    return make_error("histogram decode: count overflow");
  }

  // min/max must agree with the counts, or percentiles and equality would lie.
  const int64_t high = h.highest_;
  if (total + overflow == 0) {
    if (min != INT64_MAX || max != 0)
      return make_error("histogram decode: min/max set on an empty histogram");
  } else {
    if (min < 0 || max < min) return make_error("histogram decode: inconsistent min/max");
    if ((overflow > 0) != (max > high))
      return make_error("histogram decode: max disagrees with overflow count");
    if ((total > 0) != (min <= high))
      return make_error("histogram decode: min disagrees with the counts");
    if (total > 0) {
      const auto first = static_cast<size_t>(
          std::find_if(h.counts_.begin(), h.counts_.end(), [](uint64_t c) { return c != 0; }) -
          h.counts_.begin());
      const auto last = static_cast<size_t>(
          h.counts_.rend() -
          std::find_if(h.counts_.rbegin(), h.counts_.rend(), [](uint64_t c) { return c != 0; }) -
          1);
      if (h.counts_index(min) != first)
        return make_error("histogram decode: min disagrees with the counts");
      if (overflow == 0 && h.counts_index(max) != last) {
        return make_error("histogram decode: max disagrees with the counts");
      }
    }
  }
  h.total_ = total;
  h.overflow_ = overflow;
  h.min_ = min;
  h.max_ = max;
  return h;
}

}  // namespace servelab::measure
