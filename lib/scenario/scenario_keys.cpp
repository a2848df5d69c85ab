// The key tables of a scenario file, beside the rules that read keys whose
// meaning depends on other keys. [[requests]] has its own, in request_keys.cpp.
//
// To add a scenario key: add the field to its struct in scenario.h and one
// row to the table of its section below (kLoadKeys, kServerKeys, ...). The
// row is all the parser, the did-you-mean, result.json's echo and its reader
// need; key_table.h lists the row factories (text, flag, integer, number,
// duration, choice, section, member) and modifiers (then, require, echo_if,
// not_echoed, echo_only). Document the key in docs/SCENARIOS.md.

#include "scenario/scenario_keys.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <utility>

#include "common/byte_size.h"
#include "common/redact.h"

namespace servelab::scenario {
namespace {

namespace json = boost::json;

// Bounds that catch typos (an extra zero) rather than limit real use.
constexpr int kMaxConnections = 1'000'000;
constexpr int kMaxThreads = 1024;
constexpr int kMaxDim = 65536;
constexpr int kMaxModels = 100'000;
constexpr int kMaxLoads = 256;
// nghttp2's default SETTINGS_MAX_CONCURRENT_STREAMS is 100; 2^31-1 is the protocol's limit.
constexpr int kMaxStreams = 1 << 20;
constexpr int64_t kMicrosPerSecond = 1'000'000;

bool from_override(const toml::node& node) {
  const auto& path = node.source().path;
  return path && path->starts_with(kOverridePrefix);
}

// ---------------------------------------------------------------------------
// [[load.stages]]: each needs a duration and the target of the load mode
// (rate in open loop, connections in closed loop); the other target is an
// error, as it would be silently ignored, and the echo leaves it out.

constexpr Key<Stage> kStageRows[] = {
    duration<&Stage::duration, Zero::refused>("duration")
        .require("the stage's length, a duration such as \"30s\""),
    number<&Stage::rate, Zero::allowed>("rate"),
    integer<&Stage::connections, 0, kMaxConnections>("connections"),
};

constexpr std::span<const Key<Stage>> kStageKeys = kStageRows;

std::string_view stage_target(LoadMode mode) {
  return mode == LoadMode::open ? "rate" : "connections";
}

bool read_stages(TableReader& r, std::string_view key, LoadConfig& load) {
  if (r.reported("mode")) return false;  // the stages' target depends on it
  const toml::array* stages = r.read_array(key);
  if (stages == nullptr) return false;
  if (stages->empty()) {
    r.error(*stages, key, "expected at least one [[load.stages]] table, got none");
    return false;
  }
  const std::string_view target = stage_target(load.mode);
  const std::string_view other = load.mode == LoadMode::open ? "connections" : "rate";
  Diagnostics& diagnostics = r.diagnostics();
  Micros total{0};
  bool ok = true;
  for (size_t i = 0; i < stages->size(); ++i) {
    const toml::node& node = *stages->get(i);
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      r.error(node, fmt::format("stages[{}]", i),
              fmt::format("expected a table ([[load.stages]]), got {}", describe(node)));
      ok = false;
      continue;
    }
    TableReader s(*table, fmt::format("load.stages[{}]", i), toml_names(kStageKeys), diagnostics);
    Stage stage;
    const size_t errors_before = diagnostics.count();
    for (const Key<Stage>& k : kStageKeys) {
      if (k.name == other) {
        if (const toml::node* n = s.find(other)) {
          s.error(*n, other,
                  fmt::format("a load.mode = \"{}\" stage ramps {}; remove {} or change load.mode",
                              to_string(load.mode), target, other));
        }
      } else if (k.name == target && s.find(target) == nullptr) {
        s.missing(target, load.mode == LoadMode::open
                              ? "the target arrival rate in requests per second, a number >= 0"
                              : "the target number of active connections, an integer >= 0");
      } else {
        read_key(s, k, stage);
      }
    }
    s.report_unknown_keys();
    ok = ok && diagnostics.count() == errors_before;
    total += stage.duration;
    load.stages.push_back(stage);
  }
  if (!ok) return false;
  if (r.find("duration") != nullptr) {
    // An explicit duration (in the file or from --set) wins: the stages keep
    // their proportions, so `--set load.duration=10s` shortens any scenario.
    const double scale =
        static_cast<double>(load.duration.count()) / static_cast<double>(total.count());
    Micros assigned{0};
    for (size_t i = 0; i < load.stages.size(); ++i) {
      Stage& st = load.stages[i];
      st.duration =
          i + 1 == load.stages.size()
              ? load.duration - assigned
              : Micros(static_cast<int64_t>(static_cast<double>(st.duration.count()) * scale));
      assigned += st.duration;
    }
  } else {
    load.duration = total;
  }
  return true;
}

void write_stages(const LoadConfig& load, std::string_view key, json::object& out) {
  json::array stages;
  for (const Stage& stage : load.stages) {
    json::object o;
    for (const Key<Stage>& k : kStageKeys) {
      if (k.name == "duration" || k.name == stage_target(load.mode)) k.write(stage, k.name, o);
    }
    stages.push_back(std::move(o));
  }
  out[key] = std::move(stages);
}

Status load_stages(const json::value& v, const std::string& where, LoadConfig& load) {
  const json::array* stages = v.if_array();
  if (stages == nullptr) return wrong_type(where);
  for (size_t i = 0; i < stages->size(); ++i) {
    const std::string at = fmt::format("{}[{}]", where, i);
    const json::object* o = (*stages)[i].if_object();
    if (o == nullptr) return wrong_type(at);
    Stage stage;
    if (Status st = load_keys(kStageKeys, *o, at, stage); !st) return st;
    load.stages.push_back(stage);
  }
  return Ok{};
}

// Each worker thread drives at least one connection.
void check_threads(TableReader& r, std::string_view key, LoadConfig& load) {
  if (load.threads > load.connections) {
    r.error(*r.find(key), key,
            fmt::format("expected at most load.connections ({}) threads, got {}", load.connections,
                        load.threads));
  }
}

constexpr Key<LoadConfig> kLoadKeys[] = {
    choice<&LoadConfig::mode, kModes>("mode"),
    integer<&LoadConfig::connections, 1, kMaxConnections>("connections"),
    integer<&LoadConfig::threads, 1, kMaxThreads>("threads").then(check_threads),
    number<&LoadConfig::rate, Zero::allowed>("rate"),
    choice<&LoadConfig::arrival, kArrivals>("arrival"),
    choice<&LoadConfig::engine, kEngines>("engine"),
    duration<&LoadConfig::duration, Zero::refused>("duration"),
    duration<&LoadConfig::warmup, Zero::allowed>("warmup"),
    duration<&LoadConfig::timeout, Zero::refused>("timeout"),
    duration<&LoadConfig::think_time, Zero::allowed>("think_time"),
    // After duration and mode, which it reads.
    Key<LoadConfig>{
        .name = "stages", .read = read_stages, .write = write_stages, .load = load_stages}
        .echo_if([](const LoadConfig& l) { return !l.stages.empty(); }),
};

// Keys of the other mode are errors unless they hold their neutral value,
// so that a file never silently carries settings that do nothing.
void load_rules(TableReader& r, Scenario& s) {
  if (r.reported("mode")) return;
  const LoadConfig& load = s.load;
  if (load.mode == LoadMode::open) {
    if (load.rate <= 0 && load.stages.empty()) {
      const toml::node* at = r.find("rate") != nullptr ? r.find("rate") : r.find("mode");
      r.error(*at, "rate",
              "required when load.mode = \"open\"; expected the arrival rate in requests per "
              "second, a number > 0");
    }
    if (const toml::node* node = r.find("think_time");
        node != nullptr && load.think_time.count() != 0) {
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

// ---------------------------------------------------------------------------
// [toggles]: one row per toggle of common/toggles.h, in its order.

template <size_t... I>
constexpr std::array<Key<Toggles>, sizeof...(I)> toggle_keys(std::index_sequence<I...>) {
  return {flag<kToggles[I].field>(kToggles[I].name)...};
}
constexpr auto kToggleKeys = toggle_keys(std::make_index_sequence<kToggles.size()>{});

// ---------------------------------------------------------------------------
// [server]

// A path written in the file means "beside the file"; one given with --set
// was typed in a shell, so it stays relative to the working directory.
void resolve_model_repository(TableReader& r, std::string_view key, EmbeddedServerConfig& server) {
  const toml::node& node = *r.find(key);
  const std::filesystem::path repo(server.model_repository);
  if (!repo.is_relative() || repo.empty() || from_override(node) || !node.source().path) return;
  const std::filesystem::path folder = std::filesystem::path(*node.source().path).parent_path();
  if (!folder.empty()) server.model_repository = (folder / repo).lexically_normal().string();
}

bool read_dims(TableReader& r, std::string_view key, EmbeddedServerConfig& server) {
  const toml::array* dims = r.read_array(key);
  if (dims == nullptr) return false;
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
      values.push_back(static_cast<int>(number->get()));  // in range: checked above
    }
  }
  if (dims->size() < 2) {
    r.error(*dims, key,
            fmt::format("expected at least 2 widths (input, ..., output), got {}", dims->size()));
    return false;
  }
  if (ok) server.dims = std::move(values);
  return ok;
}

// A number of bytes or a byte size string ("512MiB"); 0 means unlimited.
bool read_memory_budget(TableReader& r, std::string_view key, EmbeddedServerConfig& server) {
  const toml::node& node = *r.find(key);
  if (const auto* number = node.as_integer(); number != nullptr && number->get() >= 0) {
    server.model_memory_budget = static_cast<uint64_t>(number->get());  // >= 0: checked above
    return true;
  }
  if (const auto* text = node.as_string()) {
    Result<uint64_t> bytes = parse_byte_size(text->get());
    if (!bytes) {
      r.error(node, key, bytes.error().message + " (0: unlimited)");
      return false;
    }
    server.model_memory_budget = *bytes;
    return true;
  }
  r.error(node, key,
          fmt::format("expected a byte size such as \"512MiB\" or a number of bytes >= 0 (0: "
                      "unlimited), got {}",
                      describe(node)));
  return false;
}

// Echoed when not "auto", so that results of scenarios without the key keep their shape.
bool scrape_metrics_set(const EmbeddedServerConfig& server) {
  return server.scrape_metrics != ScrapeMetrics::auto_;
}

// Model manager knobs are passed to the embedded server's flags (--threads,
// --model-memory-budget, --max-concurrent-loads, --prediction, --load-wait-timeout,
// --max-queue).
constexpr Key<EmbeddedServerConfig> kServerKeys[] = {
    integer<&EmbeddedServerConfig::threads, 1, kMaxThreads>("threads"),
    text<&EmbeddedServerConfig::model_repository>("model_repository")
        .then(resolve_model_repository),
    integer<&EmbeddedServerConfig::model_count, 1, kMaxModels>("model_count"),
    member<&EmbeddedServerConfig::dims>("dims", read_dims),
    integer<&EmbeddedServerConfig::model_seed>("model_seed"),
    member<&EmbeddedServerConfig::model_memory_budget>("model_memory_budget", read_memory_budget),
    integer<&EmbeddedServerConfig::max_concurrent_loads, 1, kMaxLoads>("max_concurrent_loads"),
    flag<&EmbeddedServerConfig::prediction>("prediction"),
    duration<&EmbeddedServerConfig::load_wait_timeout, Zero::refused>("load_wait_timeout"),
    integer<&EmbeddedServerConfig::max_queue, 0, (1 << 24)>("max_queue"),
    choice<&EmbeddedServerConfig::scrape_metrics, kScrapeMetrics>("scrape_metrics")
        .echo_if(scrape_metrics_set),
};

// ---------------------------------------------------------------------------
// [pool]

// libcurl's CURLOPT_MAXAGE_CONN and CURLOPT_MAXLIFETIME_CONN count whole seconds.
void check_idle_seconds(TableReader& r, std::string_view key, PoolConfig& pool) {
  if (pool.idle_timeout.count() % kMicrosPerSecond != 0) {
    r.error(*r.find(key), key,
            "expected whole seconds such as \"5s\" (libcurl's idle limit has 1 s resolution)");
  }
}

void check_age_seconds(TableReader& r, std::string_view key, PoolConfig& pool) {
  if (pool.max_age.count() % kMicrosPerSecond != 0) {
    r.error(*r.find(key), key,
            "expected whole seconds such as \"10m\" (libcurl's lifetime limit has 1 s resolution)");
  }
}

void check_health_path(TableReader& r, std::string_view key, PoolConfig& pool) {
  if (!pool.health_check_path.starts_with('/')) {
    r.error(*r.find(key), key,
            fmt::format("expected a path starting with \"/\", got \"{}\"", pool.health_check_path));
  }
}

constexpr Key<PoolConfig> kPoolKeys[] = {
    integer<&PoolConfig::min, 0, kMaxConnections>("min"),
    integer<&PoolConfig::max, 1, kMaxConnections>("max"),
    duration<&PoolConfig::idle_timeout, Zero::allowed>("idle_timeout").then(check_idle_seconds),
    duration<&PoolConfig::max_age, Zero::allowed>("max_age").then(check_age_seconds),
    duration<&PoolConfig::health_check_interval, Zero::allowed>("health_check_interval"),
    text<&PoolConfig::health_check_path>("health_check_path").then(check_health_path),
};

// pool.min against pool.max, or load.connections (read before) when max is 0.
void pool_rules(TableReader& r, Scenario& s) {
  const PoolConfig& pool = s.pool;
  const int max = pool.max > 0 ? pool.max : peak_connections(s.load);
  if (const toml::node* node = r.find("min"); node != nullptr && pool.min > max) {
    r.error(*node, "min",
            fmt::format("expected at most pool.max ({}{}), got {}", max,
                        pool.max > 0 ? "" : ", from load.connections", pool.min));
  }
}

// ---------------------------------------------------------------------------
// [tls] and [http]

void check_ca_file(TableReader& r, std::string_view key, TlsConfig& tls) {
  if (tls.ca_file.empty())
    r.error(*r.find(key), key, "expected the path of a PEM file, got an empty string");
}

constexpr Key<TlsConfig> kTlsKeys[] = {
    flag<&TlsConfig::insecure>("insecure"),
    text<&TlsConfig::ca_file>("ca_file").then(check_ca_file),
};

constexpr Key<HttpConfig> kHttpKeys[] = {
    flag<&HttpConfig::http2>("http2"),
    integer<&HttpConfig::streams_per_connection, 1, kMaxStreams>("streams_per_connection"),
};

void http_rules(TableReader& r, Scenario& s) {
  if (const toml::node* node = r.find("streams_per_connection"); node != nullptr && !s.http.http2) {
    r.error(*node, "streams_per_connection",
            "only applies to HTTP/2 (one request at a time per HTTP/1.1 connection); set "
            "http.http2 = true or remove it");
  }
}

// ---------------------------------------------------------------------------
// The top level

void check_name(TableReader& r, std::string_view key, Scenario& s) {
  if (s.name.empty()) r.error(*r.find(key), key, "expected a non-empty string");
}

void check_target(TableReader& r, std::string_view key, Scenario& s) {
  if (s.target != "embedded" && !is_http_url(s.target)) {
    r.error(*r.find(key), key,
            fmt::format(
                "expected \"embedded\" or a base URL starting with http:// or https://, got \"{}\"",
                redact_url(s.target)));
  }
}

bool read_requests(TableReader& top, std::string_view key, Scenario& s) {
  const toml::array* requests = top.read_array(key);
  if (requests == nullptr) return false;
  if (requests->empty())
    top.error(*requests, key, "expected at least one [[requests]] table, got none");
  for (size_t i = 0; i < requests->size(); ++i) {
    const std::string path = fmt::format("requests[{}]", i);
    const toml::node& node = *requests->get(i);
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      top.error(node, path, fmt::format("expected a table ([[requests]]), got {}", describe(node)));
      continue;
    }
    TableReader r(*table, path, toml_names(request_keys()), top.diagnostics());
    RequestSpec request;
    read_request(r, request);
    r.report_unknown_keys();
    s.requests.push_back(std::move(request));
  }
  return true;
}

void write_requests(const Scenario& s, std::string_view key, json::object& out) {
  json::array requests;
  for (const RequestSpec& request : s.requests) {
    json::object o;
    write_keys(request_keys(), request, o);
    requests.push_back(std::move(o));
  }
  out[key] = std::move(requests);
}

Status load_requests(const json::value& v, const std::string& where, Scenario& s) {
  const json::array* requests = v.if_array();
  if (requests == nullptr) return wrong_type(where);
  for (size_t i = 0; i < requests->size(); ++i) {
    const std::string at = fmt::format("{}[{}]", where, i);
    const json::object* o = (*requests)[i].if_object();
    if (o == nullptr) return wrong_type(at);
    RequestSpec request;
    if (Status st = load_keys(request_keys(), *o, at, request); !st) return st;
    s.requests.push_back(std::move(request));
  }
  return Ok{};
}

// k6-like threshold expressions, checked by the gate that evaluates them.
bool read_thresholds(TableReader& r, std::string_view key, Scenario& s) {
  const toml::array* thresholds = r.read_array(key);
  if (thresholds == nullptr) return false;
  for (size_t i = 0; i < thresholds->size(); ++i) {
    const toml::node& node = *thresholds->get(i);
    const auto* text = node.as_string();
    if (text == nullptr || text->get().empty()) {
      r.error(node, fmt::format("thresholds[{}]", i),
              fmt::format("expected a threshold expression string such as \"p(99)<50ms\", got {}",
                          describe(node)));
      continue;
    }
    s.thresholds.push_back(text->get());
  }
  return true;
}

// In result.json's order; tables read in this order, so [pool] sees [load].
// [server] is read even for a URL target, where it is unused, so that
// `--set target=http://...` works on a scenario written for the embedded server.
constexpr Key<Scenario> kScenarioKeys[] = {
    text<&Scenario::name>("name").require("a string naming the scenario").then(check_name),
    text<&Scenario::description>("description"),
    text<&Scenario::source>("source").echo_only(),
    text<&Scenario::target>("target").then(check_target),
    section<&Scenario::load, kLoadKeys, load_rules>("load"),
    Key<Scenario>{
        .name = "requests", .read = read_requests, .write = write_requests, .load = load_requests}
        .require("at least one [[requests]] table"),
    section<&Scenario::toggles, kToggleKeys>("toggles"),
    section<&Scenario::server, kServerKeys>("server"),
    section<&Scenario::pool, kPoolKeys, pool_rules>("pool"),
    section<&Scenario::tls, kTlsKeys>("tls"),
    section<&Scenario::http, kHttpKeys, http_rules>("http"),
    member<&Scenario::thresholds>("thresholds", read_thresholds),
};

}  // namespace

std::span<const Key<Scenario>> scenario_keys() { return kScenarioKeys; }

bool is_http_url(std::string_view text) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (text.starts_with(scheme) && text.size() > scheme.size() && text[scheme.size()] != '/')
      return true;
  }
  return false;
}

}  // namespace servelab::scenario
