#pragma once
// Counters behind GET /metrics (Prometheus text format 0.0.4). Updated from
// several network threads at once without locks: every slot (per route and
// status code, per model) is allocated at construction, and the counters are
// split into per-thread shards of relaxed atomics so that threads do not
// fight over one cache line per request (STYLE.md "never a shared atomic per
// request"). render() sums the shards.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch_stats.h"
#include "http/http_server.h"
#include "models/model_manager.h"

namespace servelab::serve {

// The `route` label of servelab_http_requests_total (serve/router.h gives
// every route one). `other`: server metadata (GET /v2) and paths that match
// no route.
enum class Route : uint8_t {
  infer,
  model_ready,
  model_metadata,
  health_live,
  health_ready,
  metrics,
  other,
  repository,
  completions,
};
inline constexpr size_t kRouteCount = 9;
std::string_view to_string(Route route);

class ServerMetrics {
 public:
  // Upper bounds in seconds of servelab_inference_duration_seconds buckets
  // (+Inf is implied): 100 µs to 10 s, the range of a forward pass on a CPU.
  static constexpr std::array<double, 16> kDurationBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

  // One slot per model, in the order given (the repository's entry order);
  // `shards` 0 picks one per hardware thread (at most 16).
  explicit ServerMetrics(std::vector<std::string> model_names, size_t shards = 0);
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Request accounting: started() raises in-flight, finished() lowers it and
  // counts the request under (route, status). Status outside 100..599 is
  // counted as 500.
  void request_started() noexcept;
  void request_finished(Route route, unsigned status) noexcept;
  // One successful forward pass of `rows` rows over `duration`.
  // REQUIRES: model < model_count()
  void record_inference(size_t model, int64_t rows, std::chrono::nanoseconds duration) noexcept;
  void set_model_ready(size_t model, bool ready) noexcept;
  // The HTTP server's connection counters, read by render(). Null: the
  // connection metrics read 0. REQUIRES: outlives this object or is reset.
  void set_connection_stats(const http::ConnectionStats* stats) noexcept;
  // Where render() reads model `model`'s servelab_batch_* series (its
  // RequestBatcher); without one they read 0. REQUIRES: called before the
  // server serves (not concurrently with render()); `source` outlives this
  // object's use. REQUIRES: model < model_count()
  void set_batch_source(size_t model, std::function<batch::BatchStats()> source);

  // The model manager whose state render() reports (servelab_model_ready
  // and the servelab_model_* series of model_metrics.h); without one,
  // servelab_model_ready reads what set_model_ready() set. `async`: its
  // async_loading toggle (reported as a gauge). REQUIRES: its configs() are
  // the models given to the constructor, in that order; set before the
  // server serves; outlives this object's use.
  void set_model_manager(const models::ModelManager* manager, bool async) noexcept {
    manager_ = manager;
    async_loading_ = async;
  }
  // A request that waited for its model's load and was called back from a
  // loader thread (async loading's cold path only, never per request).
  void record_model_wait() noexcept { model_waits_.fetch_add(1, std::memory_order_relaxed); }
  // Appends another component's series (e.g. /v1/completions) to render().
  // REQUIRES: called before the server serves; `source` outlives its use.
  void add_render_source(std::function<void(std::string&)> source);

  size_t model_count() const noexcept { return model_names_.size(); }

  // Prometheus text format 0.0.4. Counters with no event yet per (route,
  // code) are left out; per-model series are always present.
  std::string render() const;

  // Sums over shards (tests, reports).
  uint64_t requests(Route route, unsigned status) const noexcept;
  uint64_t error_answers(Route route) const noexcept;  // answered with a status of 400 or more
  int64_t in_flight() const noexcept;
  uint64_t inference_requests(size_t model) const noexcept;
  uint64_t inference_rows(size_t model) const noexcept;

 private:
  // 64-byte line of counters; shards start on their own lines.
  struct alignas(64) Line {
    std::array<std::atomic<uint64_t>, 8> cell{};
  };

  std::atomic<uint64_t>& cell(size_t shard, size_t index) const noexcept;
  uint64_t sum(size_t index) const noexcept;
  size_t my_shard() const noexcept;
  size_t model_base(size_t model) const noexcept;
  void render_batch(std::string& out) const;  // appends the servelab_batch_* series

  std::vector<std::string> model_names_;
  std::vector<std::string> model_labels_;  // escaped for the label value
  size_t shards_;
  size_t lines_per_shard_;
  std::unique_ptr<Line[]> lines_;  // shards_ * lines_per_shard_
  std::unique_ptr<std::atomic<uint8_t>[]> model_ready_;
  std::atomic<const http::ConnectionStats*> connections_{nullptr};
  std::vector<std::function<batch::BatchStats()>> batch_sources_;  // per model; empty: no batcher
  const models::ModelManager* manager_ = nullptr;
  bool async_loading_ = false;
  std::atomic<uint64_t> model_waits_{0};
  std::vector<std::function<void(std::string&)>> extra_sources_;  // add_render_source()
};

}  // namespace servelab::serve
