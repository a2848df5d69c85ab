#include "serve/server_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <thread>
#include <utility>

#include "serve/model_metrics.h"

namespace servelab::serve {

namespace {

constexpr unsigned kMinStatus = 100;
constexpr unsigned kStatusCount = 500;                                       // 100..599
constexpr size_t kBucketCount = ServerMetrics::kDurationBuckets.size() + 1;  // + the +Inf bucket

// Cell layout of one shard:
//   [0, kRouteCount * kStatusCount)   requests by (route, status)
//   kInFlight                         in-flight requests (two's complement sum)
//   then per model: requests, rows, duration sum (ns), kBucketCount buckets
constexpr size_t kInFlight = kRouteCount * kStatusCount;
constexpr size_t kModelBase = kInFlight + 1;
constexpr size_t kModelRequests = 0;
constexpr size_t kModelRows = 1;
constexpr size_t kModelSumNs = 2;
constexpr size_t kModelBuckets = 3;
constexpr size_t kModelStride = kModelBuckets + kBucketCount;

size_t status_index(unsigned status) {
  if (status < kMinStatus || status >= kMinStatus + kStatusCount) status = 500;
  return status - kMinStatus;
}

constexpr auto kDurationBoundsNs = batch::bounds_ns(ServerMetrics::kDurationBuckets);

// Label values escape backslash, double quote and newline (exposition format).
std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// One model's histogram series: a cumulative _bucket line per bound and one
// for +Inf, then _sum and _count. `count(b)`: events in bucket b
// (b == bounds.size(): above the last bound).
template <class Bounds, class Count, class Sum>
void append_histogram(std::string& out, std::string_view name, std::string_view label,
                      const Bounds& bounds, Count count, Sum sum) {
  auto it = std::back_inserter(out);
  uint64_t cumulative = 0;
  for (size_t b = 0; b < bounds.size(); ++b) {
    cumulative += count(b);
    fmt::format_to(it, "{}_bucket{{model=\"{}\",le=\"{}\"}} {}\n", name, label, bounds[b],
                   cumulative);
  }
  cumulative += count(bounds.size());
  fmt::format_to(it, "{}_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", name, label, cumulative);
  fmt::format_to(it, "{}_sum{{model=\"{}\"}} {}\n", name, label, sum);
  fmt::format_to(it, "{}_count{{model=\"{}\"}} {}\n", name, label, cumulative);
}

std::atomic<size_t> g_next_thread{0};

}  // namespace

std::string_view to_string(Route route) {
  switch (route) {
    case Route::infer:
      return "infer";
    case Route::model_ready:
      return "model_ready";
    case Route::model_metadata:
      return "model_metadata";
    case Route::health_live:
      return "health_live";
    case Route::health_ready:
      return "health_ready";
    case Route::metrics:
      return "metrics";
    case Route::other:
      return "other";
    case Route::repository:
      return "repository";
    case Route::completions:
      return "completions";
  }
  return "other";
}

ServerMetrics::ServerMetrics(std::vector<std::string> model_names, size_t shards)
    : model_names_(std::move(model_names)) {
  if (shards == 0) shards = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16);
  shards_ = shards;
  const size_t cells = kModelBase + model_names_.size() * kModelStride;
  lines_per_shard_ = (cells + 7) / 8;
  lines_ = std::make_unique<Line[]>(shards_ * lines_per_shard_);
  model_ready_ = std::make_unique<std::atomic<uint8_t>[]>(model_names_.size());
  batch_sources_.resize(model_names_.size());
  model_labels_.reserve(model_names_.size());
  for (const auto& name : model_names_) model_labels_.push_back(escape_label(name));
}

ServerMetrics::~ServerMetrics() = default;

std::atomic<uint64_t>& ServerMetrics::cell(size_t shard, size_t index) const noexcept {
  return lines_[shard * lines_per_shard_ + index / 8].cell[index % 8];
}

uint64_t ServerMetrics::sum(size_t index) const noexcept {
  uint64_t total = 0;
  for (size_t s = 0; s < shards_; ++s) total += cell(s, index).load(std::memory_order_relaxed);
  return total;
}

// A thread keeps the shard it drew first; threads are spread round-robin.
size_t ServerMetrics::my_shard() const noexcept {
  thread_local const size_t thread_index = g_next_thread.fetch_add(1, std::memory_order_relaxed);
  return thread_index % shards_;
}

size_t ServerMetrics::model_base(size_t model) const noexcept {
  return kModelBase + model * kModelStride;
}

void ServerMetrics::request_started() noexcept {
  cell(my_shard(), kInFlight).fetch_add(1, std::memory_order_relaxed);
}

void ServerMetrics::request_finished(Route route, unsigned status) noexcept {
  const size_t shard = my_shard();
  // Unsigned wrap-around: the sum over shards is exact modulo 2^64.
  cell(shard, kInFlight).fetch_sub(1, std::memory_order_relaxed);
  cell(shard, static_cast<size_t>(route) * kStatusCount + status_index(status))
      .fetch_add(1, std::memory_order_relaxed);
}

void ServerMetrics::record_inference(size_t model, int64_t rows,
                                     std::chrono::nanoseconds duration) noexcept {
  const size_t shard = my_shard();
  const size_t base = model_base(model);
  const auto& bounds = kDurationBoundsNs;
  const int64_t ns = std::max<int64_t>(0, duration.count());
  const size_t bucket =
      static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), ns) - bounds.begin());
  cell(shard, base + kModelRequests).fetch_add(1, std::memory_order_relaxed);
  cell(shard, base + kModelRows)
      .fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, rows)), std::memory_order_relaxed);
  cell(shard, base + kModelSumNs).fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
  cell(shard, base + kModelBuckets + bucket).fetch_add(1, std::memory_order_relaxed);
}

void ServerMetrics::set_model_ready(size_t model, bool ready) noexcept {
  model_ready_[model].store(ready ? 1 : 0, std::memory_order_relaxed);
}

void ServerMetrics::set_connection_stats(const http::ConnectionStats* stats) noexcept {
  connections_.store(stats, std::memory_order_release);
}

void ServerMetrics::set_batch_source(size_t model, std::function<batch::BatchStats()> source) {
  batch_sources_[model] = std::move(source);
}

uint64_t ServerMetrics::requests(Route route, unsigned status) const noexcept {
  return sum(static_cast<size_t>(route) * kStatusCount + status_index(status));
}

uint64_t ServerMetrics::error_answers(Route route) const noexcept {
  uint64_t total = 0;
  for (unsigned status = 400; status < kMinStatus + kStatusCount; ++status)
    total += requests(route, status);
  return total;
}

int64_t ServerMetrics::in_flight() const noexcept { return static_cast<int64_t>(sum(kInFlight)); }

uint64_t ServerMetrics::inference_requests(size_t model) const noexcept {
  return sum(model_base(model) + kModelRequests);
}

uint64_t ServerMetrics::inference_rows(size_t model) const noexcept {
  return sum(model_base(model) + kModelRows);
}

// The dynamic batchers' series (docs/BATCHING.md), one set per model; a model
// without a batcher (batching off, or failed to load) reads 0.
void ServerMetrics::render_batch(std::string& out) const {
  auto it = std::back_inserter(out);
  auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(it, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  std::vector<batch::BatchStats> stats(model_names_.size());
  for (size_t m = 0; m < stats.size(); ++m) {
    if (batch_sources_[m]) stats[m] = batch_sources_[m]();
  }
  const auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                        auto value) {
    header(name, type, help);
    for (size_t m = 0; m < stats.size(); ++m) {
      fmt::format_to(it, "{}{{model=\"{}\"}} {}\n", name, model_labels_[m], value(stats[m]));
    }
  };
  header("servelab_batch_enabled", "gauge",
         "1 when the model's requests go through a dynamic batcher, else 0.");
  for (size_t m = 0; m < stats.size(); ++m) {
    fmt::format_to(it, "servelab_batch_enabled{{model=\"{}\"}} {}\n", model_labels_[m],
                   batch_sources_[m] ? 1 : 0);
  }
  each("servelab_batch_batches_total", "counter", "Batches dispatched by the dynamic batcher.",
       [](const batch::BatchStats& s) { return s.batches; });
  each("servelab_batch_requests_total", "counter", "Requests dispatched in batches.",
       [](const batch::BatchStats& s) { return s.requests; });
  each("servelab_batch_rows_total", "counter", "Rows dispatched in batches.",
       [](const batch::BatchStats& s) { return s.rows; });
  each("servelab_batch_failed_total", "counter",
       "Batches whose execution failed (each request answered 500).",
       [](const batch::BatchStats& s) { return s.failed_batches; });
  each("servelab_batch_queue_depth", "gauge", "Requests waiting in the batch queue now.",
       [](const batch::BatchStats& s) { return s.queue_depth; });
  each("servelab_batch_size_limit", "gauge",
       "Current batch size limit in rows (adaptive, else max_batch_size).",
       [](const batch::BatchStats& s) { return s.size_limit; });

  header("servelab_batch_size", "histogram", "Rows per dispatched batch.");
  for (size_t m = 0; m < stats.size(); ++m) {
    append_histogram(
        out, "servelab_batch_size", model_labels_[m], batch::BatchStats::kSizeBuckets,
        [&](size_t b) { return stats[m].size_counts[b]; }, stats[m].rows);
  }
  header("servelab_batch_queue_delay_seconds", "histogram",
         "Time a request waited in the batch queue before its batch was dispatched.");
  for (size_t m = 0; m < stats.size(); ++m) {
    append_histogram(
        out, "servelab_batch_queue_delay_seconds", model_labels_[m],
        batch::BatchStats::kDelayBuckets, [&](size_t b) { return stats[m].delay_counts[b]; },
        static_cast<double>(stats[m].delay_sum_ns) / 1e9);
  }
  header("servelab_batch_dispatches_total", "counter",
         "Batches dispatched, by trigger: size (limit reached), delay (max_queue_delay passed), "
         "drain (shutdown).");
  for (size_t m = 0; m < stats.size(); ++m) {
    for (size_t t = 0; t < batch::kTriggerCount; ++t) {
      fmt::format_to(it, "servelab_batch_dispatches_total{{model=\"{}\",trigger=\"{}\"}} {}\n",
                     model_labels_[m], batch::to_string(static_cast<batch::Trigger>(t)),
                     stats[m].dispatches[t]);
    }
  }
  header(
      "servelab_batch_rejections_total", "counter",
      "Requests refused or dropped by the batcher, by reason (all answered 503 with Retry-After).");
  for (size_t m = 0; m < stats.size(); ++m) {
    for (size_t r = 0; r < batch::kRejectionCount; ++r) {
      fmt::format_to(it, "servelab_batch_rejections_total{{model=\"{}\",reason=\"{}\"}} {}\n",
                     model_labels_[m], batch::to_string(static_cast<batch::Rejection>(r)),
                     stats[m].rejections[r]);
    }
  }
}

std::string ServerMetrics::render() const {
  std::string out;
  out.reserve(4096 + model_names_.size() * 2048);
  auto it = std::back_inserter(out);
  auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(it, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };

  header("servelab_http_requests_total", "counter",
         "HTTP requests answered by the API, by route and status code.");
  for (size_t r = 0; r < kRouteCount; ++r) {
    for (unsigned s = 0; s < kStatusCount; ++s) {
      const uint64_t n = sum(r * kStatusCount + s);
      if (n == 0) continue;
      fmt::format_to(it, "servelab_http_requests_total{{route=\"{}\",code=\"{}\"}} {}\n",
                     to_string(static_cast<Route>(r)), s + kMinStatus, n);
    }
  }
  header("servelab_http_requests_in_flight", "gauge",
         "HTTP requests being handled now (this scrape included).");
  fmt::format_to(it, "servelab_http_requests_in_flight {}\n", in_flight());

  header("servelab_inference_requests_total", "counter",
         "Successful inference requests, by model.");
  for (size_t m = 0; m < model_names_.size(); ++m) {
    fmt::format_to(it, "servelab_inference_requests_total{{model=\"{}\"}} {}\n", model_labels_[m],
                   inference_requests(m));
  }
  header("servelab_inference_rows_total", "counter", "Rows (batch elements) computed, by model.");
  for (size_t m = 0; m < model_names_.size(); ++m) {
    fmt::format_to(it, "servelab_inference_rows_total{{model=\"{}\"}} {}\n", model_labels_[m],
                   inference_rows(m));
  }
  header("servelab_inference_duration_seconds", "histogram",
         "Forward pass time per inference request, by model.");
  for (size_t m = 0; m < model_names_.size(); ++m) {
    const size_t base = model_base(m);
    append_histogram(
        out, "servelab_inference_duration_seconds", model_labels_[m], kDurationBuckets,
        [&](size_t b) { return sum(base + kModelBuckets + b); },
        static_cast<double>(sum(base + kModelSumNs)) / 1e9);
  }
  header("servelab_model_ready", "gauge", "1 when the model is loaded and serving, else 0.");
  std::vector<models::ModelStatus> statuses;
  if (manager_ != nullptr) statuses = manager_->index();  // sorted by name: the order of configs()
  for (size_t m = 0; m < model_names_.size(); ++m) {
    const int ready = m < statuses.size() ? statuses[m].state == models::ModelState::ready
                                          : model_ready_[m].load(std::memory_order_relaxed);
    fmt::format_to(it, "servelab_model_ready{{model=\"{}\"}} {}\n", model_labels_[m], ready);
  }
  if (manager_ != nullptr) {
    render_model_manager(out, statuses, manager_->stats(), model_labels_, async_loading_,
                         model_waits_.load(std::memory_order_relaxed));
  }

  render_batch(out);

  const http::ConnectionStats* c = connections_.load(std::memory_order_acquire);
  auto read = [&](const std::atomic<uint64_t> http::ConnectionStats::*field) -> uint64_t {
    return c ? (c->*field).load(std::memory_order_relaxed) : 0;
  };
  // Read closed before opened so that active never goes negative.
  const uint64_t closed = read(&http::ConnectionStats::closed);
  const uint64_t opened = read(&http::ConnectionStats::opened);
  header("servelab_connections_opened_total", "counter", "TCP connections accepted.");
  fmt::format_to(it, "servelab_connections_opened_total {}\n", opened);
  header("servelab_connections_closed_total", "counter", "TCP connections closed.");
  fmt::format_to(it, "servelab_connections_closed_total {}\n", closed);
  header("servelab_connections_active", "gauge", "TCP connections open now.");
  fmt::format_to(it, "servelab_connections_active {}\n", opened >= closed ? opened - closed : 0);
  header("servelab_connection_idle_timeouts_total", "counter",
         "Keep-alive connections closed after idling past the idle timeout.");
  fmt::format_to(it, "servelab_connection_idle_timeouts_total {}\n",
                 read(&http::ConnectionStats::idle_timeouts));
  header("servelab_connection_max_requests_closes_total", "counter",
         "Keep-alive connections closed after --max-requests-per-connection responses.");
  fmt::format_to(it, "servelab_connection_max_requests_closes_total {}\n",
                 read(&http::ConnectionStats::max_requests_closes));
  header("servelab_http_rejected_total", "counter",
         "Requests refused by the HTTP layer before the API (header/body too large, malformed).");
  fmt::format_to(it, "servelab_http_rejected_total {}\n", read(&http::ConnectionStats::rejected));
  for (const auto& source : extra_sources_) source(out);
  return out;
}

void ServerMetrics::add_render_source(std::function<void(std::string&)> source) {
  extra_sources_.push_back(std::move(source));
}

}  // namespace servelab::serve
