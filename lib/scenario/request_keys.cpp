// The key table of a [[requests]] table, beside the rules that read keys
// whose meaning depends on other keys (the infer spread over several models,
// the required model).
//
// To add a request key: add the field to RequestSpec (scenario.h) and one row
// to kRequestKeys below, with the kinds that take it (.for_kinds): a key of
// another kind is then an error, and the echo writes it only for those kinds.
// The row's place in the table is its place in result.json's request object.
// Document the key in docs/SCENARIOS.md.

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <sstream>

#include "common/headers.h"
#include "scenario/redaction.h"
#include "scenario/scenario_keys.h"

namespace servelab::scenario {
namespace {

namespace json = boost::json;

// Bounds that catch typos (an extra zero) rather than limit real use.
constexpr int kMaxRows = 4096;
constexpr int kMaxModels = 100'000;
constexpr int kMaxTokens = 1'000'000;
constexpr size_t kMaxPrompts = 100'000;
constexpr double kMaxZipfExponent = 100.0;
// Body fields a generate request writes itself: extra_body may not repeat them.
constexpr std::string_view kOwnFields[] = {"model",  "prompt",      "max_tokens",
                                           "stream", "temperature", "seed"};

constexpr uint8_t kInferOrGenerate = kInferRequests | kGenerateRequests;
constexpr uint8_t kHttpOrGenerate = kHttpRequests | kGenerateRequests;

// ---------------------------------------------------------------------------
// Readers and echo codecs of single keys.

constexpr Key<RequestSpec> kPlainKind = choice<&RequestSpec::kind, kKinds>("kind");

void kind_defaults(TableReader& /*r*/, std::string_view /*key*/, RequestSpec& request) {
  apply_kind_defaults(request);
}

Status load_kind(const json::value& v, const std::string& where, RequestSpec& request) {
  if (Status st = kPlainKind.load(v, where, request); !st) return st;
  apply_kind_defaults(request);
  return Ok{};
}

void check_url(TableReader& r, std::string_view key, RequestSpec& request) {
  if (!request.url.starts_with('/') && !is_http_url(request.url)) {
    r.error(*r.find(key), key,
            fmt::format("expected a path starting with \"/\" or an absolute http:// or https:// "
                        "URL, got \"{}\"",
                        request.url));
  }
}

void check_model(TableReader& r, std::string_view key, RequestSpec& request) {
  if (request.model.empty())
    r.error(*r.find(key), key, "expected a model name, got an empty string");
}

bool read_headers(TableReader& r, std::string_view key, RequestSpec& request) {
  const toml::table* headers = r.read_table(key);
  if (headers == nullptr) return false;
  for (auto&& [name, node] : *headers) {
    const std::string field = fmt::format("{}.{}", key, name.str());
    const auto* text = node.as_string();
    if (text == nullptr) {
      r.error(node, field, fmt::format("expected a string, got {}", describe(node)));
      continue;
    }
    // Names and values go onto the wire as written: refuse what would break
    // the request framing.
    if (name.str().empty() || name.str().find_first_of(" \t\r\n:") != std::string::npos) {
      r.error(node, field, "expected a header name without spaces or ':'");
      continue;
    }
    if (text->get().find_first_of("\r\n") != std::string::npos) {
      r.error(node, field, "expected a header value without line breaks");
      continue;
    }
    request.headers.push_back(Header{std::string(name.str()), text->get()});
  }
  return true;
}

// Credentials are not written into result files.
void write_headers(const RequestSpec& request, std::string_view key, json::object& out) {
  json::object headers;
  for (const Header& h : request.headers)
    headers[h.name] = is_secret_header(h.name) ? std::string(kRedactedHeader) : h.value;
  out[key] = std::move(headers);
}

Status load_headers(const json::value& v, const std::string& where, RequestSpec& request) {
  const json::object* headers = v.if_object();
  if (headers == nullptr) return wrong_type(where);
  for (const auto& kv : *headers) {
    const json::string* value = kv.value().if_string();
    if (value == nullptr)
      return wrong_type(fmt::format("{}.{}", where, std::string_view(kv.key())));
    request.headers.push_back(Header{std::string(kv.key()), std::string(*value)});
  }
  return Ok{};
}

// The body is not echoed, only its size.
void write_body_bytes(const RequestSpec& request, std::string_view key, json::object& out) {
  out[key] = request.body.size();
}

// prompt = "one" or prompts = ["a", "b"]; one is drawn per request.
bool read_prompt(TableReader& r, std::string_view key, RequestSpec& request) {
  if (r.find("prompts") != nullptr) return false;  // both given: reported at prompts
  std::string text;
  if (!r.read_string(key, text)) return false;
  request.prompts = {std::move(text)};
  return true;
}

bool read_prompts(TableReader& r, std::string_view key, RequestSpec& request) {
  if (r.find("prompt") != nullptr) {
    r.error(*r.find(key), key, "give either prompt (one string) or prompts (a list), not both");
    return false;
  }
  const toml::array* list = r.read_array(key);
  if (list == nullptr) return false;
  if (list->empty() || list->size() > kMaxPrompts) {
    r.error(*list, key,
            fmt::format("expected 1 to {} prompt strings, got {}", kMaxPrompts, list->size()));
    return false;
  }
  std::vector<std::string> prompts;
  bool ok = true;
  for (size_t i = 0; i < list->size(); ++i) {
    const toml::node& node = *list->get(i);
    if (const auto* text = node.as_string()) {
      prompts.push_back(text->get());
    } else {
      r.error(node, fmt::format("{}[{}]", key, i),
              fmt::format("expected a string, got {}", describe(node)));
      ok = false;
    }
  }
  if (ok) request.prompts = std::move(prompts);
  return ok;
}

// A generate request sends "seed" only when the key gives one.
bool read_seed(TableReader& r, std::string_view key, RequestSpec& request) {
  if (!r.read_integer<uint64_t>(key, request.seed)) return false;
  request.send_seed = true;
  return true;
}

Status load_seed(const json::value& v, const std::string& where, RequestSpec& request) {
  if (Status st = from_echo(v, where, request.seed); !st) return st;
  request.send_seed = true;
  return Ok{};
}

// extra_body = { ignore_eos = true, top_p = 0.9 }: any TOML table, sent as
// JSON fields of the body (toml++ writes the JSON).
bool read_extra_body(TableReader& r, std::string_view key, RequestSpec& request) {
  const toml::table* extra = r.read_table(key);
  if (extra == nullptr) return false;
  for (std::string_view own : kOwnFields) {
    if (const toml::node* node = extra->get(own)) {
      r.error(*node, fmt::format("{}.{}", key, own),
              fmt::format("is set by the request's own key `{}`; remove it from extra_body", own));
      return false;
    }
  }
  std::ostringstream text;
  text << toml::json_formatter{*extra, toml::format_flags::none};
  request.extra_body = text.str();
  return true;
}

// Echoed as the JSON object itself, not as a string holding it.
void write_extra_body(const RequestSpec& request, std::string_view key, json::object& out) {
  json::error_code ec;
  json::value extra = json::parse(request.extra_body, ec);
  if (!ec) out[key] = std::move(extra);
}

Status load_extra_body(const json::value& v, const std::string& where, RequestSpec& request) {
  if (!v.is_object()) return wrong_type(where);
  request.extra_body = json::serialize(v);
  return Ok{};
}

bool spread(const RequestSpec& r) { return !r.models.empty(); }

// ---------------------------------------------------------------------------
// The table, in result.json's order (the echo writes each kind's keys in
// table order). "kind" comes first: the other rows depend on it.

constexpr Key<RequestSpec> kRequestKeys[] = {
    kPlainKind.require(R"(one of "http", "infer", "generate")")
        .then(kind_defaults)
        .echo_with(kPlainKind.write, load_kind),
    text<&RequestSpec::name>("name"),
    number<&RequestSpec::weight, Zero::refused>("weight"),
    choice<&RequestSpec::method, kMethods>("method").for_kinds(kHttpRequests),
    text<&RequestSpec::model>("model").then(check_model).for_kinds(kInferOrGenerate),
    text<&RequestSpec::url>("url").then(check_url).for_kinds(kHttpOrGenerate),
    Key<RequestSpec>{.name = "headers",
                     .read = read_headers,
                     .write = write_headers,
                     .load = load_headers,
                     .kinds = kHttpOrGenerate},
    text<&RequestSpec::body>("body").not_echoed().for_kinds(kHttpRequests),
    Key<RequestSpec>{
        .name = "body_bytes", .in_toml = false, .write = write_body_bytes, .kinds = kHttpRequests},
    member<&RequestSpec::prompts>("prompt", read_prompt).not_echoed().for_kinds(kGenerateRequests),
    member<&RequestSpec::prompts>("prompts", read_prompts).for_kinds(kGenerateRequests),
    integer<&RequestSpec::max_tokens, 1, kMaxTokens>("max_tokens").for_kinds(kGenerateRequests),
    flag<&RequestSpec::stream>("stream").for_kinds(kGenerateRequests),
    number<&RequestSpec::temperature, Zero::allowed>("temperature").for_kinds(kGenerateRequests),
    integer<&RequestSpec::rows, 1, kMaxRows>("rows").for_kinds(kInferRequests),
    member<&RequestSpec::seed>("seed", read_seed)
        .echo_with(write_member<&RequestSpec::seed>, load_seed)
        .echo_if(
            [](const RequestSpec& r) { return r.send_seed || r.kind != RequestKind::generate; })
        .for_kinds(kInferOrGenerate),
    member<&RequestSpec::extra_body>("extra_body", read_extra_body)
        .echo_with(write_extra_body, load_extra_body)
        .echo_if([](const RequestSpec& r) { return !r.extra_body.empty(); })
        .for_kinds(kGenerateRequests),
    // An infer request spread over several models (read by read_model_spread).
    member<&RequestSpec::models>("models", nullptr)
        .by_rules()
        .echo_if(spread)
        .for_kinds(kInferRequests),
    Key<RequestSpec>{.name = "model_count", .kinds = kInferRequests},  // expanded into models
    choice<&RequestSpec::distribution, kDistributions>("distribution")
        .by_rules()
        .echo_if(spread)
        .for_kinds(kInferRequests),
    number<&RequestSpec::zipf_exponent, Zero::allowed>("zipf_exponent")
        .by_rules()
        .echo_if(
            [](const RequestSpec& r) { return spread(r) && r.distribution == Distribution::zipf; })
        .for_kinds(kInferRequests),
    member<&RequestSpec::model_weights>("weights", nullptr)
        .by_rules()
        .echo_if([](const RequestSpec& r) {
          return spread(r) && r.distribution == Distribution::weights;
        })
        .for_kinds(kInferRequests),
};

// ---------------------------------------------------------------------------
// Rules

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
        r.error(
            *node, key,
            "only applies to a request spread over several models (models = [...] or model_count)");
      }
    }
    return false;
  }
  if (const toml::node* model = r.find("model")) {
    r.error(*model, "model",
            fmt::format("give either model or {}, not both",
                        models != nullptr ? "models" : "model_count"));
  }
  if (const toml::array* list = r.read_array("models")) {
    if (list->empty())
      r.error(*list, "models", "expected at least one model name, got an empty array");
    for (size_t i = 0; i < list->size(); ++i) {
      const toml::node& node = *list->get(i);
      const auto* text = node.as_string();
      const std::string key = fmt::format("models[{}]", i);
      if (text == nullptr || text->get().empty()) {
        r.error(node, key,
                fmt::format("expected a model name (a non-empty string), got {}", describe(node)));
      } else if (std::find(request.models.begin(), request.models.end(), text->get()) !=
                 request.models.end()) {
        r.error(node, key, fmt::format("model \"{}\" is listed twice", text->get()));
      } else {
        request.models.push_back(text->get());
      }
    }
  }
  int n = 0;
  if (r.read_integer("model_count", n, 1, kMaxModels)) {
    // The names `servelab models make` (and the embedded server) gives.
    for (int i = 0; i < n; ++i) request.models.push_back(fmt::format("mlp-{}", i));
  }
  const bool has_choice =
      r.read_choice<Distribution>("distribution", request.distribution, kDistributions);
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
              fmt::format("expected a number from 0 to {}, got {}", kMaxZipfExponent,
                          request.zipf_exponent));
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
          r.error(node, fmt::format("weights[{}]", i),
                  fmt::format("expected a number >= 0, got {}", describe(node)));
          ok = false;
          continue;
        }
        total += *v;
        request.model_weights.push_back(*v);
      }
      if (ok && list->size() != request.models.size() && !request.models.empty()) {
        r.error(*list, "weights",
                fmt::format("expected one weight per model ({}), got {}", request.models.size(),
                            list->size()));
      } else if (ok && !(total > 0)) {
        r.error(*list, "weights", "expected at least one weight > 0");
      }
    }
  } else if (weights != nullptr) {
    r.error(
        *weights, "weights",
        fmt::format(
            "only applies to distribution = \"weights\"; this request has distribution = \"{}\"",
            to_string(request.distribution)));
  }
  return true;
}

}  // namespace

std::span<const Key<RequestSpec>> request_keys() { return kRequestKeys; }

void apply_kind_defaults(RequestSpec& request) {
  if (request.kind == RequestKind::http) return;
  request.method = "POST";  // infer: POST /v2/models/{model}/infer
  if (request.kind == RequestKind::generate) {
    request.url = "/v1/completions";
    request.send_seed = false;
  }
}

void read_request(TableReader& r, RequestSpec& request) {
  const std::span<const Key<RequestSpec>> keys = request_keys();
  read_key(r, keys.front(), request);  // kind: required, and the other keys depend on it
  if (r.find("kind") == nullptr || r.reported("kind")) return;
  read_keys(r, keys.subspan(1), request);
  switch (request.kind) {
    case RequestKind::http:
      if (request.name.empty())
        request.name = fmt::format("http {} {}", request.method, request.url);
      break;
    case RequestKind::infer: {
      // Each model's share of a spread request is named "<name> <model>" in the results.
      const bool spread_over_models = read_model_spread(r, request);
      if (!spread_over_models && r.find("model") == nullptr) {
        r.missing("model",
                  "the name of the model to infer against (a string), or models = [...] / "
                  "model_count = N to "
                  "spread requests over several");
      }
      if (request.name.empty()) {
        request.name =
            spread_over_models ? std::string("infer") : fmt::format("infer {}", request.model);
      }
      break;
    }
    case RequestKind::generate:
      if (r.find("model") == nullptr)
        r.missing("model", "the model name the completions server serves (a string)");
      if (request.name.empty()) request.name = fmt::format("generate {}", request.model);
      break;
  }
}

}  // namespace servelab::scenario
