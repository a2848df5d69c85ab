#pragma once
// Everything servelab-server answers over HTTP, as a function from request
// to response (no sockets): the route table (serve/router.h) over the Open
// Inference Protocol v2 routes (serve/v2_api.h), the model repository API
// (serve/repository_api.h), GET /metrics (serve/metrics_route.h) and POST
// /v1/completions (serve/completions_api.h). It owns what they share: the
// request counters (ServerMetrics) and the one compute pool that runs
// forward passes and token generation. handle() wraps it all into a plain
// function, so tests drive the protocol without sockets.
//
// To add a route: a handler in the file of its API, and a row in the table
// in inference_api.cpp (add_routes()).

#include <atomic>
#include <functional>
#include <utility>

#include "batch/batch_config.h"
#include "batch/compute_pool.h"
#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/api_key_auth.h"
#include "serve/completions_api.h"
#include "serve/metrics_route.h"
#include "serve/repository_api.h"
#include "serve/router.h"
#include "serve/server_config.h"
#include "serve/server_metrics.h"
#include "serve/v2_api.h"

namespace servelab::serve {

class InferenceApi {
 public:
  // Receives the response, once, on the calling thread or on a compute,
  // loader or timer thread.
  using Respond = Reply::Send;

  // REQUIRES: `manager` outlives this object; options.async_loading and
  // options.load_wait_timeout are what the manager was opened with.
  explicit InferenceApi(models::ModelManager& manager, ApiOptions options = {},
                        CompletionsOptions completions = {});
  ~InferenceApi();  // shutdown()
  InferenceApi(const InferenceApi&) = delete;
  InferenceApi& operator=(const InferenceApi&) = delete;

  // Thread-safe: called concurrently from several network threads; never
  // blocks on a forward pass. The first answers a connection (and may
  // stream); the second answers `respond` (streamed routes send whole).
  void handle_async(http::Request&& request, http::Responder responder);
  void handle_async(http::Request&& request, Respond respond);
  // handle_async() and wait for the answer (tests, tools).
  // REQUIRES: not called on a compute thread.
  http::Response handle(http::Request&& request);

  // Shuts the model manager down (queued loads cancelled: their requests get
  // 503; running loads finish and their requests are computed), computes
  // what is queued and answers it, stops every generation in flight (see
  // CompletionsApi::shutdown()), then stops the compute threads; later
  // infer and completion requests get 503. Call
  // after the HTTP server has stopped. Idempotent.
  void shutdown();

  // The batching knobs in force for model `model` (an index into
  // manager.configs()); null when batching is off.
  const batch::BatchConfig* batch_config(size_t model) const { return v2_.batch_config(model); }
  // While draining, /v2/health/ready answers 503 (serve/v2_api.h).
  void set_draining(bool draining) noexcept { v2_.set_draining(draining); }

  // Bearer-token authentication of the routes `auth` protects (401 without
  // the key). REQUIRES: before the first request.
  void set_auth(ApiKeyAuth auth) { auth_ = std::move(auth); }

  ServerMetrics& metrics() noexcept { return metrics_; }
  const ServerMetrics& metrics() const noexcept { return metrics_; }
  CompletionsApi& completions() noexcept { return completions_; }

 private:
  void add_routes();

  models::ModelManager& manager_;
  ServerMetrics metrics_;
  batch::ComputePool pool_;
  V2Api v2_;
  RepositoryApi repository_;
  MetricsRoute metrics_route_;
  CompletionsApi completions_;
  ApiKeyAuth auth_;  // disabled until set_auth()
  Router router_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace servelab::serve
