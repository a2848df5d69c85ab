#pragma once
// The streamer: sends a response body as it is produced, through an
// http::BodyWriter (chunked transfer coding), with
//   - a bounded buffer and backpressure: bytes waiting or being written are
//     capped at StreamConfig::buffer_limit; past it write() tells the
//     producer to pause, and the resume callback runs once the socket has
//     drained half of it (memory stays bounded however slow the reader);
//   - a flush policy: every write leaves at once, or writes coalesce up to
//     N bytes / T (FlushPolicy);
//   - optional gzip (one deflate stream over the whole body, flushed at each
//     chunk so that the client can decode every chunk as it comes);
//   - metrics (chunks, bytes, backpressure events, compression ratio).
// At most one write is in flight: while it is, new bytes gather in a second
// buffer, which becomes the next chunk when the first completes.
//
// Threads: one producer at a time calls write/flush/finish/abort (from any
// thread); completions arrive on network threads. A mutex guards the state;
// the BodyWriter and the callbacks are always called with it released.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "http/body_writer.h"
#include "stream/gzip.h"
#include "stream/stream_config.h"

namespace servelab::stream {

class Streamer : public std::enable_shared_from_this<Streamer> {
 public:
  // `metrics` may be null; else it outlives the streamer.
  static std::shared_ptr<Streamer> create(std::shared_ptr<http::BodyWriter> writer,
                                          StreamConfig config, StreamMetrics* metrics = nullptr);
  ~Streamer();
  Streamer(const Streamer&) = delete;
  Streamer& operator=(const Streamer&) = delete;

  // Runs (on a network thread, without the lock) when a paused producer may
  // go on, and also when the stream fails, so that a paused producer learns
  // of it. Set before the first write(); may be cleared (null) later, e.g.
  // before the producer's last writes.
  void on_resume(std::function<void()> resume);

  // Queues `bytes` (copied). Returns false when the producer must pause
  // (buffer full, counted as a backpressure event) or stop (failed()); in
  // both cases the resume callback follows (at once when failed), and the
  // producer writes again only after it (checking failed() first). The
  // bytes of a write that returns false for a full buffer are still sent
  // (the bound overshoots by one write at most).
  bool write(std::string_view bytes);
  // Sends whatever waits now, whatever the flush policy.
  void flush();
  // Ends the body (the last chunk, with the end of the gzip member);
  // `done(ok)` runs once every byte was written (ok) or the stream failed.
  void finish(std::function<void(bool ok)> done = {});
  // Gives up: the client sees a truncated body (see BodyWriter::abort()).
  void abort();

  // The connection failed (client gone): stop producing.
  bool failed() const;
  // Bytes held now / at most so far (waiting + being written).
  size_t held_bytes() const;
  size_t peak_held_bytes() const;
  uint64_t backpressure_events() const;
  bool gzip() const { return gzip_ != nullptr; }

 private:
  Streamer(std::shared_ptr<http::BodyWriter> writer, StreamConfig config, StreamMetrics* metrics);

  struct Action {  // a write to start once the lock is released
    bool write = false;
    bool last = false;
  };
  // Under the lock: moves waiting bytes into the in-flight buffer if none is
  // in flight and (force || the policy says so).
  Action take(bool force, std::chrono::steady_clock::time_point now);
  void start(Action a);
  void on_written(bool ok);
  void compress_pending(bool last);  // under the lock, gzip only
  void count_gzip();                 // adds the gzip byte counts to metrics_, once

  std::shared_ptr<http::BodyWriter> writer_;
  const StreamConfig config_;
  StreamMetrics* metrics_;
  std::unique_ptr<GzipWriter> gzip_;

  mutable std::mutex mu_;
  std::string pending_;                             // waiting (compressed already when gzip)
  std::string inflight_;                            // being written; untouched until its completion
  std::string raw_;                                 // gzip: written bytes not yet compressed
  std::chrono::steady_clock::time_point oldest_{};  // when the oldest waiting byte came
  bool in_flight_ = false;
  bool paused_ = false;
  bool finishing_ = false;  // finish() called; the last chunk goes when the buffer is free
  bool done_ = false;       // the last chunk was written, or the stream failed
  bool failed_ = false;
  bool probed_ = false;        // gzip ratio checked
  bool gzip_counted_ = false;  // count_gzip() done
  size_t peak_ = 0;
  uint64_t backpressure_ = 0;
  std::function<void()> resume_;
  std::function<void(bool)> finished_;
};

// Whether a body expected to be `expected_bytes` long should be gzipped for
// a client whose Accept-Encoding is `accept_encoding` (see StreamConfig).
bool use_gzip(std::string_view accept_encoding, size_t expected_bytes, const StreamConfig& config);

}  // namespace servelab::stream
