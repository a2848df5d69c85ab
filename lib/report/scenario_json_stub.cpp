// TEMPORARY STUB, to be deleted when lib/scenario/scenario_json.cpp lands: the
// scenario echo of result files, moved unchanged out of report/result_json.cpp
// (and report/generate_json.cpp) so that report/ builds against
// scenario/scenario_json.h meanwhile. Same output as before the move.

#include <strings.h>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/duration.h"
#include "scenario/scenario_json.h"
#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace json = boost::json;
namespace {

bool is_secret_header(std::string_view name) {
  for (std::string_view secret : {"authorization", "proxy-authorization", "x-api-key", "api-key"})
    if (name.size() == secret.size() && strncasecmp(name.data(), secret.data(), name.size()) == 0) return true;
  return false;
}

void generate_request_json(const RequestSpec& r, json::object& o) {
  o["model"] = r.model;
  o["url"] = r.url;
  json::object headers;
  for (const auto& h : r.headers) headers[h.name] = is_secret_header(h.name) ? "<redacted>" : h.value;
  o["headers"] = std::move(headers);
  json::array prompts;
  for (const auto& p : r.prompts) prompts.push_back(json::string(p));
  o["prompts"] = std::move(prompts);
  o["max_tokens"] = r.max_tokens;
  o["stream"] = r.stream;
  o["temperature"] = r.temperature;
  if (r.send_seed) o["seed"] = r.seed;
  if (!r.extra_body.empty()) {
    json::error_code ec;
    json::value extra = json::parse(r.extra_body, ec);
    if (!ec) o["extra_body"] = std::move(extra);
  }
}

void parse_generate_request(const json::object& o, RequestSpec& r) {
  r.method = "POST";
  if (auto* v = o.if_contains("model"); v && v->is_string()) r.model = v->as_string();
  if (auto* v = o.if_contains("url"); v && v->is_string()) r.url = v->as_string();
  if (auto* v = o.if_contains("prompts"); v && v->is_array()) {
    r.prompts.clear();
    for (const auto& p : v->as_array())
      if (p.is_string()) r.prompts.emplace_back(p.as_string());
  }
  if (auto* v = o.if_contains("max_tokens")) {
    if (auto n = json::try_value_to<int>(*v)) r.max_tokens = *n;
  }
  if (auto* v = o.if_contains("stream"); v && v->is_bool()) r.stream = v->as_bool();
  if (auto* v = o.if_contains("temperature")) {
    if (auto d = json::try_value_to<double>(*v)) r.temperature = *d;
  }
  r.send_seed = false;
  if (auto* v = o.if_contains("seed")) {
    if (auto n = json::try_value_to<uint64_t>(*v)) {
      r.seed = *n;
      r.send_seed = true;
    }
  }
  if (auto* v = o.if_contains("extra_body"); v && v->is_object()) r.extra_body = json::serialize(*v);
}

json::object echo(const Scenario& s) {
  json::object load{
      {"mode", to_string(s.load.mode)},
      {"connections", s.load.connections},
      {"threads", s.load.threads},
      {"rate", s.load.rate},
      {"arrival", to_string(s.load.arrival)},
      {"engine", to_string(s.load.engine)},
      {"duration", format_duration(s.load.duration)},
      {"warmup", format_duration(s.load.warmup)},
      {"timeout", format_duration(s.load.timeout)},
      {"think_time", format_duration(s.load.think_time)},
  };
  if (!s.load.stages.empty()) {
    json::array stages;
    for (const auto& st : s.load.stages) {
      json::object o{{"duration", format_duration(st.duration)}};
      if (s.load.mode == LoadMode::open) o["rate"] = st.rate;
      else o["connections"] = st.connections;
      stages.push_back(std::move(o));
    }
    load["stages"] = std::move(stages);
  }
  json::array requests;
  for (const auto& r : s.requests) {
    json::object o{{"kind", to_string(r.kind)}, {"name", r.name}, {"weight", r.weight}};
    if (r.kind == RequestKind::http) {
      o["method"] = r.method;
      o["url"] = r.url;
      json::object headers;
      for (const auto& h : r.headers) headers[h.name] = is_secret_header(h.name) ? "<redacted>" : h.value;
      o["headers"] = std::move(headers);
      o["body_bytes"] = r.body.size();
    } else if (r.kind == RequestKind::generate) {
      generate_request_json(r, o);
    } else {
      o["model"] = r.model;
      o["rows"] = r.rows;
      o["seed"] = r.seed;
      if (!r.models.empty()) {  // spread over several models
        json::array names;
        for (const auto& m : r.models) names.push_back(json::string(m));
        o["models"] = std::move(names);
        o["distribution"] = to_string(r.distribution);
        if (r.distribution == Distribution::zipf) o["zipf_exponent"] = r.zipf_exponent;
        if (r.distribution == Distribution::weights) {
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

template <class T>
Result<T> field(const json::object& o, std::string_view key, std::string_view where) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return make_error(fmt::format("missing {}.{}", where, key));
  auto out = json::try_value_to<T>(*v);
  if (!out) return make_error(fmt::format("{}.{} has the wrong type", where, key));
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
Status parse_scenario_details(const json::object& so, Scenario& s) {
  if (auto v = field<std::string>(so, "description", "scenario")) s.description = *v;
  if (auto v = field<std::string>(so, "source", "scenario")) s.source = *v;
  s.thresholds = strings(so, "thresholds");
  if (const auto* lv = so.if_contains("load"); lv && lv->is_object()) {
    const auto& lo = lv->as_object();
    auto& l = s.load;
    if (auto v = field<std::string>(lo, "mode", "scenario.load"))
      l.mode = *v == "open" ? LoadMode::open : LoadMode::closed;
    if (auto v = field<std::string>(lo, "arrival", "scenario.load"))
      l.arrival = *v == "poisson" ? Arrival::poisson : Arrival::constant;
    if (auto v = field<std::string>(lo, "engine", "scenario.load"))
      l.engine = *v == "curl" ? EngineKind::curl
                 : *v == "native" ? EngineKind::native : EngineKind::auto_;
    if (auto v = field<int>(lo, "connections", "scenario.load")) l.connections = *v;
    if (auto v = field<int>(lo, "threads", "scenario.load")) l.threads = *v;
    if (auto v = field<double>(lo, "rate", "scenario.load")) l.rate = *v;
    for (auto [key, dst] : {std::pair{"duration", &l.duration}, {"warmup", &l.warmup},
                            {"timeout", &l.timeout}, {"think_time", &l.think_time}}) {
      auto text = field<std::string>(lo, key, "scenario.load");
      if (!text) continue;
      auto d = parse_duration(*text);
      if (!d) return make_error(fmt::format("scenario.load.{}: {}", key, d.error().message));
      *dst = *d;
    }
    if (const auto* st = lo.if_contains("stages"); st && st->is_array()) {
      for (const auto& e : st->as_array()) {
        if (!e.is_object()) return make_error("scenario.load.stages entry is not an object");
        Stage stage;
        if (auto t = field<std::string>(e.as_object(), "duration", "scenario.load.stages[]")) {
          auto d = parse_duration(*t);
          if (!d) return make_error("scenario.load.stages[].duration: " + d.error().message);
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
      if (!e.is_object()) return make_error("scenario.requests entry is not an object");
      const auto& ro = e.as_object();
      RequestSpec q;
      if (auto v = field<std::string>(ro, "kind", "scenario.requests[]"))
        q.kind = *v == "infer"      ? RequestKind::infer
                 : *v == "generate" ? RequestKind::generate
                                    : RequestKind::http;
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
          q.distribution = *v == "zipf"      ? Distribution::zipf
                           : *v == "weights" ? Distribution::weights
                                             : Distribution::uniform;
        }
        if (auto v = field<double>(ro, "zipf_exponent", "scenario.requests[]")) q.zipf_exponent = *v;
        if (auto v = field<std::vector<double>>(ro, "weights", "scenario.requests[]")) q.model_weights = *v;
      }
      if (const auto* h = ro.if_contains("headers"); h && h->is_object())
        for (const auto& kv : h->as_object())
          if (kv.value().is_string())
            q.headers.push_back({std::string(kv.key()), std::string(kv.value().as_string())});
      if (q.kind == RequestKind::generate) parse_generate_request(ro, q);
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
      if (!d) return make_error(fmt::format("scenario.pool.{}: {}", key, d.error().message));
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

}  // namespace

json::object scenario_to_json(const Scenario& s) { return echo(s); }

Result<Scenario> scenario_from_json(const json::value& v) {
  if (!v.is_object()) return make_error("missing scenario");
  const json::object& so = v.as_object();
  Scenario s;
  auto name = field<std::string>(so, "name", "scenario");
  if (!name) return name.error();
  s.name = *name;
  if (auto t = field<std::string>(so, "target", "scenario")) s.target = *t;
  if (const auto* tg = so.if_contains("toggles"); tg && tg->is_object()) {
    const auto& to = tg->as_object();
    auto flag = [&](const char* k, bool& out) {
      if (auto b = field<bool>(to, k, "scenario.toggles")) out = *b;
    };
    flag("pooling", s.toggles.pooling);
    flag("batching", s.toggles.batching);
    flag("streaming", s.toggles.streaming);
    flag("async_loading", s.toggles.async_loading);
  }
  if (auto st = parse_scenario_details(so, s); !st) return st.error();
  return s;
}

}  // namespace servelab::scenario
