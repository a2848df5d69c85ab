#pragma once
// The Open Inference Protocol v2 REST API (KServe v2 / Triton) over a model
// repository, plus GET /metrics: a plain function from request to response,
// so tests call it without sockets and HttpServer calls it on its network
// threads.
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
#include <string>

#include "http/http_server.h"
#include "models/model_repository.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

struct ApiOptions {
  std::string server_version;  // reported by GET /v2; empty: the project version
  int64_t max_rows = 4096;               // rows accepted in one infer request
  // Test aid (simulates a GC-like pause): every `stall_every` of wall time,
  // the next infer request blocks its thread for `stall_for` before
  // computing. Zero: off.
  std::chrono::microseconds stall_every{0};
  std::chrono::microseconds stall_for{0};
};

class InferenceApi {
 public:
  // REQUIRES: `repository` outlives this object.
  explicit InferenceApi(const models::ModelRepository& repository, ApiOptions options = {});
  InferenceApi(const InferenceApi&) = delete;
  InferenceApi& operator=(const InferenceApi&) = delete;

  // Thread-safe: called concurrently from several network threads.
  http::Response handle(http::Request&& request);

  // While draining (shutdown), /v2/health/ready answers 503 so that load
  // balancers stop sending; every other route keeps serving.
  void set_draining(bool draining) noexcept { draining_.store(draining, std::memory_order_relaxed); }

  ServerMetrics& metrics() noexcept { return metrics_; }
  const ServerMetrics& metrics() const noexcept { return metrics_; }

 private:
  http::Response dispatch(const http::Request& request, Route& route);
  http::Response infer(const http::Request& request, const models::ModelEntry& entry);
  bool should_stall() noexcept;

  const models::ModelRepository& repository_;
  ApiOptions options_;
  ServerMetrics metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> next_stall_ns_{0};  // steady_clock time of the next stall
};

}  // namespace servelab::serve
