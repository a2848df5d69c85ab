#pragma once
// The scenario model: what a `servelab run` measures. Parsed from TOML by
// parse_scenario_*() (scenario_parser.h) through the key tables of
// scenario_keys.cpp and request_keys.cpp, which also write and read its echo
// in result.json (scenario_json.h); every field has the default that an
// absent key gets. Durations are std::chrono types, never bare ints.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/headers.h"
#include "common/toggles.h"

namespace servelab::scenario {

using Micros = std::chrono::microseconds;

enum class LoadMode { closed, open };
enum class Arrival { constant, poisson };
enum class RequestKind { http, infer, generate };
// The generator's transport: libcurl multi, the native epoll HTTP/1.1
// client, or native when the scenario allows it (plain http://, one origin).
enum class EngineKind { curl, native, auto_ };
// How an infer request spread over several models picks one (Zipf: the i-th
// model listed, from 1, gets weight 1 / i^zipf_exponent).
enum class Distribution { uniform, zipf, weights };
// Whether the runner scrapes the target's /metrics before and after the run
// (result.json server.metrics_delta): auto = only the embedded server, whose
// /metrics is known to exist; a foreign target only when asked (on).
enum class ScrapeMetrics { auto_, on, off };

// One [[load.stages]] entry, as in k6's ramping executors: over `duration`
// the load moves linearly from the previous stage's target (for the first
// stage: load.rate in open loop, load.connections in closed loop) to this
// stage's target. A stage whose target equals the previous one holds it.
struct Stage {
  Micros duration{0};
  double rate = 0;      // open loop: target arrivals per second (>= 0)
  int connections = 0;  // closed loop: target active connections (>= 0)
};

struct LoadConfig {
  LoadMode mode = LoadMode::closed;
  int connections = 100;  // concurrent connections; in open loop also the in-flight cap
  int threads = 1;        // event loops (worker threads); connections and rate split across them
  double rate = 0.0;      // open loop: target arrivals per second across all threads
  Arrival arrival = Arrival::constant;
  Micros duration = std::chrono::seconds(10);  // measured phase
  Micros warmup = std::chrono::seconds(0);  // run before the measured phase, excluded from results
  Micros timeout = std::chrono::seconds(10);  // per request, from its (intended) send time
  Micros think_time = Micros(0);  // closed loop: pause between a response and the next request
  // Ramps. When present, `duration` is the sum of their durations (if the
  // file or --set also gives load.duration, the stages are scaled to it),
  // `rate`/`connections` are the starting values, held during warmup.
  std::vector<Stage> stages;
  EngineKind engine = EngineKind::auto_;  // load.engine
};

// Connections the engine must provide: load.connections, or in closed loop
// with stages the largest target of any stage.
inline int peak_connections(const LoadConfig& load) {
  int peak = load.connections;
  if (load.mode == LoadMode::closed)
    for (const Stage& s : load.stages) peak = peak > s.connections ? peak : s.connections;
  return peak;
}

// A request header (common/headers.h: names compare case-insensitively).
using Header = servelab::Header;

struct RequestSpec {
  RequestKind kind = RequestKind::http;
  std::string name;     // label in results; defaults to "<kind> <model|url>"
  double weight = 1.0;  // relative share of the mix (> 0)

  // kind = "http": any method/URL/headers/body, like wrk. `url` is absolute
  // ("http://host:port/path") or a path resolved against the target.
  std::string method = "GET";
  std::string url = "/";
  HeaderList headers;
  std::string body;

  // kind = "infer": POST /v2/models/{model}/infer with generated FP32 tensors
  // shaped [rows, input_dim]; input_dim comes from the model's metadata.
  std::string model;
  int rows = 1;       // batch rows carried by one request
  uint64_t seed = 1;  // input values are deterministic from this seed

  // kind = "generate": an OpenAI-compatible completion, POST `url` (default
  // "/v1/completions"; `headers` as for http, e.g. Authorization) with body
  // {"model", "prompt", "max_tokens", "stream", "temperature", "seed"} plus
  // `extra_body`. `model` is required; `seed` above is sent as "seed".
  std::vector<std::string> prompts = {"Hello"};  // one is drawn per request (deterministic)
  int max_tokens = 16;
  bool stream = true;
  double temperature = 0.0;
  bool send_seed = true;   // false: no "seed" field (servers that reject it)
  std::string extra_body;  // JSON object text merged into the body ("" = none)
  // kind = "infer" spread over several models, instead of `model`: the
  // `models` key lists them, or `model_count = N` names the embedded
  // repository's mlp-0 .. mlp-{N-1} (stored here expanded). The plan turns
  // such a request into one prepared request per model, its weight split by
  // `distribution`. Every model must take the same input (the width is read
  // from the first one's metadata).
  std::vector<std::string> models;
  Distribution distribution = Distribution::uniform;
  double zipf_exponent = 1.0;  // distribution = "zipf": >= 0
  std::vector<double>
      model_weights;  // distribution = "weights" (key `weights`): one per model, >= 0
};

// Optimization toggles: one table for all four (common/toggles.h).
using Toggles = servelab::Toggles;

// How `target = "embedded"` starts servelab-server.
struct EmbeddedServerConfig {
  int threads = 1;               // servelab-server --threads
  std::string model_repository;  // empty: <results dir>/.models/<spec hash>, made if missing
  // Model repository made by `models make` when missing:
  int model_count = 1;
  std::vector<int> dims = {256, 256, 256};  // input, hidden..., output widths of each mlp
  uint64_t model_seed = 42;
  // Model manager of the embedded server (servelab-server flags; the
  // async_loading toggle gives --async-loading):
  uint64_t model_memory_budget = 0;  // --model-memory-budget, bytes; 0: unlimited
  int max_concurrent_loads = 2;      // --max-concurrent-loads
  bool prediction = true;            // --prediction on|off
  Micros load_wait_timeout = std::chrono::seconds(30);  // --load-wait-timeout
  // --max-queue: infer requests in progress past which the server sheds with
  // 503 + Retry-After; 0: unbounded (requests wait instead).
  int max_queue = 512;
  // Any target, embedded or URL: the /metrics scrapes around the run.
  ScrapeMetrics scrape_metrics = ScrapeMetrics::auto_;
};

// [pool]: the generator's connection pool (docs/POOL.md). Sizes are totals
// over all threads (split like load.connections). Durations of 0 mean "off".
struct PoolConfig {
  int min = 0;  // connections opened before the measured phase (pre-connect)
  int max = 0;  // never more open connections than this; 0 = load.connections (peak)
  // Idle connections older than this are closed (libcurl CURLOPT_MAXAGE_CONN,
  // whole seconds). libcurl's own default, 118 s, when 0.
  Micros idle_timeout = Micros(0);
  Micros max_age =
      Micros(0);  // connection closed after this age (CURLOPT_MAXLIFETIME_CONN); 0 = unlimited
  Micros health_check_interval = Micros(0);  // idle connections checked this often; 0 = never
  std::string health_check_path =
      "/v2/health/live";  // GET path of a health check (and of pre-connects)
};

// [tls]: https:// targets.
struct TlsConfig {
  bool insecure = false;  // accept any certificate (self-signed test certificates)
  std::string ca_file;    // PEM bundle to verify the server with; empty: the system's
};

// [http]: protocol.
struct HttpConfig {
  bool http2 = false;                // HTTP/2: prior knowledge on http://, ALPN on https://
  int streams_per_connection = 100;  // HTTP/2: concurrent streams on one connection
};

struct Scenario {
  std::string name;  // required
  std::string description;
  std::string target = "embedded";  // "embedded" or a base URL ("http://127.0.0.1:8000")
  LoadConfig load;
  std::vector<RequestSpec> requests;  // at least one
  Toggles toggles;
  EmbeddedServerConfig server;
  PoolConfig pool;
  TlsConfig tls;
  HttpConfig http;
  // k6-like threshold expressions ("p(99)<10ms"); parsed and stored here,
  // evaluated by the gate.
  std::vector<std::string> thresholds;

  std::string source;  // file the scenario came from ("<string>" for text)
};

}  // namespace servelab::scenario
