#pragma once
// Per-worker-thread measurements. Each worker owns one Recorder and records
// into it without synchronization; recorders are merged into a RunStats after
// the workers join (wrk2 thread_main + hdr_add). Everything is allocated in
// the constructor: record() is index computations and increments.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "load/generate_stats.h"
#include "load/run_stats.h"
#include "measure/histogram.h"

namespace servelab::load {

// One finished transfer, as the engine saw it.
struct Sample {
  // From the intended send time (open loop) or the actual send (closed loop).
  std::chrono::microseconds latency{0};
  std::chrono::microseconds uncorrected{0};  // from the actual send
  // Completion time since the start of the measured phase (negative during
  // warmup: not put in the timeline).
  std::chrono::microseconds at{0};
  uint32_t mix_index = 0;                   // index into Plan::requests
  int status = 0;                           // HTTP status; 0 when no response arrived
  bool failed = false;                      // transfer error or 4xx/5xx status
  ErrorClass error = ErrorClass::protocol;  // meaningful when `failed`
  uint64_t bytes_in = 0;                    // response headers + body
  uint64_t bytes_out = 0;                   // request headers + body
  uint32_t connects = 0;                    // new connections this transfer opened
};

// Maps a finished transfer to an error class: transport errors by libcurl
// result code (`curl_code` is a CURLcode, 0 = CURLE_OK), then 4xx/5xx.
// Returns false (and leaves *out) when the transfer succeeded.
bool classify(int curl_code, int status, ErrorClass* out) noexcept;

class Recorder {
 public:
  static constexpr int kFirstStatus = 100;  // status codes kept: [100, 600)
  static constexpr int kStatusCount = 500;
  // Per-bucket histograms: 2 significant digits up to 60 s in µs keeps each
  // one at 2,560 counters (20 KB) while giving per-bucket p50/p99 within 1%.
  // Only the measured phase has a timeline: warmup completions are
  // discarded at the boundary.
  static constexpr int64_t kSecondHighest = 60'000'000;
  static constexpr int kSecondDigits = 2;
  // At most this many timeline buckets, so that memory does not grow with
  // the run's length: 600 x 20 KB = 12 MB per thread, whether the run lasts
  // 10 minutes or a day. Up to 600 s a bucket is one second; a longer
  // measured phase gets buckets of ceil(seconds / 600) seconds (24 h: 144 s).
  // Totals are exact either way: only the time resolution is coarser.
  static constexpr size_t kMaxTimelineBuckets = 600;

  // Seconds per timeline bucket for a measured phase of `timeline_seconds`.
  static size_t bucket_seconds_for(size_t timeline_seconds) noexcept;

  // mix_entries: Plan::requests.size(); timeline_seconds: length of the
  // measured phase in whole seconds, rounded up (completions later than that
  // go to the last bucket).
  Recorder(size_t mix_entries, size_t timeline_seconds);

  // The timeline's layout: buckets held, and seconds per bucket.
  size_t timeline_buckets() const noexcept { return second_requests_.size(); }
  size_t bucket_seconds() const noexcept { return bucket_seconds_; }

  void record(const Sample& s) noexcept;
  void count_late() noexcept { ++counters_.late; }
  void add_unfinished(uint64_t n) noexcept { counters_.unfinished += n; }
  // `generate` requests' figures (generate_tracker.h records into it).
  GenerateStats& generate() noexcept { return generate_; }
  const GenerateStats& generate() const noexcept { return generate_; }
  // Forgets everything (the warmup/measured boundary).
  void reset() noexcept;

  const Counters& counters() const noexcept { return counters_; }
  const measure::Histogram& latency() const noexcept { return latency_; }
  const measure::Histogram& uncorrected() const noexcept { return uncorrected_; }
  uint64_t status_count(int status) const noexcept;

  // Merges per-thread recorders (same mix size and timeline length) into one
  // RunStats: histograms, counters, status map, mix stats (named by
  // `mix_names`) and the timeline truncated to `measured` (rounded up to
  // whole buckets; TimelinePoint::second is each bucket's start). The caller
  // fills the remaining RunStats fields.
  static Result<RunStats> merge(const std::vector<const Recorder*>& recorders,
                                const std::vector<std::string>& mix_names,
                                std::chrono::microseconds measured);

 private:
  measure::Histogram latency_;
  measure::Histogram uncorrected_;
  Counters counters_;
  std::array<uint64_t, kStatusCount> status_{};
  std::vector<uint64_t> mix_requests_;
  std::vector<uint64_t> mix_errors_;
  size_t bucket_seconds_ = 1;                       // seconds per timeline bucket
  std::vector<measure::Histogram> second_latency_;  // corrected latency by completion bucket
  std::vector<uint64_t> second_requests_;
  std::vector<uint64_t> second_errors_;
  bool timeline_touched_ = false;  // reset() clears the timeline only if needed
  GenerateStats generate_;         // enabled by the worker when the plan has generate requests
};

}  // namespace servelab::load
