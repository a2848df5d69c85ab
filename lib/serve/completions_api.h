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
// Generation runs on a compute pool of its own, one token per task, so
// concurrent completions share the threads round-robin and a network
// thread never computes. A stream paused by backpressure is not on the pool
// at all (its Streamer resumes it). A client that disconnects mid-stream
// stops its generation at the next token (counted as cancelled).
// The `streaming` toggle off: the same events (or JSON) are built whole in
// memory and sent at the end with Content-Length.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "batch/compute_pool.h"
#include "http/http_server.h"
#include "models/model.h"
#include "stream/stream_config.h"

namespace servelab::serve {

// What a model name resolves to: a model, or why not (HTTP status + message).
struct ModelLookupResult {
  std::shared_ptr<const models::Model> model;
  unsigned status = 404;  // when model is null: 404 unknown, 503 failed/not loaded
  std::string error;
};
// Any thread. The server wires it to its model repository (or manager).
using ModelLookup = std::function<ModelLookupResult(std::string_view name)>;

struct CompletionsOptions {
  bool streaming = true;       // the `streaming` toggle (--streaming)
  bool gzip = true;            // honour Accept-Encoding: gzip (--gzip)
  stream::StreamConfig stream; // buffer bound, flush policy, gzip thresholds
  int64_t max_tokens_limit = 16384;  // larger max_tokens: 400
  int compute_threads = 0;     // generation threads; 0: the CPUs this process may use
};

struct CompletionMetrics {
  std::atomic<uint64_t> completions{0};        // finished normally (200)
  std::atomic<uint64_t> rejected{0};           // answered 4xx/5xx
  std::atomic<uint64_t> cancelled{0};          // stopped because the client went away
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> tokens_generated{0};   // counted when a completion ends
  std::atomic<int64_t> active{0};              // completions generating now (streamed or not)
  std::atomic<int64_t> streams_active{0};      // of them, streamed with streaming on
  stream::StreamMetrics stream;
};

class CompletionsApi {
 public:
  CompletionsApi(ModelLookup lookup, CompletionsOptions options);
  ~CompletionsApi();  // shutdown()
  CompletionsApi(const CompletionsApi&) = delete;
  CompletionsApi& operator=(const CompletionsApi&) = delete;

  // True for the routes this API serves.
  static bool serves(std::string_view target);
  // Any network thread; never blocks on generation.
  void handle_async(http::Request&& request, http::Responder respond);
  // Finishes the generations in flight, then stops the threads. Idempotent.
  void shutdown();

  const CompletionMetrics& metrics() const { return metrics_; }
  // Appends the Prometheus series (servelab_completions_*, servelab_stream_*).
  void render_metrics(std::string& out) const;

 private:
  friend struct CompletionJob;
  ModelLookup lookup_;
  CompletionsOptions options_;
  CompletionMetrics metrics_;
  std::atomic<uint64_t> next_id_{1};
  std::unique_ptr<batch::ComputePool> pool_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace servelab::serve
