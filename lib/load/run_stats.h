#pragma once
// What a run measured: per-thread Recorders (recorder.h) are merged into one
// RunStats after the worker threads join. Reports read only this.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "load/generate_stats.h"
#include "measure/histogram.h"
#include "pool/pool_stats.h"

namespace servelab::load {

enum class ErrorClass : uint8_t {
  connect,   // could not connect (refused, reset during connect, DNS)
  timeout,   // no complete response within the request timeout
  http_4xx,  // response with a 4xx status
  http_5xx,  // response with a 5xx status
  protocol,  // malformed response, connection closed mid-response, other transfer errors
  kCount
};
std::string_view to_string(ErrorClass c);

struct Counters {
  uint64_t requests = 0;  // completed attempts (ok + errors) in the measured phase
  uint64_t ok = 0;        // 2xx/3xx responses
  std::array<uint64_t, static_cast<size_t>(ErrorClass::kCount)> errors{};
  // Open loop: requests whose actual send was more than 1 ms after their
  // intended time, whatever the cause: every connection busy, or the worker's
  // loop waking late (epoll's 1 ms timeout resolution, descheduling). They
  // are sent and measured from the intended time; this counts how many.
  uint64_t late = 0;
  // Requests in flight (both modes) or due but unsent (open loop) when the
  // measured phase ended (not completed, so not in `requests`; reported,
  // never hidden).
  uint64_t unfinished = 0;
  uint64_t bytes_in = 0;            // response bytes (headers + body)
  uint64_t bytes_out = 0;           // request bytes (headers + body)
  uint64_t connections_opened = 0;  // TCP connections the client opened

  uint64_t error_total() const {
    uint64_t n = 0;
    for (auto e : errors) n += e;
    return n;
  }
  void add(const Counters& o);
};

// One bucket of the measured phase (merged over threads): one second, or
// for a measured phase over 600 s, the same few seconds per bucket so that
// there are at most 600 (Recorder::kMaxTimelineBuckets). The bucket width is
// the difference between consecutive `second`s.
struct TimelinePoint {
  double second = 0;      // seconds since the start of the measured phase (bucket start)
  uint64_t requests = 0;  // completed in this bucket
  uint64_t errors = 0;
  int64_t p50_us = 0;  // corrected latency percentiles of requests completed in this bucket
  int64_t p99_us = 0;
  int64_t max_us = 0;
};

struct RequestMixStats {
  std::string name;  // RequestSpec::name
  uint64_t requests = 0;
  uint64_t errors = 0;
};

struct RunStats {
  // Latency in µs. In open loop `latency` is measured from each request's
  // intended send time (coordinated-omission corrected) and `uncorrected`
  // from its actual send time; in closed loop both are from the actual send.
  measure::Histogram latency;
  measure::Histogram uncorrected;
  Counters counters;
  std::map<int, uint64_t> status_codes;  // HTTP status → count
  std::vector<RequestMixStats> mix;      // per [[requests]] entry, in scenario order
  std::vector<TimelinePoint> timeline;
  std::chrono::microseconds measured{0};  // actual length of the measured phase
  double client_cpu_seconds = 0;  // user+sys of the generator process during the measured phase
  bool partial = false;           // interrupted before the planned end
  int threads = 0;
  int connections = 0;
  std::string engine;    // the transport that ran: "curl" or "native" (load.engine resolved)
  pool::PoolStats pool;  // the connection pool (docs/POOL.md)
  uint64_t client_peak_rss_kb =
      0;                   // the generator's peak resident memory (getrusage ru_maxrss), KiB
  GenerateStats generate;  // `generate` requests (enabled when the plan had any)

  // Completed requests per second of the measured phase, connect failures
  // left out (they are errors, not throughput).
  double rps() const;
  double connection_reuse_rate() const;  // 1 - connections_opened / requests (0 when none)
};

}  // namespace servelab::load
