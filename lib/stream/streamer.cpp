#include "stream/streamer.h"

#include <algorithm>
#include <utility>

namespace servelab::stream {

bool use_gzip(std::string_view accept_encoding, size_t expected_bytes, const StreamConfig& config) {
  return expected_bytes > config.gzip_min_bytes && accepts_gzip(accept_encoding);
}

std::shared_ptr<Streamer> Streamer::create(std::shared_ptr<http::BodyWriter> writer,
                                           StreamConfig config, StreamMetrics* metrics) {
  return std::shared_ptr<Streamer>(new Streamer(std::move(writer), std::move(config), metrics));
}

Streamer::Streamer(std::shared_ptr<http::BodyWriter> writer, StreamConfig config,
                   StreamMetrics* metrics)
    : writer_(std::move(writer)), config_(std::move(config)), metrics_(metrics) {
  if (config_.gzip) gzip_ = std::make_unique<GzipWriter>();
  if (metrics_) metrics_->streams.fetch_add(1, std::memory_order_relaxed);
  // Both buffers keep their capacity for the whole stream: after the first
  // chunks, writes allocate nothing.
  pending_.reserve(std::min<size_t>(config_.buffer_limit, 4096));
  inflight_.reserve(std::min<size_t>(config_.buffer_limit, 4096));
}

Streamer::~Streamer() {
  count_gzip();
}  // a stream that failed or was dropped before its last chunk

void Streamer::count_gzip() {
  if (!gzip_ || !metrics_ || gzip_counted_) return;
  gzip_counted_ = true;
  metrics_->gzip_in_bytes.fetch_add(gzip_->in_bytes(), std::memory_order_relaxed);
  metrics_->gzip_out_bytes.fetch_add(gzip_->out_bytes(), std::memory_order_relaxed);
}

void Streamer::on_resume(std::function<void()> resume) {
  std::lock_guard lock(mu_);
  resume_ = std::move(resume);
}

void Streamer::compress_pending(bool last) {
  gzip_->write(raw_, pending_);
  raw_.clear();
  if (last) {
    gzip_->finish(pending_);
    // Counted before the last chunk leaves, so that a client that has the
    // whole body sees its bytes in /metrics.
    count_gzip();
    return;
  }
  gzip_->flush(pending_);
  if (!probed_ && gzip_->in_bytes() >= config_.gzip_probe_bytes) {
    probed_ = true;
    const double saving =
        1.0 - static_cast<double>(gzip_->out_bytes()) / static_cast<double>(gzip_->in_bytes());
    if (saving < config_.gzip_min_saving) gzip_->disable_compression(pending_);
  }
}

Streamer::Action Streamer::take(bool force, std::chrono::steady_clock::time_point now) {
  if (in_flight_ || done_) return {};
  const bool last = finishing_;
  const size_t waiting = pending_.size() + raw_.size();
  if (!last && waiting == 0) return {};
  if (!last && !force && config_.flush.mode == FlushPolicy::Mode::coalesce &&
      waiting < config_.flush.max_bytes && now - oldest_ < config_.flush.max_delay)
    return {};
  if (gzip_) compress_pending(last);
  inflight_.swap(pending_);
  pending_.clear();
  in_flight_ = true;
  if (last) done_ = true;
  return {true, last};
}

void Streamer::start(Action a) {
  if (!a.write) return;
  writer_->write(std::span<const char>(inflight_.data(), inflight_.size()), a.last,
                 [self = shared_from_this()](bool ok) { self->on_written(ok); });
}

bool Streamer::write(std::string_view bytes) {
  const auto now = std::chrono::steady_clock::now();
  Action a;
  bool go_on = true;
  {
    std::unique_lock lock(mu_);
    if (failed_ || finishing_) {
      // The stream failed between the producer's last check and now: the
      // producer stops on this false and, as promised, hears back through
      // the resume callback (it then sees failed()).
      std::function<void()> resume = failed_ ? resume_ : nullptr;
      lock.unlock();
      if (resume) resume();
      return false;
    }
    std::string& into = gzip_ ? raw_ : pending_;
    if (pending_.empty() && raw_.empty()) oldest_ = now;
    into.append(bytes);
    a = take(config_.flush.mode == FlushPolicy::Mode::per_event, now);
    const size_t held = pending_.size() + raw_.size() + inflight_.size();
    if (held > peak_) {
      peak_ = held;
      if (metrics_) {
        uint64_t seen = metrics_->max_held_bytes.load(std::memory_order_relaxed);
        while (seen < held && !metrics_->max_held_bytes.compare_exchange_weak(
                                  seen, held, std::memory_order_relaxed)) {
        }
      }
    }
    if (held >= config_.buffer_limit) {
      paused_ = true;
      ++backpressure_;
      if (metrics_) metrics_->backpressure_events.fetch_add(1, std::memory_order_relaxed);
      go_on = false;
    }
  }
  start(a);
  return go_on;
}

void Streamer::flush() {
  Action a;
  {
    std::lock_guard lock(mu_);
    a = take(true, std::chrono::steady_clock::now());
  }
  start(a);
}

void Streamer::finish(std::function<void(bool)> done) {
  Action a;
  bool failed_now = false;
  {
    std::lock_guard lock(mu_);
    finished_ = std::move(done);
    if (failed_) {
      failed_now = true;
    } else {
      finishing_ = true;
      a = take(true, std::chrono::steady_clock::now());
    }
  }
  if (failed_now) {
    std::function<void(bool)> f;
    {
      std::lock_guard lock(mu_);
      f = std::move(finished_);
    }
    if (f) f(false);
    return;
  }
  start(a);
}

void Streamer::abort() {
  std::function<void()> resume;
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    done_ = true;
    failed_ = true;
    // A paused producer waits for a resume that would otherwise never come:
    // the write in flight may still complete ok, and a done stream takes no
    // more. It learns here that the stream is over (it then sees failed()).
    if (paused_) resume = resume_;
    paused_ = false;
  }
  writer_->abort();
  if (resume) resume();
}

void Streamer::on_written(bool ok) {
  Action a;
  std::function<void()> resume;
  std::function<void(bool)> finished;
  {
    std::lock_guard lock(mu_);
    in_flight_ = false;
    if (ok && metrics_) {
      metrics_->chunks.fetch_add(1, std::memory_order_relaxed);
      metrics_->bytes.fetch_add(inflight_.size(), std::memory_order_relaxed);
    }
    inflight_.clear();
    if (!ok) {
      if (!failed_ && metrics_) metrics_->failed.fetch_add(1, std::memory_order_relaxed);
      failed_ = true;
      done_ = true;
      pending_.clear();
      raw_.clear();
      if (paused_) resume = resume_;  // the paused producer must learn that it is over
      paused_ = false;
      finished = std::move(finished_);
    } else if (done_) {
      finished = std::move(finished_);  // the last chunk went out
    } else {
      // The socket drained: what gathered meanwhile leaves now if the policy
      // says so (per event: always).
      a = take(config_.flush.mode == FlushPolicy::Mode::per_event || finishing_,
               std::chrono::steady_clock::now());
      const size_t held = pending_.size() + raw_.size() + inflight_.size();
      if (paused_ && held <= config_.buffer_limit / 2) {
        paused_ = false;
        resume = resume_;
      }
    }
  }
  start(a);
  if (finished) finished(ok);
  if (resume) resume();
}

bool Streamer::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

size_t Streamer::held_bytes() const {
  std::lock_guard lock(mu_);
  return pending_.size() + raw_.size() + inflight_.size();
}

size_t Streamer::peak_held_bytes() const {
  std::lock_guard lock(mu_);
  return peak_;
}

uint64_t Streamer::backpressure_events() const {
  std::lock_guard lock(mu_);
  return backpressure_;
}

}  // namespace servelab::stream
