#pragma once
// POST /v1/completions, OpenAI-compatible (the API vLLM, llama.cpp, Ollama
// and TGI serve), over `tokens` models (models/token_model.h).
//
// Request: {"model", "prompt", "max_tokens" (default 16), "stream" (default
// false), "temperature" (default 1; 0: greedy), "seed" (optional; same seed,
// same text)}. Other OpenAI fields are accepted and ignored, except n != 1.
// Answer: stream false → one JSON object (choices[0].text, finish_reason
// "length" or "stop", usage); stream true → Server-Sent Events over chunked
// encoding: one `data: {...}` completion chunk per token, a final chunk
// with finish_reason and usage, then `data: [DONE]`.
//
// The model is leased through ModelManager::acquire() exactly as infer
// leases its model (serve/v2_api.h): at once when it is ready; in async
// mode a request for a model that is loading waits for it, with its own
// deadline, without holding a thread; sync mode loads it inline. Unknown
// model: 404; failed, timed out, shutting down: 503.
//
// Generation runs on the server's compute pool, one token per task, so
// concurrent completions share the threads round-robin (with forward
// passes) and a network thread never computes. A stream paused by
// backpressure is not on the pool at all (its Streamer resumes it). A
// client that disconnects mid-stream stops its generation at the next token
// (counted as cancelled). The `streaming` toggle off: the same events (or
// JSON) are built whole in memory and sent at the end with Content-Length.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "batch/compute_pool.h"
#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/reply.h"
#include "serve/router.h"
#include "serve/server_config.h"
#include "serve/server_metrics.h"
#include "stream/stream_config.h"

namespace servelab::serve {

struct CompletionJob;

struct CompletionMetrics {
  std::atomic<uint64_t> completions{0};  // finished normally (200)
  std::atomic<uint64_t> cancelled{0};    // stopped because the client went away
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> tokens_generated{0};  // counted when a completion ends
  std::atomic<int64_t> active{0};             // completions generating now (streamed or not)
  std::atomic<int64_t> streams_active{0};     // of them, streamed with streaming on
  stream::StreamMetrics stream;
};

class CompletionsApi {
 public:
  // `load_wait_timeout`: how long a request waits for its model to load
  // (async loading). REQUIRES: `manager`, `pool` and `metrics` outlive this
  // object.
  CompletionsApi(models::ModelManager& manager, batch::ComputePool& pool, ServerMetrics& metrics,
                 CompletionsOptions options, std::chrono::milliseconds load_wait_timeout);
  CompletionsApi(const CompletionsApi&) = delete;
  CompletionsApi& operator=(const CompletionsApi&) = delete;

  // The route handler (Router::Handler). Network threads, concurrently;
  // never blocks on generation.
  void complete(http::Request&& request, const PathParams& params, const Reply& reply);
  // Later requests get 503; the generations in flight go on (the pool's
  // join() finishes them). Idempotent.
  void shutdown() noexcept { shut_down_.store(true, std::memory_order_relaxed); }

  const CompletionMetrics& metrics() const { return metrics_; }
  // Requests answered with an error status (4xx, 5xx): the router's count
  // for the completions route.
  uint64_t rejected() const noexcept { return server_metrics_.error_answers(Route::completions); }
  // Appends the Prometheus series (servelab_completions_*, servelab_stream_*).
  void render_metrics(std::string& out) const;

 private:
  friend struct CompletionJob;
  // The model is leased (or could not be): answers, or starts generating.
  // `waited`: called back from another thread (a load it waited for).
  void start(const std::shared_ptr<CompletionJob>& job, models::Acquired acquired, bool waited);

  models::ModelManager& manager_;
  batch::ComputePool& pool_;
  ServerMetrics& server_metrics_;
  CompletionsOptions options_;
  std::chrono::milliseconds load_wait_timeout_;
  CompletionMetrics metrics_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> shut_down_{false};
};

}  // namespace servelab::serve
