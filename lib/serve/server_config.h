#pragma once
// servelab-server's whole configuration, as plain structs with defaults.
// ServerConfig{} is what the server runs with when only --models is given;
// serve/server_flags.h reads it from flags and writes it back as flags.
// This header pulls in neither Beast nor Eigen, so that the load
// generator's embedded runner can fill one without linking the server.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "batch/batch_config.h"
#include "http/server_config.h"
#include "models/model_manager.h"
#include "stream/stream_config.h"

namespace servelab::serve {

// The Open Inference Protocol API (serve/v2_api.h) and the compute pool
// that it shares with /v1/completions.
struct ApiOptions {
  std::string server_version;  // reported by GET /v2; empty: the project version
  int64_t max_rows = 4096;     // rows accepted in one infer request
  // Test aid (simulates a GC-like pause): every `stall_every` of wall time,
  // the next forward pass stops every compute thread for `stall_for`
  // before computing. Zero: off.
  std::chrono::microseconds stall_every{0};
  std::chrono::microseconds stall_for{0};
  // The `batching` toggle: infer requests of a model are grouped by its
  // RequestBatcher. Off: each request runs its own forward pass.
  bool batching = false;
  // Compute threads (forward passes and token generation, apart from the
  // network threads); 0: the CPUs this process may use.
  int compute_threads = 0;
  // Server-wide batching knobs; a model's [batching] table overrides them.
  // max_in_flight is set to the compute threads.
  batch::BatchConfig batch;
  // How long a request waits for its model to become ready (loading, or
  // queued to load) before it gets 503. Async loading only; sync mode loads
  // inline and the model's own load_timeout bounds that.
  // ReferenceServer::open() sets it from ManagerOptions::wait_timeout.
  std::chrono::milliseconds load_wait_timeout{30'000};
  // The manager's async_loading toggle, reported in /metrics
  // (servelab_model_async_loading). REQUIRES: what the manager was opened
  // with (ReferenceServer::open() copies ManagerOptions::async).
  bool async_loading = true;
  // Admission control: infer requests admitted at once (waiting for their
  // model, queued in a batcher or computing). Past it an infer request is
  // answered at once with 503 + Retry-After and counted in
  // servelab_requests_shed_total, instead of waiting behind the others.
  // 0: unbounded. 512 is above the connections of every shipped scenario but
  // stress (1,000), and at ~10,000 req/s it bounds queueing to ~50 ms.
  size_t max_queue = 512;
};

// Bearer-token authentication (serve/api_key_auth.h). No key: every route is
// open.
struct AuthOptions {
  std::string api_key;       // the token clients send as "Authorization: Bearer KEY"
  std::string api_key_file;  // or read it from this file (its first line); not both
  // Comma-separated route groups that need the key (all, infer, models,
  // repository, metrics, completions, server); "all": every route but the
  // health probes, which stay open.
  std::string protect = "all";
};

// POST /v1/completions (serve/completions_api.h).
struct CompletionsOptions {
  bool streaming = true;             // the `streaming` toggle: SSE sent as tokens come
  bool gzip = true;                  // honour Accept-Encoding: gzip
  stream::StreamConfig stream;       // buffer bound (bytes), flush policy, gzip thresholds
  int64_t max_tokens_limit = 16384;  // tokens; a larger max_tokens: 400
  // Prompt tokens (bytes) accepted; a longer prompt: 400. Prefill costs one
  // step per token (about 23 µs at hidden 512: 32,768 tokens ≈ 0.75 s).
  int64_t max_prompt_tokens = 32768;
  // Completions admitted at once (waiting for their model or generating);
  // more get 503 + Retry-After at once. 0: unlimited. With streaming off
  // each buffers its whole answer, so this and max_tokens_limit bound that
  // memory (about 180 bytes per token of a streamed-whole answer).
  int64_t max_completions = 1024;
};

// Network threads when no --threads is given: one per hardware thread.
inline int default_network_threads() {
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

struct ServerConfig {
  // Address, network threads, header/body limits (bytes), timeouts.
  http::ServerConfig http = [] {
    http::ServerConfig c;
    c.threads = default_network_threads();
    return c;
  }();
  std::string models_dir;  // model repository folder (required)
  ApiOptions api;          // row limit, stall aid, batching, compute threads
  // Async loading, memory budget (bytes), loader threads, wait timeout,
  // prediction. open() copies async and wait_timeout into `api`.
  models::ManagerOptions manager;
  CompletionsOptions completions;  // streaming toggle, gzip, stream buffer
  AuthOptions auth;                // optional bearer token, the routes it protects
};

}  // namespace servelab::serve
