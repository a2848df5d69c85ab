// servelab-server: flags → ReferenceServerConfig → lib/serve. Everything else
// lives in the library (serve/reference_server.h) so that it is tested.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/duration.h"
#include "batch/compute_pool.h"
#include "common/byte_size.h"
#include "serve/reference_server.h"

namespace {

// Exit codes: 0 clean shutdown, 1 start-up failure (repository, bind), 2 bad flags.
constexpr int kExitStartup = 1;
constexpr int kExitUsage = 2;

bool to_duration(const std::string& flag, const std::string& text, std::chrono::microseconds& out) {
  auto d = servelab::parse_duration(text);
  if (!d) {
    fmt::print(stderr, "servelab-server: {}: {}\n", flag, d.error().message);
    return false;
  }
  out = *d;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"servelab-server: reference inference server (Open Inference Protocol v2 REST)"};
  servelab::serve::ReferenceServerConfig config;
  config.http.threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  std::string request_timeout = "30s";
  std::string idle_timeout = "60s";
  std::string stall_every;
  std::string stall_for;
  std::string batching = "off";
  std::string max_queue_delay = "2ms";
  std::string queue_timeout = "10s";
  std::string target_batch_time = "5ms";
  std::string preferred_sizes;
  servelab::batch::BatchConfig& batch = config.api.batch;
  // Model manager (docs/SERVER.md "Model loading").
  std::string async_loading = "on";
  std::string memory_budget = "0";
  std::string load_wait_timeout = "30s";
  std::string prediction = "on";
  servelab::models::ManagerOptions& manager = config.manager;

  app.add_option("--host", config.http.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", config.http.port, "TCP port; 0 picks a free one")->capture_default_str();
  app.add_option("--threads", config.http.threads, "Network threads")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--models", config.models_dir, "Model repository folder")->required();
  app.add_option("--max-header-bytes", config.http.max_header_bytes, "Larger request headers get 431")
      ->capture_default_str();
  app.add_option("--max-body-bytes", config.http.max_body_bytes, "Larger request bodies get 413")
      ->capture_default_str();
  app.add_option("--request-timeout", request_timeout, "Time to read one request (and write its response)")
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout, "Keep-alive connection closed after idling this long")
      ->capture_default_str();
  app.add_option("--max-requests-per-connection", config.http.max_requests_per_connection,
                 "Close a keep-alive connection after this many responses (Connection: close); 0: never")
      ->capture_default_str();
  app.add_option("--max-rows", config.api.max_rows, "Rows accepted in one infer request")->capture_default_str();
  app.add_option("--stall-every", stall_every,
                 "Test aid: every DURATION, the next infer request stalls its thread (needs --stall-for)");
  app.add_option("--stall-for", stall_for, "Test aid: how long a stall blocks (needs --stall-every)");
  app.add_option("--batching", batching, "The batching toggle: group concurrent infer requests per model")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--compute-threads", config.api.compute_threads,
                 "Forward-pass threads (apart from the network threads); 0: the CPUs this process may use")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  // Server-wide batching defaults; a model's [batching] table overrides them (docs/BATCHING.md).
  app.add_option("--max-batch-size", batch.max_batch_size, "Rows per batch at most")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--max-queue-delay", max_queue_delay, "A partial batch leaves after its oldest request waited this long")
      ->capture_default_str();
  app.add_option("--preferred-batch-sizes", preferred_sizes, "Comma-separated row counts a batch is cut to when it can be");
  app.add_option("--max-queue-size", batch.max_queue_size, "Requests waiting per model; more get 503 + Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  app.add_option("--queue-timeout", queue_timeout, "A request queued longer gets 503 + Retry-After; 0: never")
      ->capture_default_str();
  app.add_flag("--adaptive", batch.adaptive, "Adapt the batch size limit to hold --target-batch-time");
  app.add_option("--target-batch-time", target_batch_time, "Adaptive batching: execution time aimed at per batch")
      ->capture_default_str();
  app.add_flag("--preserve-ordering", batch.preserve_ordering,
               "Answer batched requests in arrival order even when batches run in parallel");
  app.add_option("--async-loading", async_loading,
                 "The async_loading toggle: load models in the background (eager preload, prediction, requests "
                 "wait without blocking a thread); off: a request loads its model inline on first use")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--model-memory-budget", memory_budget,
                 "Bytes of model weights kept in memory (e.g. 512MiB, 2GB); least recently used idle models are "
                 "evicted past it; 0: unlimited")
      ->capture_default_str();
  app.add_option("--max-concurrent-loads", manager.max_concurrent_loads, "Loader threads (async loading)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--load-wait-timeout", load_wait_timeout,
                 "How long a request waits for its model to load before it gets 503 (async loading)")
      ->capture_default_str();
  app.add_option("--prediction", prediction,
                 "Preload models that recent traffic predicts, while memory allows (async loading only)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  std::string streaming = "on";
  std::string gzip = "on";
  std::string flush = "event";
  std::string coalesce_delay = "5ms";
  servelab::serve::CompletionsOptions& completions = config.completions;
  app.add_option("--streaming", streaming,
                 "The streaming toggle: /v1/completions streams SSE as tokens come (off: built whole, sent at the end)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--gzip", gzip, "Gzip /v1/completions answers over 1 KB for clients that send Accept-Encoding: gzip")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--stream-buffer", completions.stream.buffer_limit,
                 "Bytes a streamed response may hold before its producer is paused (backpressure)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{256}, size_t{64} << 20));
  app.add_option("--stream-flush", flush, "Stream flush policy: event (each event at once) or coalesce")
      ->check(CLI::IsMember({"event", "coalesce"}))
      ->capture_default_str();
  app.add_option("--coalesce-bytes", completions.stream.flush.max_bytes, "coalesce: flush once this many bytes wait")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  app.add_option("--coalesce-delay", coalesce_delay, "coalesce: flush once the oldest waiting byte is this old")
      ->capture_default_str();
  app.add_option("--max-tokens", completions.max_tokens_limit, "Largest max_tokens a completion may ask for")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  CLI11_PARSE(app, argc, argv);
  completions.streaming = streaming == "on";
  completions.gzip = gzip == "on";
  completions.stream.flush.mode = flush == "coalesce" ? servelab::stream::FlushPolicy::Mode::coalesce
                                                      : servelab::stream::FlushPolicy::Mode::per_event;
  if (!to_duration("--coalesce-delay", coalesce_delay, completions.stream.flush.max_delay)) return kExitUsage;

  manager.async = async_loading == "on";
  manager.prediction = prediction == "on";
  if (auto budget = servelab::parse_byte_size(memory_budget); budget) {
    manager.memory_budget = *budget;
  } else {
    fmt::print(stderr, "servelab-server: --model-memory-budget: {}\n", budget.error().message);
    return kExitUsage;
  }
  {
    std::chrono::microseconds wait{};
    if (!to_duration("--load-wait-timeout", load_wait_timeout, wait)) return kExitUsage;
    if (wait.count() <= 0) {
      fmt::print(stderr, "servelab-server: --load-wait-timeout must be positive\n");
      return kExitUsage;
    }
    manager.wait_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(wait);
  }

  config.api.batching = batching == "on";
  if (!to_duration("--max-queue-delay", max_queue_delay, batch.max_queue_delay)) return kExitUsage;
  if (!to_duration("--queue-timeout", queue_timeout, batch.queue_timeout)) return kExitUsage;
  if (!to_duration("--target-batch-time", target_batch_time, batch.target_batch_time)) return kExitUsage;
  if (batch.target_batch_time.count() <= 0) {
    fmt::print(stderr, "servelab-server: --target-batch-time must be positive\n");
    return kExitUsage;
  }
  for (const auto& item : CLI::detail::split(preferred_sizes, ',')) {
    if (item.empty()) continue;
    try {
      const long long v = std::stoll(item);
      if (v < 1) throw std::out_of_range(item);
      batch.preferred_batch_sizes.push_back(v);
    } catch (const std::exception&) {
      fmt::print(stderr, "servelab-server: --preferred-batch-sizes: '{}' is not a row count\n", item);
      return kExitUsage;
    }
  }

  std::chrono::microseconds d{};
  if (!to_duration("--request-timeout", request_timeout, d)) return kExitUsage;
  config.http.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  if (!to_duration("--idle-timeout", idle_timeout, d)) return kExitUsage;
  config.http.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  if (stall_every.empty() != stall_for.empty()) {
    fmt::print(stderr, "servelab-server: --stall-every and --stall-for go together\n");
    return kExitUsage;
  }
  if (!stall_every.empty()) {
    if (!to_duration("--stall-every", stall_every, config.api.stall_every)) return kExitUsage;
    if (!to_duration("--stall-for", stall_for, config.api.stall_for)) return kExitUsage;
  }

  if (auto limit = servelab::serve::raise_open_file_limit(); !limit) {
    fmt::print(stderr, "servelab-server: warning: {}\n", limit.error().message);
  }

  auto server = servelab::serve::ReferenceServer::open(config);
  if (!server) {
    fmt::print(stderr, "servelab-server: {}\n", server.error().message);
    return kExitStartup;
  }
  for (const auto& status : (*server)->manager().index()) {
    if (status.state == servelab::models::ModelState::failed) {
      fmt::print(stderr, "model {}: FAILED: {}\n", status.name, status.reason);
    }
  }
  fmt::print(stderr, "models: {} in {} (async loading {}, memory budget {}, {} loader threads, prediction {})\n",
             (*server)->manager().configs().size(), config.models_dir, async_loading,
             manager.memory_budget == 0 ? std::string("unlimited")
                                        : servelab::format_byte_size(manager.memory_budget),
             manager.max_concurrent_loads, manager.async ? prediction : "off");
  if (auto started = (*server)->start(); !started) {
    fmt::print(stderr, "servelab-server: {}\n", started.error().message);
    return kExitStartup;
  }
  // The one line launchers and tests parse; nothing else goes to stdout.
  if (config.api.batching) {
    fmt::print(stderr, "batching on: max {} rows, max delay {} us, compute threads {}\n", batch.max_batch_size,
               batch.max_queue_delay.count(), config.api.compute_threads > 0 ? config.api.compute_threads
                                                                             : servelab::batch::available_cpus());
  }
  fmt::print(stdout, "listening http://{}:{}\n", config.http.host, (*server)->port());
  std::fflush(stdout);

  (*server)->run_until_stopped();
  fmt::print(stderr, "servelab-server: stopped\n");
  return 0;
}
