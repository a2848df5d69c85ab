#include "common/duration.h"
#include "scenario/scenario_parser.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "scenario/diagnostics.h"
#include "scenario/generate_request.h"
#include "common/byte_size.h"
#include "scenario/overrides.h"
#include "scenario/table_reader.h"

namespace servelab::scenario {

namespace {

// The schema: every key each table may hold (docs/SCENARIOS.md documents them).
constexpr std::string_view kTopKeys[] = {"name",   "description", "target", "thresholds",
                                         "load",   "toggles",     "server", "requests",
                                         "pool",   "tls",         "http"};
constexpr std::string_view kLoadKeys[] = {"mode",     "connections", "threads",
                                          "rate",     "arrival",     "duration",
                                          "warmup",   "timeout",     "think_time",
                                          "stages",   "engine"};
constexpr std::string_view kStageKeys[] = {"duration", "rate", "connections"};
constexpr std::string_view kToggleKeys[] = {"pooling", "batching", "streaming", "async_loading"};
constexpr std::string_view kServerKeys[] = {"threads",    "model_repository",    "model_count",
                                            "dims",       "model_seed",          "model_memory_budget",
                                            "prediction", "max_concurrent_loads", "load_wait_timeout"};
constexpr std::string_view kRequestKeys[] = {"kind",   "name",        "weight",       "method",        "url",
                                             "headers", "body",       "model",        "rows",          "seed",
                                             "models", "model_count", "distribution", "zipf_exponent", "weights",
                                             // kind = "generate" (generate_request.h)
                                             "prompt", "prompts", "max_tokens", "stream",
                                             "temperature", "extra_body"};
constexpr std::string_view kPoolKeys[] = {"min", "max", "idle_timeout", "max_age",
                                          "health_check_interval", "health_check_path"};
constexpr std::string_view kTlsKeys[] = {"insecure", "ca_file"};
constexpr std::string_view kHttpKeys[] = {"http2", "streams_per_connection"};
constexpr std::string_view kHttpOnlyKeys[] = {"method", "url", "headers", "body"};
constexpr std::string_view kInferOnlyKeys[] = {"model",        "rows",          "seed",   "models", "model_count",
                                               "distribution", "zipf_exponent", "weights"};
// Keys a generate request rejects: `model`, `seed`, `url` and `headers` it shares.
constexpr std::string_view kNotGenerateKeys[] = {"method",       "body",          "rows",   "models", "model_count",
                                                 "distribution", "zipf_exponent", "weights"};
constexpr Choice<Distribution> kDistributions[] = {
    {"uniform", Distribution::uniform}, {"zipf", Distribution::zipf}, {"weights", Distribution::weights}};

constexpr Choice<LoadMode> kModes[] = {{"closed", LoadMode::closed}, {"open", LoadMode::open}};
constexpr Choice<Arrival> kArrivals[] = {{"constant", Arrival::constant},
                                         {"poisson", Arrival::poisson}};
constexpr Choice<EngineKind> kEngines[] = {
    {"curl", EngineKind::curl}, {"native", EngineKind::native}, {"auto", EngineKind::auto_}};
constexpr Choice<RequestKind> kKinds[] = {{"http", RequestKind::http},
                                          {"infer", RequestKind::infer},
                                          {"generate", RequestKind::generate}};
constexpr Choice<std::string_view> kMethods[] = {
    {"GET", "GET"},       {"POST", "POST"}, {"PUT", "PUT"},        {"DELETE", "DELETE"},
    {"PATCH", "PATCH"},   {"HEAD", "HEAD"}, {"OPTIONS", "OPTIONS"}};

// Bounds that catch typos (an extra zero) rather than limit real use.
constexpr int kMaxConnections = 1'000'000;
constexpr int kMaxThreads = 1024;
constexpr int kMaxRows = 4096;
constexpr int kMaxDim = 65536;
constexpr int kMaxModels = 100'000;
constexpr int kMaxLoads = 256;
constexpr double kMaxZipfExponent = 100.0;

bool is_http_url(std::string_view text) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (text.starts_with(scheme) && text.size() > scheme.size() && text[scheme.size()] != '/') {
      return true;
    }
  }
  return false;
}

bool from_override(const toml::node& node) {
  const auto& path = node.source().path;
  return path && path->starts_with(kOverridePrefix);
}

// [[load.stages]]: each needs a duration and the target of the load mode
// (rate in open loop, connections in closed loop); the other target is an
// error, as it would be silently ignored.
void read_stages(TableReader& load_reader, const toml::array& stages, LoadConfig& load,
                 Diagnostics& diagnostics) {
  const bool open = load.mode == LoadMode::open;
  if (stages.empty()) {
    load_reader.error(stages, "stages", "expected at least one [[load.stages]] table, got none");
    return;
  }
  Micros total{0};
  bool ok = true;
  for (size_t i = 0; i < stages.size(); ++i) {
    const toml::node& node = *stages.get(i);
    const std::string path = fmt::format("load.stages[{}]", i);
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      load_reader.error(node, fmt::format("stages[{}]", i),
                        fmt::format("expected a table ([[load.stages]]), got {}", describe(node)));
      ok = false;
      continue;
    }
    TableReader r(*table, path, kStageKeys, diagnostics);
    Stage stage;
    const size_t errors_before = diagnostics.count();
    if (r.find("duration") == nullptr) {
      r.missing("duration", "the stage's length, a duration such as \"30s\"");
    } else {
      r.read_duration("duration", stage.duration, /*allow_zero=*/false);
    }
    const std::string_view target = open ? "rate" : "connections";
    const std::string_view other = open ? "connections" : "rate";
    if (r.find(target) == nullptr) {
      r.missing(target, open ? "the target arrival rate in requests per second, a number >= 0"
                             : "the target number of active connections, an integer >= 0");
    } else if (open) {
      r.read_number("rate", stage.rate, /*allow_zero=*/true);
    } else {
      r.read_int("connections", stage.connections, 0, kMaxConnections);
    }
    if (const toml::node* n = r.find(other)) {
      r.error(*n, other,
              fmt::format("a load.mode = \"{}\" stage ramps {}; remove {} or change load.mode",
                          to_string(load.mode), target, other));
    }
    r.report_unknown_keys();
    ok = ok && diagnostics.count() == errors_before;
    total += stage.duration;
    load.stages.push_back(stage);
  }
  if (!ok) return;
  if (load_reader.find("duration") != nullptr) {
    // An explicit duration (in the file or from --set) wins: the stages keep
    // their proportions, so `--set load.duration=10s` shortens any scenario.
    const double scale = static_cast<double>(load.duration.count()) / static_cast<double>(total.count());
    Micros assigned{0};
    for (size_t i = 0; i < load.stages.size(); ++i) {
      Stage& st = load.stages[i];
      st.duration = i + 1 == load.stages.size()
                        ? load.duration - assigned
                        : Micros(static_cast<int64_t>(static_cast<double>(st.duration.count()) * scale));
      assigned += st.duration;
    }
  } else {
    load.duration = total;
  }
}

void read_load(TableReader& r, LoadConfig& load, Diagnostics& diagnostics) {
  const bool mode_ok = r.read_choice<LoadMode>("mode", load.mode, kModes);
  r.read_int("connections", load.connections, 1, kMaxConnections);
  if (r.read_int("threads", load.threads, 1, kMaxThreads) && load.threads > load.connections) {
    // Each worker thread drives at least one connection.
    r.error(*r.find("threads"), "threads",
            fmt::format("expected at most load.connections ({}) threads, got {}",
                        load.connections, load.threads));
  }
  r.read_number("rate", load.rate, /*allow_zero=*/true);
  r.read_choice<Arrival>("arrival", load.arrival, kArrivals);
  r.read_choice<EngineKind>("engine", load.engine, kEngines);
  r.read_duration("duration", load.duration, /*allow_zero=*/false);
  r.read_duration("warmup", load.warmup, /*allow_zero=*/true);
  r.read_duration("timeout", load.timeout, /*allow_zero=*/false);
  r.read_duration("think_time", load.think_time, /*allow_zero=*/true);
  if (!mode_ok && r.find("mode") != nullptr) return;  // mode invalid: already reported
  if (const toml::array* stages = r.read_array("stages")) read_stages(r, *stages, load, diagnostics);

  // Keys of the other mode are errors unless they hold their neutral value,
  // so that a file never silently carries settings that do nothing.
  if (load.mode == LoadMode::open) {
    if (load.rate <= 0 && load.stages.empty()) {
      const toml::node* at = r.find("rate") != nullptr ? r.find("rate") : r.find("mode");
      r.error(*at, "rate",
              "required when load.mode = \"open\"; expected the arrival rate in requests per "
              "second, a number > 0");
    }
    if (const toml::node* node = r.find("think_time"); node != nullptr && load.think_time.count() != 0) {
      r.error(*node, "think_time",
              "only applies to load.mode = \"closed\"; in open loop requests start on the "
              "load.rate schedule, not after responses");
    }
  } else {
    if (const toml::node* node = r.find("rate"); node != nullptr && load.rate != 0) {
      r.error(*node, "rate",
              "only applies to load.mode = \"open\"; a closed loop sends each connection's next "
              "request when its previous one completes, so its rate is whatever the server "
              "sustains. Remove it or set load.mode = \"open\"");
    }
    if (const toml::node* node = r.find("arrival");
        node != nullptr && load.arrival != Arrival::constant) {
      r.error(*node, "arrival",
              "only applies to load.mode = \"open\" (it shapes the arrival schedule); remove it or "
              "set load.mode = \"open\"");
    }
  }
}

void read_toggles(TableReader& r, Toggles& toggles) {
  r.read_bool("pooling", toggles.pooling);
  r.read_bool("batching", toggles.batching);
  r.read_bool("streaming", toggles.streaming);
  r.read_bool("async_loading", toggles.async_loading);
}

void read_server(TableReader& r, EmbeddedServerConfig& server, const std::string& source) {
  r.read_int("threads", server.threads, 1, kMaxThreads);
  if (r.read_string("model_repository", server.model_repository)) {
    // A path written in the file means "beside the file"; one given with
    // --set was typed in a shell, so it stays relative to the working directory.
    const std::filesystem::path repo(server.model_repository);
    const std::filesystem::path folder = std::filesystem::path(source).parent_path();
    if (repo.is_relative() && !repo.empty() && !from_override(*r.find("model_repository")) &&
        !folder.empty()) {
      server.model_repository = (folder / repo).lexically_normal().string();
    }
  }
  r.read_int("model_count", server.model_count, 1, kMaxModels);
  if (const toml::array* dims = r.read_array("dims")) {
    std::vector<int> values;
    bool ok = true;
    for (size_t i = 0; i < dims->size(); ++i) {
      const toml::node& node = *dims->get(i);
      const auto* number = node.as_integer();
      if (number == nullptr || number->get() < 1 || number->get() > kMaxDim) {
        r.error(node, fmt::format("dims[{}]", i),
                fmt::format("expected an integer from 1 to {}, got {}", kMaxDim, describe(node)));
        ok = false;
      } else {
        values.push_back(static_cast<int>(number->get()));
      }
    }
    if (dims->size() < 2) {
      r.error(*dims, "dims",
              fmt::format("expected at least 2 widths (input, ..., output), got {}", dims->size()));
    } else if (ok) {
      server.dims = std::move(values);
    }
  }
  r.read_uint64("model_seed", server.model_seed);
  // Model manager knobs, passed to the embedded server's flags.
  if (const toml::node* node = r.find("model_memory_budget")) {
    if (const auto* number = node->as_integer(); number != nullptr && number->get() >= 0) {
      server.model_memory_budget = static_cast<uint64_t>(number->get());
    } else if (const auto* text = node->as_string()) {
      if (auto bytes = parse_byte_size(text->get())) {
        server.model_memory_budget = *bytes;
      } else {
        r.error(*node, "model_memory_budget", bytes.error().message + " (0: unlimited)");
      }
    } else {
      r.error(*node, "model_memory_budget",
              fmt::format("expected a byte size such as \"512MiB\" or a number of bytes >= 0 (0: unlimited), got {}",
                          describe(*node)));
    }
  }
  r.read_int("max_concurrent_loads", server.max_concurrent_loads, 1, kMaxLoads);
  r.read_bool("prediction", server.prediction);
  r.read_duration("load_wait_timeout", server.load_wait_timeout, /*allow_zero=*/false);
}

// An infer request spread over several models: `models` or `model_count`,
// with `distribution`, `zipf_exponent` and `weights`. Returns false when the
// request names no models this way (then `model` applies).
bool read_model_spread(TableReader& r, RequestSpec& request) {
  const toml::node* models = r.find("models");
  const toml::node* count = r.find("model_count");
  if (models != nullptr && count != nullptr) {
    r.error(*count, "model_count", "give either models = [...] or model_count, not both");
    return true;
  }
  if (models == nullptr && count == nullptr) {
    for (std::string_view key : {"distribution", "zipf_exponent", "weights"}) {
      if (const toml::node* node = r.find(key)) {
        r.error(*node, key, "only applies to a request spread over several models (models = [...] or model_count)");
      }
    }
    return false;
  }
  if (const toml::node* model = r.find("model")) {
    r.error(*model, "model",
            fmt::format("give either model or {}, not both", models != nullptr ? "models" : "model_count"));
  }
  if (const toml::array* list = r.read_array("models")) {
    if (list->empty()) r.error(*list, "models", "expected at least one model name, got an empty array");
    for (size_t i = 0; i < list->size(); ++i) {
      const toml::node& node = *list->get(i);
      const auto* text = node.as_string();
      const std::string key = fmt::format("models[{}]", i);
      if (text == nullptr || text->get().empty()) {
        r.error(node, key, fmt::format("expected a model name (a non-empty string), got {}", describe(node)));
      } else if (std::find(request.models.begin(), request.models.end(), text->get()) != request.models.end()) {
        r.error(node, key, fmt::format("model \"{}\" is listed twice", text->get()));
      } else {
        request.models.push_back(text->get());
      }
    }
  }
  int n = 0;
  if (r.read_int("model_count", n, 1, kMaxModels)) {
    // The names `servelab models make` (and the embedded server) gives.
    for (int i = 0; i < n; ++i) request.models.push_back(fmt::format("mlp-{}", i));
  }
  const bool has_choice = r.read_choice<Distribution>("distribution", request.distribution, kDistributions);
  const toml::node* weights = r.find("weights");
  if (weights != nullptr && !has_choice && r.find("distribution") == nullptr) {
    request.distribution = Distribution::weights;
  }
  if (const toml::node* node = r.find("zipf_exponent")) {
    if (request.distribution != Distribution::zipf) {
      r.error(*node, "zipf_exponent", "only applies to distribution = \"zipf\"");
    } else if (r.read_number("zipf_exponent", request.zipf_exponent, /*allow_zero=*/true) &&
               request.zipf_exponent > kMaxZipfExponent) {
      r.error(*node, "zipf_exponent",
              fmt::format("expected a number from 0 to {}, got {}", kMaxZipfExponent, request.zipf_exponent));
    }
  }
  if (request.distribution == Distribution::weights) {
    if (weights == nullptr) {
      r.missing("weights", "one weight (a number >= 0) per model, for distribution = \"weights\"");
    } else if (const toml::array* list = r.read_array("weights")) {
      double total = 0;
      bool ok = true;
      for (size_t i = 0; i < list->size(); ++i) {
        const toml::node& node = *list->get(i);
        const auto v = node.value<double>();
        if (!v || !(*v >= 0) || !std::isfinite(*v)) {
          r.error(node, fmt::format("weights[{}]", i), fmt::format("expected a number >= 0, got {}", describe(node)));
          ok = false;
          continue;
        }
        total += *v;
        request.model_weights.push_back(*v);
      }
      if (ok && list->size() != request.models.size() && !request.models.empty()) {
        r.error(*list, "weights",
                fmt::format("expected one weight per model ({}), got {}", request.models.size(), list->size()));
      } else if (ok && !(total > 0)) {
        r.error(*list, "weights", "expected at least one weight > 0");
      }
    }
  } else if (weights != nullptr) {
    r.error(*weights, "weights",
            fmt::format("only applies to distribution = \"weights\"; this request has distribution = \"{}\"",
                        to_string(request.distribution)));
  }
  return true;
}

// [pool]. Cross-key checks need load.connections, read before.
void read_pool(TableReader& r, PoolConfig& pool, const LoadConfig& load) {
  r.read_int("min", pool.min, 0, kMaxConnections);
  r.read_int("max", pool.max, 1, kMaxConnections);
  const int max = pool.max > 0 ? pool.max : peak_connections(load);
  if (const toml::node* node = r.find("min"); node != nullptr && pool.min > max) {
    r.error(*node, "min",
            fmt::format("expected at most pool.max ({}{}), got {}", max,
                        pool.max > 0 ? "" : ", from load.connections", pool.min));
  }
  if (r.read_duration("idle_timeout", pool.idle_timeout, /*allow_zero=*/true) &&
      pool.idle_timeout.count() % 1'000'000 != 0) {
    // libcurl's CURLOPT_MAXAGE_CONN counts whole seconds.
    r.error(*r.find("idle_timeout"), "idle_timeout",
            "expected whole seconds such as \"5s\" (libcurl's idle limit has 1 s resolution)");
  }
  if (r.read_duration("max_age", pool.max_age, /*allow_zero=*/true) &&
      pool.max_age.count() % 1'000'000 != 0) {
    r.error(*r.find("max_age"), "max_age",
            "expected whole seconds such as \"10m\" (libcurl's lifetime limit has 1 s resolution)");
  }
  r.read_duration("health_check_interval", pool.health_check_interval, /*allow_zero=*/true);
  if (r.read_string("health_check_path", pool.health_check_path) &&
      !pool.health_check_path.starts_with('/')) {
    r.error(*r.find("health_check_path"), "health_check_path",
            fmt::format("expected a path starting with \"/\", got \"{}\"", pool.health_check_path));
  }
}

void read_tls(TableReader& r, TlsConfig& tls) {
  r.read_bool("insecure", tls.insecure);
  if (r.read_string("ca_file", tls.ca_file) && tls.ca_file.empty()) {
    r.error(*r.find("ca_file"), "ca_file", "expected the path of a PEM file, got an empty string");
  }
}

void read_http(TableReader& r, HttpConfig& http) {
  r.read_bool("http2", http.http2);
  // nghttp2's default SETTINGS_MAX_CONCURRENT_STREAMS is 100; 2^31-1 is the protocol's limit.
  r.read_int("streams_per_connection", http.streams_per_connection, 1, 1 << 20);
  if (const toml::node* node = r.find("streams_per_connection"); node != nullptr && !http.http2) {
    r.error(*node, "streams_per_connection",
            "only applies to HTTP/2 (one request at a time per HTTP/1.1 connection); set "
            "http.http2 = true or remove it");
  }
}

void read_headers(TableReader& r, const toml::table& headers, std::vector<Header>& out) {
  for (auto&& [key, node] : headers) {
    const std::string field = fmt::format("headers.{}", key.str());
    const auto* text = node.as_string();
    if (text == nullptr) {
      r.error(node, field, fmt::format("expected a string, got {}", describe(node)));
      continue;
    }
    // Names and values go onto the wire as written: refuse what would break
    // the request framing.
    if (key.str().empty() || key.str().find_first_of(" \t\r\n:") != std::string::npos) {
      r.error(node, field, "expected a header name without spaces or ':'");
      continue;
    }
    if (text->get().find_first_of("\r\n") != std::string::npos) {
      r.error(node, field, "expected a header value without line breaks");
      continue;
    }
    out.push_back(Header{std::string(key.str()), text->get()});
  }
}

// Which kinds a request key belongs to, for the error on a key of another kind.
std::string_view owners_of(std::string_view key) {
  if (key == "model" || key == "seed") return "\"infer\" or \"generate\"";
  if (key == "url" || key == "headers") return "\"http\" or \"generate\"";
  if (key == "rows") return "\"infer\"";
  if (key == "method" || key == "body") return "\"http\"";
  return "\"generate\"";
}

// Keys of the other request kind are errors: they would be silently ignored.
void reject_keys(TableReader& r, std::span<const std::string_view> keys, std::string_view kind) {
  for (std::string_view key : keys) {
    if (const toml::node* node = r.find(key)) {
      r.error(*node, key,
              fmt::format("only applies to kind = {}; this request has kind = \"{}\"", owners_of(key),
                          kind));
    }
  }
}

void read_request(TableReader& r, RequestSpec& request) {
  if (r.find("kind") == nullptr) {
    r.missing("kind", "one of \"http\", \"infer\", \"generate\"");
    return;
  }
  if (!r.read_choice<RequestKind>("kind", request.kind, kKinds)) return;
  r.read_string("name", request.name);
  r.read_number("weight", request.weight, /*allow_zero=*/false);
  if (request.kind == RequestKind::generate) {
    reject_keys(r, kNotGenerateKeys, "generate");
    if (const toml::table* headers = r.read_table("headers")) {
      read_headers(r, *headers, request.headers);
    }
    read_generate_request(r, request);
    return;
  }
  reject_keys(r, kGenerateOnlyKeys, to_string(request.kind));
  if (request.kind == RequestKind::http) {
    reject_keys(r, kInferOnlyKeys, "http");
    std::string_view method = request.method;
    if (r.read_choice<std::string_view>("method", method, kMethods)) request.method = method;
    if (r.read_string("url", request.url) && !request.url.starts_with('/') &&
        !is_http_url(request.url)) {
      r.error(*r.find("url"), "url",
              fmt::format("expected a path starting with \"/\" or an absolute http:// or "
                          "https:// URL, got \"{}\"",
                          request.url));
    }
    if (const toml::table* headers = r.read_table("headers")) {
      read_headers(r, *headers, request.headers);
    }
    r.read_string("body", request.body);
    if (request.name.empty()) request.name = fmt::format("http {} {}", request.method, request.url);
  } else {
    reject_keys(r, kHttpOnlyKeys, "infer");
    // Infer requests always POST to /v2/models/{model}/infer.
    request.method = "POST";
    const bool spread = read_model_spread(r, request);
    if (spread) {
      // Each model's share is named "<name> <model>" in the results.
    } else if (r.find("model") == nullptr) {
      r.missing("model",
                "the name of the model to infer against (a string), or models = [...] / model_count = N to spread "
                "requests over several");
    } else if (r.read_string("model", request.model) && request.model.empty()) {
      r.error(*r.find("model"), "model", "expected a model name, got an empty string");
    }
    r.read_int("rows", request.rows, 1, kMaxRows);
    r.read_uint64("seed", request.seed);
    if (request.name.empty()) request.name = spread ? std::string("infer") : fmt::format("infer {}", request.model);
  }
}

void read_thresholds(TableReader& r, const toml::array& thresholds, std::vector<std::string>& out) {
  for (size_t i = 0; i < thresholds.size(); ++i) {
    const toml::node& node = *thresholds.get(i);
    const auto* text = node.as_string();
    if (text == nullptr || text->get().empty()) {
      r.error(node, fmt::format("thresholds[{}]", i),
              fmt::format("expected a threshold expression string such as \"p(99)<50ms\", got {}",
                          describe(node)));
      continue;
    }
    out.push_back(text->get());
  }
}

Scenario read_scenario(const toml::table& root, const std::string& source, Diagnostics& diagnostics) {
  Scenario scenario;
  scenario.source = source;
  TableReader top(root, "", kTopKeys, diagnostics);

  if (top.find("name") == nullptr) {
    top.missing("name", "a string naming the scenario");
  } else if (top.read_string("name", scenario.name) && scenario.name.empty()) {
    top.error(*top.find("name"), "name", "expected a non-empty string");
  }
  top.read_string("description", scenario.description);
  if (top.read_string("target", scenario.target) && scenario.target != "embedded" &&
      !is_http_url(scenario.target)) {
    top.error(*top.find("target"), "target",
              fmt::format("expected \"embedded\" or a base URL starting with http:// or https://, "
                          "got \"{}\"",
                          scenario.target));
  }
  if (const toml::array* thresholds = top.read_array("thresholds")) {
    read_thresholds(top, *thresholds, scenario.thresholds);
  }
  if (const toml::table* load = top.read_table("load")) {
    TableReader r(*load, "load", kLoadKeys, diagnostics);
    read_load(r, scenario.load, diagnostics);
    r.report_unknown_keys();
  }
  if (const toml::table* toggles = top.read_table("toggles")) {
    TableReader r(*toggles, "toggles", kToggleKeys, diagnostics);
    read_toggles(r, scenario.toggles);
    r.report_unknown_keys();
  }
  if (const toml::table* pool = top.read_table("pool")) {
    TableReader r(*pool, "pool", kPoolKeys, diagnostics);
    read_pool(r, scenario.pool, scenario.load);
    r.report_unknown_keys();
  }
  if (const toml::table* tls = top.read_table("tls")) {
    TableReader r(*tls, "tls", kTlsKeys, diagnostics);
    read_tls(r, scenario.tls);
    r.report_unknown_keys();
  }
  if (const toml::table* http = top.read_table("http")) {
    TableReader r(*http, "http", kHttpKeys, diagnostics);
    read_http(r, scenario.http);
    r.report_unknown_keys();
  }
  // [server] is read even for a URL target, where it is unused, so that
  // `--set target=http://...` works on a scenario written for the embedded server.
  if (const toml::table* server = top.read_table("server")) {
    TableReader r(*server, "server", kServerKeys, diagnostics);
    read_server(r, scenario.server, source);
    r.report_unknown_keys();
  }
  if (top.find("requests") == nullptr) {
    top.missing("requests", "at least one [[requests]] table");
  } else if (const toml::array* requests = top.read_array("requests")) {
    if (requests->empty()) {
      top.error(*requests, "requests", "expected at least one [[requests]] table, got none");
    }
    for (size_t i = 0; i < requests->size(); ++i) {
      const std::string path = fmt::format("requests[{}]", i);
      const toml::node& node = *requests->get(i);
      const toml::table* table = node.as_table();
      if (table == nullptr) {
        top.error(node, path, fmt::format("expected a table ([[requests]]), got {}", describe(node)));
        continue;
      }
      TableReader r(*table, path, kRequestKeys, diagnostics);
      RequestSpec request;
      read_request(r, request);
      r.report_unknown_keys();
      scenario.requests.push_back(std::move(request));
    }
  }
  top.report_unknown_keys();
  return scenario;
}

}  // namespace

Result<Scenario> parse_scenario_file(const std::string& path,
                                     const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open scenario file", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(fmt::format("{}: cannot read scenario file", path));
  return parse_scenario_text(text.str(), path, overrides);
}

Result<Scenario> parse_scenario_text(std::string_view text, const std::string& source_name,
                                     const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return make_error(fmt::format("{}: TOML syntax error: {}", position(e.source(), source_name),
                                  e.description()));
  }
  for (const std::string& assignment : overrides) {
    // An override that cannot be applied leaves nothing sensible to validate.
    if (Status applied = apply_override(root, assignment); !applied) {
      return std::move(applied).error();
    }
  }
  Diagnostics diagnostics(source_name);
  Scenario scenario = read_scenario(root, source_name, diagnostics);
  if (!diagnostics.empty()) return diagnostics.to_error();
  return scenario;
}

std::string_view to_string(LoadMode m) { return m == LoadMode::closed ? "closed" : "open"; }
std::string_view to_string(Arrival a) { return a == Arrival::constant ? "constant" : "poisson"; }
std::string_view to_string(EngineKind e) {
  return e == EngineKind::curl ? "curl" : e == EngineKind::native ? "native" : "auto";
}
std::string_view to_string(RequestKind k) {
  switch (k) {
    case RequestKind::http: return "http";
    case RequestKind::infer: return "infer";
    case RequestKind::generate: return "generate";
  }
  return "http";
}
std::string_view to_string(Distribution d) {
  switch (d) {
    case Distribution::uniform: return "uniform";
    case Distribution::zipf: return "zipf";
    case Distribution::weights: return "weights";
  }
  return "uniform";
}

}  // namespace servelab::scenario
