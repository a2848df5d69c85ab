#pragma once
// The Open Inference Protocol v2 REST API (KServe v2 / Triton) over a model
// repository, plus GET /metrics. Requests are parsed and validated on the
// calling (network) thread; forward passes run on a compute pool of their
// own, through each model's dynamic batcher when batching is on (one pass
// per request otherwise), and the answer comes back through a callback.
// handle() wraps that into a plain function from request to response, so
// tests call it without sockets.
//
// Routes (docs/SERVER.md):
//   GET  /v2                                  server metadata
//   GET  /v2/health/live                      200 {"live":true}
//   GET  /v2/health/ready                     200 {"ready":true} / 503
//   GET  /v2/models/{name}[/versions/1]       model metadata
//   GET  /v2/models/{name}[/versions/1]/ready 200 / 503 with the load error
//   POST /v2/models/{name}[/versions/1]/infer FP32 JSON tensors
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
#include "models/model_repository.h"
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
};

namespace detail {
struct InferJob;
}

class InferenceApi {
 public:
  // Receives the response, once, on the calling thread (routes other than
  // infer, and infer requests refused before computing) or on a compute thread.
  using Respond = std::function<void(http::Response&&)>;

  // REQUIRES: `repository` outlives this object.
  explicit InferenceApi(const models::ModelRepository& repository, ApiOptions options = {});
  ~InferenceApi();  // shutdown()
  InferenceApi(const InferenceApi&) = delete;
  InferenceApi& operator=(const InferenceApi&) = delete;

  // Thread-safe: called concurrently from several network threads; never
  // blocks on a forward pass.
  void handle_async(http::Request&& request, Respond respond);
  // handle_async() and wait for the answer (tests, tools).
  // REQUIRES: not called on a compute thread.
  http::Response handle(http::Request&& request);

  // Computes what is queued, answers it, then stops the compute threads;
  // later infer requests get 503. Call after the HTTP server has stopped.
  // Idempotent.
  void shutdown();

  // The batching knobs in force for entry `model` (server defaults merged
  // with its [batching] table); null when batching is off or it failed to load.
  const batch::BatchConfig* batch_config(size_t model) const;

  // While draining (shutdown), /v2/health/ready answers 503 so that load
  // balancers stop sending; every other route keeps serving.
  void set_draining(bool draining) noexcept { draining_.store(draining, std::memory_order_relaxed); }

  ServerMetrics& metrics() noexcept { return metrics_; }
  const ServerMetrics& metrics() const noexcept { return metrics_; }

 private:
  struct ModelBatcher;

  // Answers every route but a valid infer request, for which it fills `job`
  // (the parsed input) and returns an empty optional.
  std::optional<http::Response> dispatch(const http::Request& request, Route& route,
                                         std::shared_ptr<detail::InferJob>& job);
  std::optional<http::Response> parse_infer(const http::Request& request, const models::ModelEntry& entry,
                                            detail::InferJob& job);
  void run_single(detail::InferJob& job);
  void submit_batched(std::shared_ptr<detail::InferJob> job);
  bool should_stall() noexcept;
  template <class Pass>
  void compute_pass(Pass&& pass);  // runs one forward pass, honouring the stall aid

  const models::ModelRepository& repository_;
  ApiOptions options_;
  ServerMetrics metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> next_stall_ns_{0};  // steady_clock time of the next stall
  std::shared_mutex stall_mu_;  // stall aid only: see compute_pass()
  std::unique_ptr<batch::ComputePool> pool_;
  std::vector<std::unique_ptr<ModelBatcher>> batchers_;  // per entry; null: unbatched
  std::atomic<bool> shut_down_{false};
};

}  // namespace servelab::serve
