#pragma once
// The model manager (async model loading, the `async_loading` toggle): owns
// every model of a repository and decides when each one is in memory.
//
//   unloaded ──load──▶ loading ──ok──▶ ready ──evict/unload──▶ unloading ──▶ unloaded
//                         └──error/timeout──▶ failed ──load (retry)──▶ loading
//
// Async mode (the `async_loading` toggle on): loads run on a loader pool of
// `max_concurrent_loads` threads; a request for a model that is not ready
// registers a waiter with its own deadline and returns at once, so no
// network or compute thread ever blocks on a load, and requests for ready
// models never wait for someone else's load. Eager models load at start in
// priority order; a frequency/recency history of recent requests preloads
// models likely to be needed next while the budget allows.
//
// Sync mode (toggle off, the honest baseline): the first request for a model
// loads it on the caller's own thread (evicting synchronously to respect the
// budget); other callers for the same model block until it is done; no
// preloading, no prediction.
//
// Memory: models are kept in LRU order under `memory_budget` bytes. Loading
// past the budget evicts the least recently used ready models with no lease
// alive (a model in use is never evicted); a model bigger than the budget
// fails with a clear error. Dependencies (`depends_on`) load first and are
// pinned while a dependent is loaded.
//
// Thread-safety: every public member is safe to call from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "measure/histogram.h"
#include "models/model.h"

namespace servelab::models {

enum class ModelState { unloaded, loading, ready, failed, unloading };
std::string_view to_string(ModelState s);

struct ManagerOptions {
  bool async = true;             // the async_loading toggle
  int max_concurrent_loads = 2;  // loader threads (async mode)
  uint64_t memory_budget = 0;    // bytes of weights in memory; 0: unlimited
  // Deadline of a request waiting for a model to become ready (async mode;
  // sync mode loads inline). A model's own load_timeout bounds the load.
  std::chrono::milliseconds wait_timeout{30'000};
  // Prediction (async mode only): preload models likely to be needed next,
  // from a frequency/recency history of the last `history` requests, while
  // memory allows without evicting anything in the recent working set.
  bool prediction = true;
  size_t history = 256;
  // How often the predictor looks at the history (async mode).
  std::chrono::milliseconds prediction_interval{20};
  // Test hook: called on the loading thread at the start of every load,
  // before any I/O. A test blocks here (on its own condition, or until
  // `abandon` turns true: the load timed out, was cancelled or shutdown
  // began) to make a load slow deterministically. Unset in production.
  std::function<void(const std::string& name, const std::atomic<bool>& abandon)> on_load_start;
  // Called (on the loading thread, without the manager's lock) when a load
  // fails for a reason of its own: a bad or oversized weights file, a
  // checksum mismatch. The server logs it. Unset: nothing is called.
  std::function<void(const std::string& name, const std::string& reason)> on_load_failed;
};

// A model pinned for use. While any lease on a model is alive the model is
// not evicted or unloaded. Cheap to copy (shared ownership); drop it when the
// request is answered.
class ModelLease {
 public:
  ModelLease() = default;
  ModelLease(std::shared_ptr<const Model> model, std::shared_ptr<void> pin)
      : model_(std::move(model)), pin_(std::move(pin)) {}
  const Model* get() const noexcept { return model_.get(); }
  const Model& operator*() const noexcept { return *model_; }
  const Model* operator->() const noexcept { return model_.get(); }
  explicit operator bool() const noexcept { return model_ != nullptr; }
  const std::shared_ptr<const Model>& shared() const noexcept { return model_; }

 private:
  std::shared_ptr<const Model> model_;
  std::shared_ptr<void> pin_;  // its deleter releases the pin
};

// Why acquire() failed, so the HTTP layer picks the status: not_found → 404,
// everything else → 503 with `message` (the load error, "timed out after …",
// "larger than the memory budget", "server is shutting down").
enum class AcquireError { none, not_found, failed, timeout, too_large, shutting_down, cancelled };

struct Acquired {
  ModelLease lease;                         // set when the model is ready
  AcquireError error = AcquireError::none;  // else why not
  std::string message;
  bool ok() const noexcept { return static_cast<bool>(lease); }
};

struct ModelStatus {
  std::string name;
  std::string kind;
  ModelState state = ModelState::unloaded;
  std::string reason;         // failed: why; else empty
  uint64_t memory_bytes = 0;  // in memory now (ready), else 0
  uint32_t in_use = 0;        // live leases
};

struct ManagerStats {
  uint64_t loads = 0;          // completed successfully
  uint64_t load_failures = 0;  // includes timeouts and checksum mismatches
  uint64_t load_timeouts = 0;
  uint64_t load_cancelled = 0;  // queued loads cancelled (shutdown, unload)
  uint64_t evictions = 0;
  uint64_t unloads = 0;             // explicit (repository API)
  uint64_t cache_hits = 0;          // acquire() found the model ready
  uint64_t cache_misses = 0;        // acquire() had to wait for / trigger a load
  uint64_t preloads = 0;            // loads started by eager preload or prediction
  uint64_t preload_hits = 0;        // first request for a preloaded model found it ready
  uint64_t wait_timeouts = 0;       // requests whose wait deadline passed
  uint32_t queue_depth = 0;         // loads queued, not yet running
  uint32_t loading = 0;             // loads running
  uint64_t memory_in_use = 0;       // bytes: ready models + reservations of running loads
  uint64_t memory_budget = 0;       // bytes; 0: unlimited
  uint64_t memory_peak = 0;         // highest memory_in_use seen (bytes)
  uint64_t preload_skipped = 0;     // preloads not started: no room without evicting
  measure::Histogram load_time_us;  // per successful load, µs
};

class ModelManager {
 public:
  using Done = std::function<void(Acquired)>;

  // Reads every model.toml under `dir` (no weights yet). Error only when
  // `dir` cannot be read or the dependency graph is invalid (unknown name in
  // depends_on, or a cycle: the message gives its path "a -> b -> a"). A bad
  // model.toml makes that model `failed`, never the whole repository.
  static Result<std::unique_ptr<ModelManager>> open(const std::string& dir, ManagerOptions options);
  ~ModelManager();  // shutdown()

  // Async mode: queues eager models in priority order (higher first) and
  // returns. Sync mode: does nothing (lazy).
  void start();
  // True when every eager model is ready or failed (async), always true in
  // sync mode. /v2/health/ready uses it.
  bool eager_settled() const;

  // Gets a lease on `name`, loading it (and its dependencies) if needed.
  // `done` is called exactly once: on the calling thread when the model is
  // ready (or the request fails at once), else on a loader thread when the
  // load completes or on the manager's timer thread at `deadline`.
  // Sync mode: loads on the calling thread and calls `done` before returning.
  void acquire(std::string_view name, std::chrono::steady_clock::time_point deadline, Done done);

  // Repository API. load(): starts a load if needed and calls `done` when the
  // model is ready or failed (OIP: the call answers after the load). unload():
  // refuses (error) while other loaded models depend on it unless
  // `unload_dependents`; waits for no lease: the model leaves memory when its
  // last lease is dropped.
  void load(std::string_view name, std::function<void(Status)> done);
  Status unload(std::string_view name, bool unload_dependents);

  std::vector<ModelStatus> index() const;           // sorted by name
  const std::vector<ModelConfig>& configs() const;  // sorted by name, stable indices
  // Index into configs() of `name`, or -1.
  int find(std::string_view name) const;
  ModelStatus status(std::string_view name) const;
  ManagerStats stats() const;

  // Cancels queued loads (their waiters get shutting_down), waits for running
  // ones, then refuses new acquires. Idempotent.
  void shutdown();

 private:
  struct Impl;
  explicit ModelManager(std::shared_ptr<Impl> impl);
  // Shared: a lease's pin keeps the bookkeeping alive even if a lease
  // outlives the manager (its release is then a no-op).
  std::shared_ptr<Impl> impl_;
};

}  // namespace servelab::models
