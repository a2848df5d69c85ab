#pragma once
// Knobs and counters of lib/stream's Streamer.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace servelab::stream {

struct FlushPolicy {
  enum class Mode { per_event, coalesce };
  // per_event: every write() leaves at once (lowest latency: SSE tokens).
  // coalesce: written bytes wait until `max_bytes` of them are waiting, or
  // the oldest has waited `max_delay` (checked on each write and when the
  // socket drains; a producer that goes quiet without finishing should call
  // flush()), then leave as one chunk: fewer syscalls and chunk headers.
  Mode mode = Mode::per_event;
  size_t max_bytes = 4096;                    // coalesce: bytes
  std::chrono::microseconds max_delay{5000};  // coalesce: age of the oldest waiting byte
};

struct StreamConfig {
  // Bytes the streamer holds for one response (waiting + being written)
  // before it pauses the producer: a slow reader costs at most this much
  // (plus one write's worth) instead of the whole body. Resumed at half.
  size_t buffer_limit = 16 * 1024;
  FlushPolicy flush;
  // gzip the body (Content-Encoding: gzip). Set only when the client sent
  // Accept-Encoding: gzip (accepts_gzip()) and the body is expected to be
  // over gzip_min_bytes (use_gzip()).
  bool gzip = false;
  size_t gzip_min_bytes = 1024;  // spec: compress above 1 KB
  // After the first gzip_probe_bytes of input, a saving under
  // gzip_min_saving (spec: 20%) turns compression off for the rest of the
  // body (deflate level 0: no CPU spent for nothing).
  size_t gzip_probe_bytes = 4096;
  double gzip_min_saving = 0.2;
};

// Server-wide counters of every stream, for /metrics. Updated with relaxed
// atomics once per chunk written (not per byte or event).
struct StreamMetrics {
  std::atomic<uint64_t> streams{0};              // streams started
  std::atomic<uint64_t> chunks{0};               // HTTP chunks written
  std::atomic<uint64_t> bytes{0};                // body bytes written (after gzip)
  std::atomic<uint64_t> backpressure_events{0};  // producer paused for a full buffer
  std::atomic<uint64_t> failed{0};               // streams whose connection failed
  std::atomic<uint64_t> gzip_in_bytes{0};        // gzipped bodies: bytes before compression
  std::atomic<uint64_t> gzip_out_bytes{0};       // gzipped bodies: bytes after compression
  // Most bytes one stream held at once (waiting + being written): the
  // buffer bound at work. Raised only when a stream passes it.
  std::atomic<uint64_t> max_held_bytes{0};
};

}  // namespace servelab::stream
