#include "report/result_json.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "report/json_fields.h"
#include "scenario/scenario_json.h"

namespace servelab::report {
namespace json = boost::json;
namespace {

// ---- members stored in another form --------------------------------------

// A histogram as its lossless encoding (measure/histogram.h).
struct Encoded {
  json::value write(const measure::Histogram& h) const { return json::string(h.encode()); }
  Status read(const json::value& jv, measure::Histogram& h, const std::string& path) const {
    if (!jv.is_string()) return make_error(path + " has the wrong type");
    auto decoded = measure::Histogram::decode(jv.as_string());
    if (!decoded) return make_error(fmt::format("{}: {}", path, decoded.error().message));
    h = std::move(*decoded);
    return Ok{};
  }
};

// A duration as fractional seconds.
struct Seconds {
  json::value write(std::chrono::microseconds d) const {
    return std::chrono::duration<double>(d).count();
  }
  Status read(const json::value& jv, std::chrono::microseconds& d, const std::string& path) const {
    auto secs = json::try_value_to<double>(jv);
    if (!secs) return make_error(path + " has the wrong type");
    d = std::chrono::microseconds(static_cast<int64_t>(*secs * 1e6));
    return Ok{};
  }
};

// HTTP status → count, keyed by the status as text.
struct StatusCodes {
  json::value write(const std::map<int, uint64_t>& codes) const {
    json::object o;
    for (const auto& [code, n] : codes) o[std::to_string(code)] = n;
    return o;
  }
  Status read(const json::value& jv, std::map<int, uint64_t>& codes,
              const std::string& path) const {
    if (!jv.is_object()) return make_error(path + " is not an object");
    for (const auto& kv : jv.as_object()) {
      auto n = json::try_value_to<uint64_t>(kv.value());
      if (!n) return make_error(path + " has a non-integer count");
      codes[std::atoi(std::string(kv.key()).c_str())] = *n;
    }
    return Ok{};
  }
};

// The scenario echo: the scenario's own key table (scenario/scenario_json.h).
struct ScenarioEcho {
  json::value write(const scenario::Scenario& s) const { return scenario::scenario_to_json(s); }
  Status read(const json::value& jv, scenario::Scenario& s, const std::string&) const {
    auto parsed = scenario::scenario_from_json(jv);
    if (!parsed) return parsed.error();
    s = std::move(*parsed);
    return Ok{};
  }
};

// ---- figures written for readers of the file, computed from the rest ------

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

// Percentiles capped at the exact max (as metrics_of does).
json::object capped_percentiles(const measure::Histogram& h) {
  const int64_t mx = h.max();
  auto p = [&](double q) { return std::min(mx, h.value_at_percentile(q)); };
  return {{"count", h.count()}, {"min", h.min()}, {"mean", h.mean()}, {"p50", p(50)},
          {"p90", p(90)},       {"p99", p(99)},   {"p99_9", p(99.9)}, {"max", mx}};
}

}  // namespace

// ---- the field lists -------------------------------------------------------

template <>
struct Fields<Environment> {
  template <class Io, class E>
  static void each(Io& io, E& e) {
    io("host", e.host);
    io("cores", e.cores);
    io("cpu_model", e.cpu_model);
    io("kernel", e.kernel);
    io("compiler", e.compiler);
    io("servelab_version", e.servelab_version);
    io("git_commit", e.git_commit);
    io("build", e.build_type);
    io("libcurl", e.libcurl_version);
    io("started_at", e.started_at);
  }
};

template <>
struct Fields<ServerInfo> {
  template <class Io, class S>
  static void each(Io& io, S& s) {
    io("embedded", s.embedded);
    io("url", s.url);
    io("exit", s.exit);
    io("exit_clean", s.exit_clean);
    io("metrics_delta", s.metrics_delta);
  }
};

template <>
struct Fields<InertToggle> {
  template <class Io, class T>
  static void each(Io& io, T& t) {
    io("toggle", t.toggle);
    io("reason", t.reason);
  }
};

template <>
struct Fields<CheckResult> {
  template <class Io, class C>
  static void each(Io& io, C& c) {
    io("name", c.name);
    io("pass", c.pass);
    io("measured", c.measured);
    io("value", c.value);
    io("limit", c.limit);
    io("message", c.message);
  }
};

template <>
struct Fields<load::RequestMixStats> {
  template <class Io, class M>
  static void each(Io& io, M& m) {
    io("name", m.name);
    io("requests", m.requests);
    io("errors", m.errors);
  }
};

template <>
struct Fields<load::TimelinePoint> {
  template <class Io, class T>
  static void each(Io& io, T& t) {
    io.required("second", t.second);
    io("requests", t.requests);
    io("errors", t.errors);
    io("p50_us", t.p50_us);
    io("p99_us", t.p99_us);
    io("max_us", t.max_us);
  }
};

// The connection pool's counters (docs/POOL.md, docs/RESULTS.md).
template <>
struct Fields<pool::PoolStats> {
  template <class Io, class P>
  static void each(Io& io, P& p) {
    io.required("preconnected", p.preconnected);
    io.required("created", p.created);
    io.required("closed", p.closed);
    io.required("failed", p.failed);
    io.required("reused", p.reused);
    io.required("fresh", p.fresh);
    io.derived("reuse_rate", [&] { return p.reuse_rate(); });
    io.required("health_checks_passed", p.health_checks_passed);
    io.required("health_checks_failed", p.health_checks_failed);
    io.required("peak_size", p.peak_size);
    io.required("final_size", p.final_size);
    io.required("max", p.max);
    io("size_timeline", p.size_timeline);
  }
};

// The whole file (docs/RESULTS.md). `generate` parts are written only when
// the run had generate requests, so other results are unchanged.
template <>
struct Fields<RunRecord> {
  template <class Io, class R>
  static void each(Io& io, R& r) {
    auto& st = r.stats;
    auto& c = st.counters;
    auto& g = st.generate;
    io.required("servelab_result", RunRecord::kFormatVersion,
                FormatVersion{RunRecord::kFormatVersion});
    io.required("partial", st.partial);
    io.required("scenario", r.scenario, ScenarioEcho{});
    io("overrides", r.overrides);
    io("environment", r.environment);
    io.object("run", [&](auto& run) {
      run("threads", st.threads);
      run("connections", st.connections);
      run("engine", st.engine);
    });
    io("server", r.server);
    io.required_object("summary", [&](auto& s) {
      s.required("requests", c.requests);
      s.required("ok", c.ok);
      s.derived("errors", [&] { return c.error_total(); });
      s.derived("error_rate", [&] {
        return c.requests ? static_cast<double>(c.error_total()) / static_cast<double>(c.requests)
                          : 0.0;
      });
      s.object("errors_by_class", [&](auto& e) {
        for (size_t i = 0; i < c.errors.size(); ++i)
          e.required(load::to_string(static_cast<load::ErrorClass>(i)), c.errors[i]);
      });
      s("status_codes", st.status_codes, StatusCodes{});
      s.required("late", c.late);
      s.required("unfinished", c.unfinished);
      s.derived("rps", [&] { return st.rps(); });
      s.required("measured_seconds", st.measured, Seconds{});
      s.required("bytes_in", c.bytes_in);
      s.required("bytes_out", c.bytes_out);
      s.required("connections_opened", c.connections_opened);
      s.derived("connection_reuse_rate", [&] { return st.connection_reuse_rate(); });
      s("client_cpu_seconds", st.client_cpu_seconds);
      s.derived("requests_per_client_cpu_second", [&] {
        return st.client_cpu_seconds > 0 ? static_cast<double>(c.requests) / st.client_cpu_seconds
                                         : 0.0;
      });
      s("client_peak_rss_kb", st.client_peak_rss_kb);
      s.derived("latency_us", [&] { return latency_json(st.latency); });
      s.derived("uncorrected_latency_us", [&] { return latency_json(st.uncorrected); });
      s.optional_object("generate", g.enabled, [&](auto& gs) {
        gs.required("requests", g.requests);
        gs.required("streamed", g.streamed);
        gs.required("output_tokens", g.output_tokens);
        gs.derived("tokens_per_second", [&] { return g.tokens_per_second(st.measured); });
        gs.object("issues", [&](auto& is) {
          for (size_t i = 0; i < g.issues.size(); ++i)
            is(load::to_string(static_cast<load::GenerateIssue>(i)), g.issues[i]);
        });
        gs.derived("ttft_us", [&] { return capped_percentiles(g.ttft); });
        gs.derived("itl_us", [&] { return capped_percentiles(g.itl); });
        gs.derived("tpot_us", [&] { return capped_percentiles(g.tpot); });
        gs.derived("output_tokens_per_request", [&] { return capped_percentiles(g.tokens); });
      });
    });
    io("mix", st.mix);
    // Lossless encodings, so that any percentile can be recomputed and
    // results merged later. Read after "summary": g.enabled is known here.
    io.required_object("histograms", [&](auto& h) {
      h.derived("unit", [] { return "us"; });
      h.required("latency", st.latency, Encoded{});
      h.required("uncorrected", st.uncorrected, Encoded{});
      if (g.enabled) {
        h.required("ttft", g.ttft, Encoded{});
        h.required("itl", g.itl, Encoded{});
        h.required("tpot", g.tpot, Encoded{});
        h.required("output_tokens", g.tokens, Encoded{});
      }
    });
    io("timeline", st.timeline);
    io("pool", st.pool);
    io("warnings", r.warnings);
    io("inert_toggles", r.inert_toggles);
    io("thresholds_evaluated", r.threshold_results);
  }
};

namespace {

// Two-space indentation; arrays of scalars on one line (Boost.JSON's
// serializer writes everything on one line).
void pretty(std::ostream& os, const json::value& v, int indent) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<size_t>(indent + 1) * 2, ' ');
  if (const auto* o = v.if_object()) {
    if (o->empty()) {
      os << "{}";
      return;
    }
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
    if (a->empty()) {
      os << "[]";
      return;
    }
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

}  // namespace

json::value to_json(const RunRecord& r) { return JsonWriter::to_json(r); }

std::string to_json_text(const RunRecord& record) {
  std::ostringstream os;
  pretty(os, to_json(record), 0);
  os << "\n";
  return os.str();
}

namespace {

// Boost.JSON reads a number beyond the double range (1e999) as infinity,
// which a result file can never hold (its writer would write it back as
// null): refused, so that what is read is what a writer could have written.
bool all_finite(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (const auto* a = v.if_array()) {
    for (const auto& e : *a)
      if (!all_finite(e)) return false;
  } else if (const auto* o = v.if_object()) {
    for (const auto& kv : *o)
      if (!all_finite(kv.value())) return false;
  }
  return true;
}

}  // namespace

Result<RunRecord> parse_result_json(const std::string& text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return make_error("result: not JSON: " + ec.message());
  if (!doc.is_object()) return make_error("result: top level is not an object");
  if (!all_finite(doc)) return make_error("result: a number is out of range (not finite)");
  RunRecord r;
  if (auto st = JsonReader::read_value(doc, r, ""); !st)
    return make_error("result: " + st.error().message);
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
