#include "report/result_json.h"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

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
      {"duration", scenario::format_duration(s.load.duration)},
      {"warmup", scenario::format_duration(s.load.warmup)},
      {"timeout", scenario::format_duration(s.load.timeout)},
      {"think_time", scenario::format_duration(s.load.think_time)},
  };
  json::array requests;
  for (const auto& r : s.requests) {
    json::object o{{"kind", scenario::to_string(r.kind)}, {"name", r.name}, {"weight", r.weight}};
    if (r.kind == scenario::RequestKind::http) {
      o["method"] = r.method;
      o["url"] = r.url;
      json::object headers;
      for (const auto& h : r.headers) headers[h.name] = h.value;
      o["headers"] = std::move(headers);
      o["body_bytes"] = r.body.size();
    } else {
      o["model"] = r.model;
      o["rows"] = r.rows;
      o["seed"] = r.seed;
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
        {"model_seed", s.server.model_seed}}},
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
      {"latency_us", latency_json(st.latency)},
      {"uncorrected_latency_us", latency_json(st.uncorrected)},
  };
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
      {"run", {{"threads", st.threads}, {"connections", st.connections}}},
      {"server",
       {{"embedded", r.server.embedded},
        {"url", r.server.url},
        {"exit", r.server.exit},
        {"exit_clean", r.server.exit_clean},
        {"metrics_delta", std::move(metrics)}}},
      {"summary", std::move(summary)},
      {"mix", std::move(mix)},
      {"histograms", {{"unit", "us"}, {"latency", st.latency.encode()}, {"uncorrected", st.uncorrected.encode()}}},
      {"timeline", std::move(timeline)},
      {"warnings", std::move(warnings)},
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
  if (const auto* run = root->if_contains("run"); run && run->is_object()) {
    if (auto v = field<int>(run->as_object(), "threads", "run")) r.stats.threads = *v;
    if (auto v = field<int>(run->as_object(), "connections", "run")) r.stats.connections = *v;
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
