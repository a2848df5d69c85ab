#include "report/generate_json.h"

#include <algorithm>
#include <strings.h>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace servelab::report {
namespace json = boost::json;
namespace {

// Percentiles capped at the exact max (as metrics_of does).
json::object percentiles(const measure::Histogram& h) {
  const int64_t mx = h.max();
  auto p = [&](double q) { return std::min(mx, h.value_at_percentile(q)); };
  return {{"count", h.count()}, {"min", h.min()},  {"mean", h.mean()},   {"p50", p(50)},
          {"p90", p(90)},       {"p99", p(99)},   {"p99_9", p(99.9)},   {"max", mx}};
}

constexpr std::pair<const char*, measure::Histogram load::GenerateStats::*> kHistograms[] = {
    {"ttft", &load::GenerateStats::ttft},
    {"itl", &load::GenerateStats::itl},
    {"tpot", &load::GenerateStats::tpot},
    {"output_tokens", &load::GenerateStats::tokens}};

}  // namespace

bool is_secret_header(std::string_view name) {
  for (std::string_view secret : {"authorization", "proxy-authorization", "x-api-key", "api-key"})
    if (name.size() == secret.size() && strncasecmp(name.data(), secret.data(), name.size()) == 0) return true;
  return false;
}

void generate_request_json(const scenario::RequestSpec& r, json::object& o) {
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

void parse_generate_request(const json::object& o, scenario::RequestSpec& r) {
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

json::object generate_summary_json(const load::RunStats& st) {
  const load::GenerateStats& g = st.generate;
  json::object issues;
  for (size_t i = 0; i < g.issues.size(); ++i) issues[load::to_string(static_cast<load::GenerateIssue>(i))] = g.issues[i];
  json::object o{{"requests", g.requests},
                 {"streamed", g.streamed},
                 {"output_tokens", g.output_tokens},
                 {"tokens_per_second", g.tokens_per_second(st.measured)},
                 {"issues", std::move(issues)}};
  o["ttft_us"] = percentiles(g.ttft);
  o["itl_us"] = percentiles(g.itl);
  o["tpot_us"] = percentiles(g.tpot);
  o["output_tokens_per_request"] = percentiles(g.tokens);
  return o;
}

void add_generate_histograms(const load::GenerateStats& g, json::object& histograms) {
  for (const auto& [key, member] : kHistograms) histograms[key] = (g.*member).encode();
}

Status parse_generate(const json::object& root, load::RunStats& st) {
  const json::value* sum = root.if_contains("summary");
  const json::value* gv = sum && sum->is_object() ? sum->as_object().if_contains("generate") : nullptr;
  if (gv == nullptr) return Ok{};
  if (!gv->is_object()) return make_error("result: summary.generate is not an object");
  const json::object& go = gv->as_object();
  load::GenerateStats& g = st.generate;
  g.enabled = true;
  for (auto [key, dst] : {std::pair{"requests", &g.requests}, {"streamed", &g.streamed}, {"output_tokens", &g.output_tokens}}) {
    const json::value* v = go.if_contains(key);
    if (v == nullptr) return make_error(fmt::format("result: missing summary.generate.{}", key));
    auto n = json::try_value_to<uint64_t>(*v);
    if (!n) return make_error(fmt::format("result: summary.generate.{} is not a count", key));
    *dst = *n;
  }
  if (const json::value* iv = go.if_contains("issues"); iv && iv->is_object()) {
    for (size_t i = 0; i < g.issues.size(); ++i) {
      if (const json::value* v = iv->as_object().if_contains(load::to_string(static_cast<load::GenerateIssue>(i)))) {
        if (auto n = json::try_value_to<uint64_t>(*v)) g.issues[i] = *n;
      }
    }
  }
  const json::value* hv = root.if_contains("histograms");
  if (hv == nullptr || !hv->is_object()) return make_error("result: missing histograms");
  for (const auto& [key, member] : kHistograms) {
    const json::value* e = hv->as_object().if_contains(key);
    if (e == nullptr || !e->is_string()) return make_error(fmt::format("result: missing histograms.{}", key));
    auto h = measure::Histogram::decode(e->as_string());
    if (!h) return make_error(fmt::format("result: histograms.{}: {}", key, h.error().message));
    g.*member = std::move(*h);
  }
  return Ok{};
}

}  // namespace servelab::report
