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
// backpressure is not on the pool at all (its Streamer resumes it). The
// prompt's prefill runs in chunks of 128 tokens, each a task re-posted
// behind the others, so a long prompt does not hold a thread for seconds.
// The `streaming` toggle off: the same events (or JSON) are built whole in
// memory and sent at the end with Content-Length.
//
// Limits: a prompt over max_prompt_tokens or a max_tokens over
// max_tokens_limit is 400; past max_completions admitted at once, 503 with
// Retry-After. The connection is watched while a completion runs
// (http::Responder::watch_client()): a client that closes or resets it, in
// either toggle, stops the generation before its next task (prefill chunk
// or token), counted as cancelled (and answered 499 to nobody when whole).
// shutdown() stops every generation the same way, so that SIGTERM does not
// wait for long answers.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "batch/compute_pool.h"
#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/reply.h"
#include "serve/router.h"
#include "serve/server_config.h"
#include "serve/server_metrics.h"
#include "stream/stream_config.h"
#include "stream/streamer.h"

namespace servelab::serve {

struct CompletionJob;

struct CompletionMetrics {
  std::atomic<uint64_t> completions{0};  // finished normally (200)
  std::atomic<uint64_t> cancelled{0};    // stopped: the client went away, or shutdown
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
  // Later requests get 503; the generations in flight stop before their
  // next task (streams cut, whole answers 503). Any thread; idempotent.
  void shutdown();

  const CompletionMetrics& metrics() const { return metrics_; }
  // Requests answered with an error status (4xx, 5xx): the router's count
  // for the completions route.
  // Those whose client had left (499) are counted as cancelled, not here.
  uint64_t rejected() const noexcept {
    return server_metrics_.error_answers(Route::completions) -
           server_metrics_.requests(Route::completions, 499);
  }
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
  std::atomic<int64_t> admitted_{0};  // completions holding a place (options_.max_completions)
  std::atomic<bool> shut_down_{false};
  // The streams being sent, so that shutdown() can cut those paused on a
  // client that reads nothing (they are not on the pool to see the flag).
  // Taken when a stream starts and ends, never per token.
  std::mutex streams_mu_;
  std::unordered_map<const CompletionJob*, std::weak_ptr<stream::Streamer>> streams_;
};

}  // namespace servelab::serve
