#pragma once
// The Open Inference Protocol v2 REST routes (KServe v2 / Triton) over a
// model manager (models/model_manager.h): server metadata, health, model
// metadata and readiness, infer. A request for a model first takes a lease
// through ModelManager::acquire(): when the model is ready that happens at
// once on the calling (network) thread; when it is not, async mode answers
// later (the request waits, with its own deadline, without holding any
// thread) and sync mode loads it right there, on the request's own thread
// (the honest baseline). Infer requests are parsed and validated once their
// model is leased; forward passes run on the shared compute pool, through
// each model's dynamic batcher when batching is on (one pass per request
// otherwise), and the answer comes back through the Reply.
//
// Routes (docs/SERVER.md; the table is in serve/inference_api.cpp):
//   GET  /v2                                  server metadata
//   GET  /v2/health/live                      200 {"live":true}
//   GET  /v2/health/ready                     200 {"ready":true} / 503
//   GET  /v2/models/{name}[/versions/1]       model metadata
//   GET  /v2/models/{name}[/versions/1]/ready 200 ready / 503 with state and reason
//   POST /v2/models/{name}[/versions/1]/infer FP32 JSON tensors

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch_config.h"
#include "batch/compute_pool.h"
#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/reply.h"
#include "serve/router.h"
#include "serve/server_config.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

// The one version every model has: the protocol names versions, the
// repository holds one per model.
inline constexpr std::string_view kModelVersion = "1";

namespace detail {
struct InferJob;
}

class V2Api {
 public:
  // REQUIRES: `manager`, `pool` and `metrics` outlive this object; `metrics`
  // has one slot per manager config, in order.
  V2Api(models::ModelManager& manager, batch::ComputePool& pool, ServerMetrics& metrics,
        ApiOptions options);
  ~V2Api();
  V2Api(const V2Api&) = delete;
  V2Api& operator=(const V2Api&) = delete;

  // The route handlers (Router::Handler). Network threads, concurrently;
  // none blocks on a forward pass.
  void server_metadata(http::Request&& request, const PathParams& params, const Reply& reply);
  void health_live(http::Request&& request, const PathParams& params, const Reply& reply);
  void health_ready(http::Request&& request, const PathParams& params, const Reply& reply);
  void model_metadata(http::Request&& request, const PathParams& params, const Reply& reply);
  void model_ready(http::Request&& request, const PathParams& params, const Reply& reply);
  void infer(http::Request&& request, const PathParams& params, const Reply& reply);

  // Refuses new infer requests (503), computes and answers what the
  // batchers hold. REQUIRES: the manager has been shut down (no request
  // waits for a model any more) and the pool still runs. Idempotent.
  void shutdown();

  // The batching knobs in force for model `model` (an index into
  // manager.configs(): server defaults merged with its [batching] table);
  // null when batching is off.
  const batch::BatchConfig* batch_config(size_t model) const;

  // Appends the admission-control series (servelab_requests_shed_total,
  // servelab_infer_admitted, servelab_infer_max_queue) to a /metrics scrape.
  void render_metrics(std::string& out) const;
  uint64_t shed() const noexcept { return shed_.load(std::memory_order_relaxed); }

  // While draining (shutdown), /v2/health/ready answers 503 so that load
  // balancers stop sending; every other route keeps serving.
  void set_draining(bool draining) noexcept {
    draining_.store(draining, std::memory_order_relaxed);
  }

 private:
  struct ModelBatcher;
  struct Pending;

  enum class Where : uint8_t { caller, compute, other };  // the thread a continuation runs on

  // Checks the model and version of a model route; the error answer, or
  // empty when the route may go on.
  std::optional<http::Response> check_model(const http::Request& request,
                                            const PathParams& params) const;
  // Model metadata and infer: leases the model, then with_model().
  void lease(http::Request&& request, const PathParams& params, const Reply& reply, bool infer);
  // The model of `pending` is leased (or could not be): answers it or
  // starts its forward pass.
  void with_model(const std::shared_ptr<Pending>& pending, models::Acquired acquired, Where where);
  std::optional<http::Response> parse_infer(const http::Request& request,
                                            const models::Model& model, detail::InferJob& job);
  void run_single(detail::InferJob& job);
  void submit_batched(std::shared_ptr<detail::InferJob> job);
  bool should_stall() noexcept;
  template <class Pass>
  void compute_pass(Pass&& pass);  // runs one forward pass, honouring the stall aid

  models::ModelManager& manager_;
  batch::ComputePool& pool_;
  ServerMetrics& metrics_;
  ApiOptions options_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> next_stall_ns_{0};                // steady_clock time of the next stall
  std::shared_mutex stall_mu_;                           // stall aid only: see compute_pass()
  std::vector<std::unique_ptr<ModelBatcher>> batchers_;  // per manager config; null: unbatched
  std::atomic<bool> shut_down_{false};
  std::atomic<size_t> admitted_{0};  // infer requests admitted, not yet answered (max_queue > 0)
  std::atomic<uint64_t> shed_{0};    // infer requests answered 503 by admission control
};

}  // namespace servelab::serve
