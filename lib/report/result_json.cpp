#include "common/duration.h"
#include "report/result_json.h"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "report/generate_json.h"
#include "scenario/scenario_parser.h"

namespace servelab::report {
namespace json = boost::json;
namespace {

json::object scenario_json(const scenario::Scenario& s) {
  json::object load{
      {"mode", scenario::to_string(s.load.mode)},
      {"connections", s.load.connections},
      {"threads", s.load.threads},
      {"rate", s.load.rate},
      {"arrival", scenario::to_string(s.load.arrival)},
      {"engine", scenario::to_string(s.load.engine)},
      {"duration", format_duration(s.load.duration)},
      {"warmup", format_duration(s.load.warmup)},
      {"timeout", format_duration(s.load.timeout)},
      {"think_time", format_duration(s.load.think_time)},
  };
  if (!s.load.stages.empty()) {
    json::array stages;
    for (const auto& st : s.load.stages) {
      json::object o{{"duration", format_duration(st.duration)}};
      if (s.load.mode == scenario::LoadMode::open) o["rate"] = st.rate;
      else o["connections"] = st.connections;
      stages.push_back(std::move(o));
    }
    load["stages"] = std::move(stages);
  }
  json::array requests;
  for (const auto& r : s.requests) {
    json::object o{{"kind", scenario::to_string(r.kind)}, {"name", r.name}, {"weight", r.weight}};
    if (r.kind == scenario::RequestKind::http) {
      o["method"] = r.method;
      o["url"] = r.url;
      json::object headers;
      for (const auto& h : r.headers) headers[h.name] = is_secret_header(h.name) ? "<redacted>" : h.value;
      o["headers"] = std::move(headers);
      o["body_bytes"] = r.body.size();
    } else if (r.kind == scenario::RequestKind::generate) {
      generate_request_json(r, o);
    } else {
      o["model"] = r.model;
      o["rows"] = r.rows;
      o["seed"] = r.seed;
      if (!r.models.empty()) {  // spread over several models
        json::array names;
        for (const auto& m : r.models) names.push_back(json::string(m));
        o["models"] = std::move(names);
        o["distribution"] = scenario::to_string(r.distribution);
        if (r.distribution == scenario::Distribution::zipf) o["zipf_exponent"] = r.zipf_exponent;
        if (r.distribution == scenario::Distribution::weights) {
          json::array weights;
          for (double w : r.model_weights) weights.push_back(w);
          o["weights"] = std::move(weights);
        }
      }
    }
    requests.push_back(std::move(o));
  }
  json::array dims;
  for (int d : s.server.dims) dims.push_back(d);
  json::array thresholds;
  for (const auto& t : s.thresholds) thresholds.push_back(json::string(t));
  return {
      {"name", s.name},
      {"description", s.description},
      {"source", s.source},
      {"target", s.target},
      {"load", std::move(load)},
      {"requests", std::move(requests)},
      {"toggles",
       {{"pooling", s.toggles.pooling},
        {"batching", s.toggles.batching},
        {"streaming", s.toggles.streaming},
        {"async_loading", s.toggles.async_loading}}},
      {"server",
       {{"threads", s.server.threads},
        {"model_repository", s.server.model_repository},
        {"model_count", s.server.model_count},
        {"dims", std::move(dims)},
        {"model_seed", s.server.model_seed},
        {"model_memory_budget", s.server.model_memory_budget},
        {"max_concurrent_loads", s.server.max_concurrent_loads},
        {"prediction", s.server.prediction},
        {"load_wait_timeout", format_duration(s.server.load_wait_timeout)}}},
      {"pool",
       {{"min", s.pool.min},
        {"max", s.pool.max},
        {"idle_timeout", format_duration(s.pool.idle_timeout)},
        {"max_age", format_duration(s.pool.max_age)},
        {"health_check_interval", format_duration(s.pool.health_check_interval)},
        {"health_check_path", s.pool.health_check_path}}},
      {"tls", {{"insecure", s.tls.insecure}, {"ca_file", s.tls.ca_file}}},
      {"http", {{"http2", s.http.http2}, {"streams_per_connection", s.http.streams_per_connection}}},
      {"thresholds", std::move(thresholds)},
  };
}

json::object latency_json(const measure::Histogram& h) {
  return {
      {"count", h.count()},
      {"min", h.min()},
      {"mean", h.mean()},
      {"stddev", h.stddev()},
      {"p50", h.value_at_percentile(50)},
      {"p90", h.value_at_percentile(90)},
      {"p99", h.value_at_percentile(99)},
      {"p99_9", h.value_at_percentile(99.9)},
      {"p99_99", h.value_at_percentile(99.99)},
      {"max", h.max()},
      {"overflow", h.overflow_count()},
  };
}

}  // namespace

namespace {

// The connection pool's counters (docs/POOL.md, docs/RESULTS.md).
json::object pool_json(const pool::PoolStats& p) {
  json::array sizes;
  for (uint64_t n : p.size_timeline) sizes.push_back(n);
  return json::object{
      {"preconnected", p.preconnected},
      {"created", p.created},
      {"closed", p.closed},
      {"failed", p.failed},
      {"reused", p.reused},
      {"fresh", p.fresh},
      {"reuse_rate", p.reuse_rate()},
      {"health_checks_passed", p.health_checks_passed},
      {"health_checks_failed", p.health_checks_failed},
      {"peak_size", p.peak_size},
      {"final_size", p.final_size},
      {"max", p.max},
      {"size_timeline", std::move(sizes)},
  };
}

}  // namespace

json::value to_json(const RunRecord& r) {
  const auto& st = r.stats;
  const auto& c = st.counters;
  json::object errors;
  for (size_t i = 0; i < c.errors.size(); ++i)
    errors[load::to_string(static_cast<load::ErrorClass>(i))] = c.errors[i];
  json::object codes;
  for (const auto& [code, n] : st.status_codes) codes[std::to_string(code)] = n;
  const double cpu = st.client_cpu_seconds;
  json::object summary{
      {"requests", c.requests},
      {"ok", c.ok},
      {"errors", c.error_total()},
      {"error_rate", c.requests ? static_cast<double>(c.error_total()) / static_cast<double>(c.requests) : 0.0},
      {"errors_by_class", std::move(errors)},
      {"status_codes", std::move(codes)},
      {"late", c.late},
      {"unfinished", c.unfinished},
      {"rps", st.rps()},
      {"measured_seconds", std::chrono::duration<double>(st.measured).count()},
      {"bytes_in", c.bytes_in},
      {"bytes_out", c.bytes_out},
      {"connections_opened", c.connections_opened},
      {"connection_reuse_rate", st.connection_reuse_rate()},
      {"client_cpu_seconds", cpu},
      {"requests_per_client_cpu_second", cpu > 0 ? static_cast<double>(c.requests) / cpu : 0.0},
      {"client_peak_rss_kb", st.client_peak_rss_kb},
      {"latency_us", latency_json(st.latency)},
      {"uncorrected_latency_us", latency_json(st.uncorrected)},
  };
  json::object histograms{{"unit", "us"}, {"latency", st.latency.encode()}, {"uncorrected", st.uncorrected.encode()}};
  if (st.generate.enabled) {
    summary["generate"] = generate_summary_json(st);
    add_generate_histograms(st.generate, histograms);
  }
  json::array mix;
  for (const auto& m : st.mix) mix.push_back({{"name", m.name}, {"requests", m.requests}, {"errors", m.errors}});
  json::array timeline;
  for (const auto& t : st.timeline)
    timeline.push_back({{"second", t.second},
                        {"requests", t.requests},
                        {"errors", t.errors},
                        {"p50_us", t.p50_us},
                        {"p99_us", t.p99_us},
                        {"max_us", t.max_us}});
  json::object metrics;
  for (const auto& [k, v] : r.server.metrics_delta) metrics[k] = v;
  json::array overrides;
  for (const auto& o : r.overrides) overrides.push_back(json::string(o));
  json::array warnings;
  for (const auto& w : r.warnings) warnings.push_back(json::string(w));
  json::array inert;
  for (const auto& t : r.inert_toggles) inert.push_back({{"toggle", t.toggle}, {"reason", t.reason}});
  json::array checks;
  for (const auto& check : r.threshold_results)
    checks.push_back({{"name", check.name}, {"pass", check.pass}, {"measured", check.measured},
                      {"value", check.value}, {"limit", check.limit}, {"message", check.message}});
  const auto& e = r.environment;
  return json::object{
      {"servelab_result", RunRecord::kFormatVersion},
      {"partial", st.partial},
      {"scenario", scenario_json(r.scenario)},
      {"overrides", std::move(overrides)},
      {"environment",
       {{"host", e.host},
        {"cores", e.cores},
        {"cpu_model", e.cpu_model},
        {"kernel", e.kernel},
        {"compiler", e.compiler},
        {"servelab_version", e.servelab_version},
        {"git_commit", e.git_commit},
        {"libcurl", e.libcurl_version},
        {"started_at", e.started_at}}},
      {"run", {{"threads", st.threads}, {"connections", st.connections}, {"engine", st.engine}}},
      {"server",
       {{"embedded", r.server.embedded},
        {"url", r.server.url},
        {"exit", r.server.exit},
        {"exit_clean", r.server.exit_clean},
        {"metrics_delta", std::move(metrics)}}},
      {"summary", std::move(summary)},
      {"mix", std::move(mix)},
      {"histograms", std::move(histograms)},
      {"timeline", std::move(timeline)},
      {"pool", pool_json(st.pool)},
      {"warnings", std::move(warnings)},
      {"inert_toggles", std::move(inert)},
      {"thresholds_evaluated", std::move(checks)},
  };
}

namespace {

void pretty(std::ostream& os, const json::value& v, int indent) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<size_t>(indent + 1) * 2, ' ');
  if (const auto* o = v.if_object()) {
    if (o->empty()) { os << "{}"; return; }
    os << "{\n";
    bool first = true;
    for (const auto& kv : *o) {
      if (!first) os << ",\n";
      first = false;
      os << inner << json::serialize(json::string(kv.key())) << ": ";
      pretty(os, kv.value(), indent + 1);
    }
    os << "\n" << pad << "}";
  } else if (const auto* a = v.if_array()) {
    if (a->empty()) { os << "[]"; return; }
    // Arrays of scalars stay on one line; arrays of objects get one per line.
    const bool nested = a->front().is_object() || a->front().is_array();
    os << (nested ? "[\n" : "[");
    for (size_t i = 0; i < a->size(); ++i) {
      if (i) os << (nested ? ",\n" : ", ");
      if (nested) os << inner;
      pretty(os, (*a)[i], indent + 1);
    }
    if (nested) os << "\n" << pad;
    os << "]";
  } else {
    os << json::serialize(v);
  }
}

template <class T>
Result<T> field(const json::object& o, std::string_view key, std::string_view where) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return make_error(fmt::format("result: missing {}.{}", where, key));
  boost::system::error_code ec;
  auto out = json::try_value_to<T>(*v);
  if (!out) return make_error(fmt::format("result: {}.{} has the wrong type", where, key));
  return *out;
}

std::vector<std::string> strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* a = o.if_contains(key); a && a->is_array())
    for (const auto& v : a->as_array())
      if (v.is_string()) out.emplace_back(v.as_string());
  return out;
}

// Everything of the scenario echo beyond name/target/toggles, so that a
// report, compare or gate needs the result file alone. Fields absent from
// older files keep their defaults.
Status parse_scenario_details(const json::object& so, scenario::Scenario& s) {
  if (auto v = field<std::string>(so, "description", "scenario")) s.description = *v;
  if (auto v = field<std::string>(so, "source", "scenario")) s.source = *v;
  s.thresholds = strings(so, "thresholds");
  if (const auto* lv = so.if_contains("load"); lv && lv->is_object()) {
    const auto& lo = lv->as_object();
    auto& l = s.load;
    if (auto v = field<std::string>(lo, "mode", "scenario.load"))
      l.mode = *v == "open" ? scenario::LoadMode::open : scenario::LoadMode::closed;
    if (auto v = field<std::string>(lo, "arrival", "scenario.load"))
      l.arrival = *v == "poisson" ? scenario::Arrival::poisson : scenario::Arrival::constant;
    if (auto v = field<std::string>(lo, "engine", "scenario.load"))
      l.engine = *v == "curl" ? scenario::EngineKind::curl
                 : *v == "native" ? scenario::EngineKind::native : scenario::EngineKind::auto_;
    if (auto v = field<int>(lo, "connections", "scenario.load")) l.connections = *v;
    if (auto v = field<int>(lo, "threads", "scenario.load")) l.threads = *v;
    if (auto v = field<double>(lo, "rate", "scenario.load")) l.rate = *v;
    for (auto [key, dst] : {std::pair{"duration", &l.duration}, {"warmup", &l.warmup},
                            {"timeout", &l.timeout}, {"think_time", &l.think_time}}) {
      auto text = field<std::string>(lo, key, "scenario.load");
      if (!text) continue;
      auto d = parse_duration(*text);
      if (!d) return make_error(fmt::format("result: scenario.load.{}: {}", key, d.error().message));
      *dst = *d;
    }
    if (const auto* st = lo.if_contains("stages"); st && st->is_array()) {
      for (const auto& e : st->as_array()) {
        if (!e.is_object()) return make_error("result: scenario.load.stages entry is not an object");
        scenario::Stage stage;
        if (auto t = field<std::string>(e.as_object(), "duration", "scenario.load.stages[]")) {
          auto d = parse_duration(*t);
          if (!d) return make_error("result: scenario.load.stages[].duration: " + d.error().message);
          stage.duration = *d;
        }
        if (auto v = field<double>(e.as_object(), "rate", "scenario.load.stages[]")) stage.rate = *v;
        if (auto v = field<int>(e.as_object(), "connections", "scenario.load.stages[]")) stage.connections = *v;
        l.stages.push_back(stage);
      }
    }
  }
  if (const auto* rv = so.if_contains("requests"); rv && rv->is_array()) {
    for (const auto& e : rv->as_array()) {
      if (!e.is_object()) return make_error("result: scenario.requests entry is not an object");
      const auto& ro = e.as_object();
      scenario::RequestSpec q;
      if (auto v = field<std::string>(ro, "kind", "scenario.requests[]"))
        q.kind = *v == "infer"      ? scenario::RequestKind::infer
                 : *v == "generate" ? scenario::RequestKind::generate
                                    : scenario::RequestKind::http;
      if (auto v = field<std::string>(ro, "name", "scenario.requests[]")) q.name = *v;
      if (auto v = field<double>(ro, "weight", "scenario.requests[]")) q.weight = *v;
      if (auto v = field<std::string>(ro, "method", "scenario.requests[]")) q.method = *v;
      if (auto v = field<std::string>(ro, "url", "scenario.requests[]")) q.url = *v;
      if (auto v = field<std::string>(ro, "model", "scenario.requests[]")) q.model = *v;
      if (auto v = field<int>(ro, "rows", "scenario.requests[]")) q.rows = *v;
      if (auto v = field<uint64_t>(ro, "seed", "scenario.requests[]")) q.seed = *v;
      if (const auto* ms = ro.if_contains("models"); ms && ms->is_array()) {
        for (const auto& m : ms->as_array())
          if (m.is_string()) q.models.emplace_back(m.as_string());
        if (auto v = field<std::string>(ro, "distribution", "scenario.requests[]")) {
          q.distribution = *v == "zipf"      ? scenario::Distribution::zipf
                           : *v == "weights" ? scenario::Distribution::weights
                                             : scenario::Distribution::uniform;
        }
        if (auto v = field<double>(ro, "zipf_exponent", "scenario.requests[]")) q.zipf_exponent = *v;
        if (auto v = field<std::vector<double>>(ro, "weights", "scenario.requests[]")) q.model_weights = *v;
      }
      if (const auto* h = ro.if_contains("headers"); h && h->is_object())
        for (const auto& kv : h->as_object())
          if (kv.value().is_string())
            q.headers.push_back({std::string(kv.key()), std::string(kv.value().as_string())});
      if (q.kind == scenario::RequestKind::generate) parse_generate_request(ro, q);
      s.requests.push_back(std::move(q));
    }
  }
  if (const auto* sv = so.if_contains("server"); sv && sv->is_object()) {
    const auto& o = sv->as_object();
    if (auto v = field<int>(o, "threads", "scenario.server")) s.server.threads = *v;
    if (auto v = field<std::string>(o, "model_repository", "scenario.server")) s.server.model_repository = *v;
    if (auto v = field<int>(o, "model_count", "scenario.server")) s.server.model_count = *v;
    if (auto v = field<uint64_t>(o, "model_seed", "scenario.server")) s.server.model_seed = *v;
    if (auto v = field<std::vector<int>>(o, "dims", "scenario.server")) s.server.dims = *v;
    if (auto v = field<uint64_t>(o, "model_memory_budget", "scenario.server")) s.server.model_memory_budget = *v;
    if (auto v = field<int>(o, "max_concurrent_loads", "scenario.server")) s.server.max_concurrent_loads = *v;
    if (auto v = field<bool>(o, "prediction", "scenario.server")) s.server.prediction = *v;
    if (auto v = field<std::string>(o, "load_wait_timeout", "scenario.server"))
      if (auto d = parse_duration(*v)) s.server.load_wait_timeout = *d;
  }
  // [pool], [tls], [http]: absent from results written before they existed.
  if (const auto* pv = so.if_contains("pool"); pv && pv->is_object()) {
    const auto& o = pv->as_object();
    if (auto v = field<int>(o, "min", "scenario.pool")) s.pool.min = *v;
    if (auto v = field<int>(o, "max", "scenario.pool")) s.pool.max = *v;
    if (auto v = field<std::string>(o, "health_check_path", "scenario.pool")) s.pool.health_check_path = *v;
    for (auto [key, dst] : {std::pair{"idle_timeout", &s.pool.idle_timeout}, {"max_age", &s.pool.max_age},
                            {"health_check_interval", &s.pool.health_check_interval}}) {
      auto text = field<std::string>(o, key, "scenario.pool");
      if (!text) continue;
      auto d = parse_duration(*text);
      if (!d) return make_error(fmt::format("result: scenario.pool.{}: {}", key, d.error().message));
      *dst = *d;
    }
  }
  if (const auto* tv = so.if_contains("tls"); tv && tv->is_object()) {
    if (auto v = field<bool>(tv->as_object(), "insecure", "scenario.tls")) s.tls.insecure = *v;
    if (auto v = field<std::string>(tv->as_object(), "ca_file", "scenario.tls")) s.tls.ca_file = *v;
  }
  if (const auto* hv = so.if_contains("http"); hv && hv->is_object()) {
    if (auto v = field<bool>(hv->as_object(), "http2", "scenario.http")) s.http.http2 = *v;
    if (auto v = field<int>(hv->as_object(), "streams_per_connection", "scenario.http"))
      s.http.streams_per_connection = *v;
  }
  return Ok{};
}

// Environment, server, overrides, warnings, inert toggles and evaluated thresholds.
Status parse_context(const json::object& root, RunRecord& r) {
  r.overrides = strings(root, "overrides");
  r.warnings = strings(root, "warnings");
  if (const auto* ev = root.if_contains("environment"); ev && ev->is_object()) {
    const auto& o = ev->as_object();
    auto& e = r.environment;
    for (auto [key, dst] : {std::pair{"host", &e.host}, {"cpu_model", &e.cpu_model}, {"kernel", &e.kernel},
                            {"compiler", &e.compiler}, {"servelab_version", &e.servelab_version},
                            {"git_commit", &e.git_commit}, {"libcurl", &e.libcurl_version},
                            {"started_at", &e.started_at}})
      if (auto v = field<std::string>(o, key, "environment")) *dst = *v;
    if (auto v = field<int>(o, "cores", "environment")) e.cores = *v;
  }
  if (const auto* sv = root.if_contains("server"); sv && sv->is_object()) {
    const auto& o = sv->as_object();
    if (auto v = field<bool>(o, "embedded", "server")) r.server.embedded = *v;
    if (auto v = field<std::string>(o, "url", "server")) r.server.url = *v;
    if (auto v = field<std::string>(o, "exit", "server")) r.server.exit = *v;
    if (auto v = field<bool>(o, "exit_clean", "server")) r.server.exit_clean = *v;
    if (const auto* m = o.if_contains("metrics_delta"); m && m->is_object())
      for (const auto& kv : m->as_object())
        if (auto d = json::try_value_to<double>(kv.value())) r.server.metrics_delta[std::string(kv.key())] = *d;
  }
  if (const auto* iv = root.if_contains("inert_toggles"); iv && iv->is_array()) {
    for (const auto& e : iv->as_array()) {
      if (!e.is_object()) continue;
      InertToggle t;
      if (auto v = field<std::string>(e.as_object(), "toggle", "inert_toggles[]")) t.toggle = *v;
      if (auto v = field<std::string>(e.as_object(), "reason", "inert_toggles[]")) t.reason = *v;
      r.inert_toggles.push_back(std::move(t));
    }
  }
  if (const auto* cv = root.if_contains("thresholds_evaluated"); cv && cv->is_array()) {
    for (const auto& e : cv->as_array()) {
      if (!e.is_object()) continue;
      const auto& o = e.as_object();
      CheckResult c;
      if (auto v = field<std::string>(o, "name", "thresholds_evaluated[]")) c.name = *v;
      if (auto v = field<bool>(o, "pass", "thresholds_evaluated[]")) c.pass = *v;
      if (auto v = field<bool>(o, "measured", "thresholds_evaluated[]")) c.measured = *v;
      if (auto v = field<double>(o, "value", "thresholds_evaluated[]")) c.value = *v;
      if (auto v = field<double>(o, "limit", "thresholds_evaluated[]")) c.limit = *v;
      if (auto v = field<std::string>(o, "message", "thresholds_evaluated[]")) c.message = *v;
      r.threshold_results.push_back(std::move(c));
    }
  }
  return Ok{};
}

}  // namespace

std::string to_json_text(const RunRecord& record) {
  std::ostringstream os;
  pretty(os, to_json(record), 0);
  os << "\n";
  return os.str();
}

Result<RunRecord> parse_result_json(const std::string& text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return make_error("result: not JSON: " + ec.message());
  const auto* root = doc.if_object();
  if (root == nullptr) return make_error("result: top level is not an object");
  auto version = field<int>(*root, "servelab_result", "");
  if (!version) return version.error();
  if (*version != RunRecord::kFormatVersion)
    return make_error(fmt::format("result: format version {} (this servelab reads {})", *version,
                                  RunRecord::kFormatVersion));
  RunRecord r;
  auto partial = field<bool>(*root, "partial", "");
  if (!partial) return partial.error();
  r.stats.partial = *partial;

  const auto* scen = root->if_contains("scenario");
  if (scen == nullptr || !scen->is_object()) return make_error("result: missing scenario");
  auto name = field<std::string>(scen->as_object(), "name", "scenario");
  if (!name) return name.error();
  r.scenario.name = *name;
  if (auto t = field<std::string>(scen->as_object(), "target", "scenario")) r.scenario.target = *t;
  if (const auto* tg = scen->as_object().if_contains("toggles"); tg && tg->is_object()) {
    const auto& to = tg->as_object();
    auto flag = [&](const char* k, bool& out) {
      if (auto b = field<bool>(to, k, "scenario.toggles")) out = *b;
    };
    flag("pooling", r.scenario.toggles.pooling);
    flag("batching", r.scenario.toggles.batching);
    flag("streaming", r.scenario.toggles.streaming);
    flag("async_loading", r.scenario.toggles.async_loading);
  }

  if (auto st = parse_scenario_details(scen->as_object(), r.scenario); !st) return st.error();
  if (auto st = parse_context(*root, r); !st) return st.error();

  const auto* sum = root->if_contains("summary");
  if (sum == nullptr || !sum->is_object()) return make_error("result: missing summary");
  const auto& so = sum->as_object();
  auto& c = r.stats.counters;
  for (auto [key, dst] : {std::pair{"requests", &c.requests}, {"ok", &c.ok}, {"late", &c.late},
                          {"unfinished", &c.unfinished}, {"bytes_in", &c.bytes_in},
                          {"bytes_out", &c.bytes_out}, {"connections_opened", &c.connections_opened}}) {
    auto v = field<uint64_t>(so, key, "summary");
    if (!v) return v.error();
    *dst = *v;
  }
  if (const auto* ebc = so.if_contains("errors_by_class"); ebc && ebc->is_object()) {
    for (size_t i = 0; i < c.errors.size(); ++i) {
      auto v = field<uint64_t>(ebc->as_object(), load::to_string(static_cast<load::ErrorClass>(i)),
                               "summary.errors_by_class");
      if (!v) return v.error();
      c.errors[i] = *v;
    }
  }
  auto secs = field<double>(so, "measured_seconds", "summary");
  if (!secs) return secs.error();
  r.stats.measured = std::chrono::microseconds(static_cast<int64_t>(*secs * 1e6));
  if (auto cpu = field<double>(so, "client_cpu_seconds", "summary")) r.stats.client_cpu_seconds = *cpu;
  if (const auto* codes = so.if_contains("status_codes"); codes && codes->is_object()) {
    for (const auto& kv : codes->as_object()) {
      auto n = json::try_value_to<uint64_t>(kv.value());
      if (!n) return make_error("result: summary.status_codes has a non-integer count");
      r.stats.status_codes[std::atoi(std::string(kv.key()).c_str())] = *n;
    }
  }
  if (const auto* mix = root->if_contains("mix"); mix && mix->is_array()) {
    for (const auto& m : mix->as_array()) {
      if (!m.is_object()) return make_error("result: mix entry is not an object");
      load::RequestMixStats ms;
      if (auto v = field<std::string>(m.as_object(), "name", "mix[]")) ms.name = *v;
      if (auto v = field<uint64_t>(m.as_object(), "requests", "mix[]")) ms.requests = *v;
      if (auto v = field<uint64_t>(m.as_object(), "errors", "mix[]")) ms.errors = *v;
      r.stats.mix.push_back(std::move(ms));
    }
  }

  const auto* hist = root->if_contains("histograms");
  if (hist == nullptr || !hist->is_object()) return make_error("result: missing histograms");
  for (auto [key, dst] : {std::pair{"latency", &r.stats.latency}, {"uncorrected", &r.stats.uncorrected}}) {
    auto enc = field<std::string>(hist->as_object(), key, "histograms");
    if (!enc) return enc.error();
    auto h = measure::Histogram::decode(*enc);
    if (!h) return make_error(fmt::format("result: histograms.{}: {}", key, h.error().message));
    *dst = std::move(*h);
  }
  if (const auto* tl = root->if_contains("timeline"); tl && tl->is_array()) {
    for (const auto& p : tl->as_array()) {
      if (!p.is_object()) return make_error("result: timeline entry is not an object");
      const auto& po = p.as_object();
      load::TimelinePoint t;
      auto second = field<double>(po, "second", "timeline[]");
      if (!second) return second.error();
      t.second = *second;
      if (auto v = field<uint64_t>(po, "requests", "timeline[]")) t.requests = *v;
      if (auto v = field<uint64_t>(po, "errors", "timeline[]")) t.errors = *v;
      if (auto v = field<int64_t>(po, "p50_us", "timeline[]")) t.p50_us = *v;
      if (auto v = field<int64_t>(po, "p99_us", "timeline[]")) t.p99_us = *v;
      if (auto v = field<int64_t>(po, "max_us", "timeline[]")) t.max_us = *v;
      r.stats.timeline.push_back(t);
    }
  }
  if (auto rss = field<uint64_t>(so, "client_peak_rss_kb", "summary")) r.stats.client_peak_rss_kb = *rss;
  // "pool" is absent from results written before the pool existed.
  if (const auto* pv = root->if_contains("pool"); pv && pv->is_object()) {
    const auto& po = pv->as_object();
    auto& p = r.stats.pool;
    for (auto [key, dst] : {std::pair{"preconnected", &p.preconnected}, {"created", &p.created},
                            {"closed", &p.closed}, {"failed", &p.failed}, {"reused", &p.reused},
                            {"fresh", &p.fresh}, {"health_checks_passed", &p.health_checks_passed},
                            {"health_checks_failed", &p.health_checks_failed},
                            {"peak_size", &p.peak_size}, {"final_size", &p.final_size}, {"max", &p.max}}) {
      auto v = field<uint64_t>(po, key, "pool");
      if (!v) return v.error();
      *dst = *v;
    }
    if (const auto* tl = po.if_contains("size_timeline"); tl && tl->is_array()) {
      for (const auto& n : tl->as_array()) {
        auto v = json::try_value_to<uint64_t>(n);
        if (!v) return make_error("result: pool.size_timeline holds a non-integer");
        p.size_timeline.push_back(*v);
      }
    }
  }
  if (auto st = parse_generate(*root, r.stats); !st) return st.error();
  if (const auto* run = root->if_contains("run"); run && run->is_object()) {
    if (auto v = field<int>(run->as_object(), "threads", "run")) r.stats.threads = *v;
    if (auto v = field<int>(run->as_object(), "connections", "run")) r.stats.connections = *v;
    if (const auto* e = run->as_object().if_contains("engine"); e && e->is_string())
      r.stats.engine = std::string(e->as_string());
  }
  return r;
}

Result<RunRecord> read_result_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto r = parse_result_json(ss.str());
  if (!r) return make_error(path + ": " + r.error().message);
  return r;
}

}  // namespace servelab::report
