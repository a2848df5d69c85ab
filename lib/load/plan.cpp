#include "load/plan.h"

#include <fmt/format.h>
#include <strings.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "load/arrivals.h"  // splitmix64

namespace servelab::load {
namespace {

namespace json = boost::json;

bool is_absolute(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

std::string resolve(const std::string& base, const std::string& url) {
  if (is_absolute(url)) return url;
  if (url.empty()) return base + "/";
  if (url.front() == '/') return base + url;
  return base + "/" + url;
}

// The input of `model`, or an error naming it.
Result<const ModelInput*> input_of(const ModelInputs& inputs, const std::string& model) {
  const auto it = inputs.find(model);
  if (it == inputs.end())
    return make_error(fmt::format("model '{}': its input is unknown (no metadata)", model));
  return &it->second;
}

// {"inputs":[{"name":...,"shape":[rows,width],"datatype":"FP32","data":[...]}]}
// Values are multiples of 1/64 in [-2, 2): exact in FP32 and short in JSON.
std::string infer_body(const ModelInput& in, int rows, uint64_t seed) {
  uint64_t state = seed;
  json::array data;
  const int64_t n = static_cast<int64_t>(rows) * in.width;
  data.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<int64_t>(splitmix64(state) % 256) - 128;
    data.emplace_back(static_cast<double>(k) / 64.0);
  }
  json::object tensor;
  tensor["name"] = in.name;
  tensor["shape"] = json::array{rows, in.width};
  tensor["datatype"] = "FP32";
  tensor["data"] = std::move(data);
  json::object body;
  body["inputs"] = json::array{std::move(tensor)};
  return json::serialize(body);
}

bool has_content_type(const std::vector<std::string>& headers) {
  for (const std::string& h : headers)
    if (h.size() > 13 && strncasecmp(h.data(), "content-type:", 13) == 0) return true;
  return false;
}

}  // namespace

std::string generate_body(const scenario::RequestSpec& spec, const std::string& prompt) {
  json::object body;
  body["model"] = spec.model;
  body["prompt"] = prompt;
  body["max_tokens"] = spec.max_tokens;
  body["stream"] = spec.stream;
  body["temperature"] = spec.temperature;
  if (spec.send_seed) body["seed"] = spec.seed;
  if (!spec.extra_body.empty()) {
    // Written by toml++ from a TOML table when the scenario was parsed.
    json::error_code ec;
    json::value extra = json::parse(spec.extra_body, ec);
    if (!ec && extra.is_object())
      for (const auto& kv : extra.as_object()) body[kv.key()] = kv.value();
  }
  return json::serialize(body);
}

Result<std::vector<double>> spread_weights(const scenario::RequestSpec& spec) {
  const size_t n = spec.models.size();
  if (n == 0) return make_error("request spreads over no models");
  std::vector<double> w(n, 1.0);
  switch (spec.distribution) {
    case scenario::Distribution::uniform:
      break;
    case scenario::Distribution::zipf:
      if (!(spec.zipf_exponent >= 0)) return make_error("zipf_exponent must be >= 0");
      for (size_t i = 0; i < n; ++i)
        w[i] = 1.0 / std::pow(static_cast<double>(i + 1), spec.zipf_exponent);
      break;
    case scenario::Distribution::weights:
      if (spec.model_weights.size() != n) {
        return make_error(fmt::format("{} weights for {} models", spec.model_weights.size(), n));
      }
      w = spec.model_weights;
      break;
  }
  double total = 0;
  for (double x : w) {
    if (!(x >= 0) || !std::isfinite(x)) return make_error("weights must be finite numbers >= 0");
    total += x;
  }
  if (!(total > 0)) return make_error("at least one weight must be > 0");
  for (double& x : w) x /= total;
  return w;
}

size_t pick_request(const std::vector<double>& cumulative_weights, double u) noexcept {
  const auto it = std::upper_bound(cumulative_weights.begin(), cumulative_weights.end(), u);
  if (it == cumulative_weights.end()) return cumulative_weights.size() - 1;
  return static_cast<size_t>(it - cumulative_weights.begin());
}

std::vector<std::string> models_needing_input(const scenario::Scenario& s) {
  std::vector<std::string> out;
  for (const scenario::RequestSpec& spec : s.requests) {
    if (spec.kind != scenario::RequestKind::infer) continue;
    const std::string& model = spec.models.empty() ? spec.model : spec.models.front();
    if (!model.empty() && std::find(out.begin(), out.end(), model) == out.end())
      out.push_back(model);
  }
  return out;
}

Result<Plan> make_plan(const scenario::Scenario& s, const std::string& base_url,
                       const ModelInputs& inputs) {
  if (s.requests.empty()) return make_error("scenario has no [[requests]]");
  Plan plan;
  plan.load = s.load;
  plan.toggles = s.toggles;
  plan.pool = s.pool;
  plan.tls = s.tls;
  plan.http = s.http;
  plan.base_url = base_url;
  while (!plan.base_url.empty() && plan.base_url.back() == '/') plan.base_url.pop_back();

  double total = 0;
  auto add = [&](PreparedRequest r) {
    total += r.weight;
    plan.cumulative_weights.push_back(total);
    plan.requests.push_back(std::move(r));
  };
  for (const scenario::RequestSpec& spec : s.requests) {
    if (!(spec.weight > 0)) {
      return make_error(fmt::format("request '{}': weight must be > 0", spec.name));
    }
    PreparedRequest r;
    r.weight = spec.weight;
    for (const scenario::Header& h : spec.headers) r.headers.push_back(h.name + ": " + h.value);
    switch (spec.kind) {
      case scenario::RequestKind::http:
        r.name = spec.name.empty() ? "http " + spec.url : spec.name;
        r.method = spec.method.empty() ? "GET" : spec.method;
        r.url = resolve(plan.base_url, spec.url);
        r.body = spec.body;
        break;
      case scenario::RequestKind::generate:
        r.name = spec.name.empty() ? "generate " + spec.model : spec.name;
        r.method = "POST";
        r.url = resolve(plan.base_url, spec.url);
        if (!has_content_type(r.headers))
          r.headers.insert(r.headers.begin(), "Content-Type: application/json");
        r.generate = true;
        r.max_tokens = spec.max_tokens;
        for (const std::string& prompt : spec.prompts)
          r.bodies.push_back(generate_body(spec, prompt));
        if (r.bodies.empty()) r.bodies.push_back(generate_body(spec, ""));
        r.body = r.bodies.front();
        break;
      case scenario::RequestKind::infer: {
        if (!spec.models.empty()) {
          // Spread over several models: one prepared request per model with
          // its share of the weight, so the mix stats count each model. The
          // input width comes from the first model (only that one is asked
          // for its metadata, so only it is loaded before the run); a model
          // that takes another input answers 400, counted as errors.
          if (spec.rows < 1)
            return make_error(fmt::format("infer request '{}': rows must be >= 1", spec.name));
          auto shares = spread_weights(spec);
          if (!shares)
            return make_error(
                fmt::format("infer request '{}': {}", spec.name, shares.error().message));
          auto in = input_of(inputs, spec.models.front());
          if (!in) return in.error();
          const std::string body = infer_body(**in, spec.rows, spec.seed);
          for (size_t i = 0; i < spec.models.size(); ++i) {
            if ((*shares)[i] <= 0) continue;  // weight 0: never sent
            PreparedRequest m = r;
            m.name = fmt::format("{} {}", spec.name.empty() ? "infer" : spec.name, spec.models[i]);
            m.weight = spec.weight * (*shares)[i];
            m.method = "POST";
            m.url = fmt::format("{}/v2/models/{}/infer", plan.base_url, spec.models[i]);
            m.headers.insert(m.headers.begin(), "Content-Type: application/json");
            m.body = body;
            add(std::move(m));
          }
          continue;
        }
        if (spec.model.empty()) return make_error("infer request needs a model");
        if (spec.rows < 1)
          return make_error(fmt::format("infer request '{}': rows must be >= 1", spec.model));
        r.name = spec.name.empty() ? "infer " + spec.model : spec.name;
        auto in = input_of(inputs, spec.model);
        if (!in) return in.error();
        r.method = "POST";
        r.url = fmt::format("{}/v2/models/{}/infer", plan.base_url, spec.model);
        r.headers.insert(r.headers.begin(), "Content-Type: application/json");
        r.body = infer_body(**in, spec.rows, spec.seed);
        break;
      }
    }
    add(std::move(r));
  }
  for (double& w : plan.cumulative_weights) w /= total;
  plan.cumulative_weights.back() = 1.0;  // no rounding gap at the top
  return plan;
}

}  // namespace servelab::load
