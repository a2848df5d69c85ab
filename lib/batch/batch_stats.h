#pragma once
// A snapshot of one RequestBatcher's counters, for /metrics. Histograms keep
// per-bucket (not cumulative) counts; the last bucket is +Inf.

#include <array>
#include <cstddef>
#include <cstdint>

namespace servelab::batch {

// Why a batch left the queue.
enum class Trigger : uint8_t { size, delay, drain };
inline constexpr size_t kTriggerCount = 3;
// Why a request was refused or dropped without being computed.
enum class Rejection : uint8_t { queue_full, queue_timeout, shutdown };
inline constexpr size_t kRejectionCount = 3;

const char* to_string(Trigger trigger);
const char* to_string(Rejection rejection);

// Histogram bounds in seconds as whole nanoseconds (rounded), so that
// recording a sample compares integers.
template <size_t N>
constexpr std::array<int64_t, N> bounds_ns(const std::array<double, N>& seconds) {
  std::array<int64_t, N> ns{};
  for (size_t i = 0; i < N; ++i) ns[i] = static_cast<int64_t>(seconds[i] * 1e9 + 0.5);
  return ns;
}

struct BatchStats {
  // Upper bounds of the batch size histogram, in rows.
  static constexpr std::array<int64_t, 13> kSizeBuckets = {1,   2,   4,   8,    16,   32,  64,
                                                           128, 256, 512, 1024, 2048, 4096};
  // Upper bounds of the queue delay histogram, in seconds (50 µs to 1 s).
  static constexpr std::array<double, 14> kDelayBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                           0.0025,  0.005,  0.01,    0.025,  0.05,
                                                           0.1,     0.25,   0.5,     1.0};

  uint64_t batches = 0;
  uint64_t requests = 0;  // requests dispatched in batches
  uint64_t rows = 0;      // rows dispatched in batches
  std::array<uint64_t, kSizeBuckets.size() + 1> size_counts{};
  std::array<uint64_t, kTriggerCount> dispatches{};  // by Trigger
  std::array<uint64_t, kDelayBuckets.size() + 1> delay_counts{};
  uint64_t delay_sum_ns = 0;                           // queue delay of every dispatched request
  std::array<uint64_t, kRejectionCount> rejections{};  // by Rejection
  uint64_t failed_batches = 0;                         // executions that returned an error
  uint64_t queue_depth = 0;                            // requests waiting now
  int64_t size_limit = 0;  // current size limit in rows (adaptive or max_batch_size)
};

}  // namespace servelab::batch
