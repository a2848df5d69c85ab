#pragma once
// The Open Inference Protocol v2 REST API (KServe v2 / Triton) over a model
// manager (models/model_manager.h), plus GET /metrics. A request for a model
// first takes a lease through ModelManager::acquire(): when the model is
// ready that happens at once on the calling (network) thread; when it is
// not, async mode answers later (the request waits, with its own deadline,
// without holding any thread) and sync mode loads it right there, on the
// request's own thread (the honest baseline). Requests are parsed and
// validated once their model is leased; forward passes run on a compute pool
// of their own, through each model's dynamic batcher when batching is on (one
// pass per request otherwise), and the answer comes back through a callback.
// handle() wraps that into a plain function from request to response, so
// tests call it without sockets.
//
// Routes (docs/SERVER.md):
//   GET  /v2                                  server metadata
//   GET  /v2/health/live                      200 {"live":true}
//   GET  /v2/health/ready                     200 {"ready":true} / 503
//   GET  /v2/models/{name}[/versions/1]       model metadata
//   GET  /v2/models/{name}[/versions/1]/ready 200 ready / 503 with state and reason
//   POST /v2/models/{name}[/versions/1]/infer FP32 JSON tensors
//   POST /v2/repository/index                 [{name, version, state, reason}]
//   POST /v2/repository/models/{name}/load    200 when ready / 503 with the reason
//   POST /v2/repository/models/{name}/unload  200 / 409 while dependents are loaded
//   GET  /metrics                             Prometheus text 0.0.4
// Every error is {"error": "..."} with Content-Type application/json.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "batch/batch_config.h"

#include "batch/compute_pool.h"
#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

struct ApiOptions {
  std::string server_version;  // reported by GET /v2; empty: the project version
  int64_t max_rows = 4096;               // rows accepted in one infer request
  // Test aid (simulates a GC-like pause): every `stall_every` of wall time,
  // the next forward pass stops every compute thread for `stall_for`
  // before computing. Zero: off.
  std::chrono::microseconds stall_every{0};
  std::chrono::microseconds stall_for{0};
  // The `batching` toggle: infer requests of a model are grouped by its
  // RequestBatcher. Off: each request runs its own forward pass.
  bool batching = false;
  int compute_threads = 0;  // forward-pass threads; 0: the CPUs this process may use
  // Server-wide batching knobs; a model's [batching] table overrides them.
  // max_in_flight is set to compute_threads.
  batch::BatchConfig batch;
  // How long a request waits for its model to become ready (loading, or
  // queued to load) before it gets 503. Async loading only; sync mode loads
  // inline and the model's own load_timeout bounds that.
  std::chrono::milliseconds load_wait_timeout{30'000};
  // The manager's async_loading toggle, reported in /metrics
  // (servelab_model_async_loading). REQUIRES: what the manager was opened with.
  bool async_loading = true;
};

namespace detail {
struct InferJob;
}

class InferenceApi {
 public:
  // Receives the response, once, on the calling thread (routes other than
  // infer, and infer requests refused before computing) or on a compute thread.
  using Respond = std::function<void(http::Response&&)>;

  // REQUIRES: `manager` outlives this object.
  explicit InferenceApi(models::ModelManager& manager, ApiOptions options = {});
  ~InferenceApi();  // shutdown()
  InferenceApi(const InferenceApi&) = delete;
  InferenceApi& operator=(const InferenceApi&) = delete;

  // Thread-safe: called concurrently from several network threads; never
  // blocks on a forward pass.
  void handle_async(http::Request&& request, Respond respond);
  // handle_async() and wait for the answer (tests, tools).
  // REQUIRES: not called on a compute thread.
  http::Response handle(http::Request&& request);

  // Shuts the model manager down (queued loads cancelled: their requests get
  // 503; running loads finish and their requests are computed), computes
  // what is queued, answers it, then stops the compute threads; later infer
  // requests get 503. Call after the HTTP server has stopped. Idempotent.
  void shutdown();

  // The batching knobs in force for model `model` (an index into
  // manager.configs(): server defaults merged with its [batching] table);
  // null when batching is off.
  const batch::BatchConfig* batch_config(size_t model) const;

  // While draining (shutdown), /v2/health/ready answers 503 so that load
  // balancers stop sending; every other route keeps serving.
  void set_draining(bool draining) noexcept { draining_.store(draining, std::memory_order_relaxed); }

  ServerMetrics& metrics() noexcept { return metrics_; }
  const ServerMetrics& metrics() const noexcept { return metrics_; }

 private:
  struct ModelBatcher;
  struct Pending;

  enum class Where : uint8_t { caller, compute, other };  // the thread a continuation runs on

  // Answers every route that needs no model lease. For model metadata and
  // infer it sets `pending` and returns an empty optional; for a repository
  // load it takes `respond` (answered when the load ends) and returns empty.
  std::optional<http::Response> dispatch(const http::Request& request, Route& route, std::string& model,
                                         Respond& respond);
  std::optional<http::Response> repository(const http::Request& request, size_t n, const std::string_view* seg,
                                           Respond& respond);
  // The model of `pending` is leased (or could not be): answers it or
  // starts its forward pass.
  void with_model(const std::shared_ptr<Pending>& pending, models::Acquired acquired, Where where);
  std::optional<http::Response> parse_infer(const http::Request& request, const models::Model& model,
                                            detail::InferJob& job);
  void run_single(detail::InferJob& job);
  void submit_batched(std::shared_ptr<detail::InferJob> job);
  bool should_stall() noexcept;
  template <class Pass>
  void compute_pass(Pass&& pass);  // runs one forward pass, honouring the stall aid

  models::ModelManager& manager_;
  ApiOptions options_;
  ServerMetrics metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> next_stall_ns_{0};  // steady_clock time of the next stall
  std::shared_mutex stall_mu_;  // stall aid only: see compute_pass()
  std::unique_ptr<batch::ComputePool> pool_;
  std::vector<std::unique_ptr<ModelBatcher>> batchers_;  // per manager config; null: unbatched
  std::atomic<bool> shut_down_{false};
};

}  // namespace servelab::serve
