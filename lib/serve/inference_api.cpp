#include "serve/inference_api.h"

#include <array>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

namespace servelab::serve {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kServerName = "servelab-server";
constexpr std::string_view kModelVersion = "1";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
// Path segments we route on: /v2/models/{name}/versions/{v}/infer has 6.
constexpr size_t kMaxSegments = 7;

// Scratch memory of one network thread, reused by every request it handles:
// JSON DOM nodes come from a monotonic arena that starts in `arena` (and
// spills to the heap only for large tensors), and the float tensors live in
// vectors that keep their capacity.
struct ThreadScratch {
  alignas(std::max_align_t) std::array<unsigned char, 64 * 1024> arena;
  json::parser parser;
  std::vector<float> input;
  std::vector<float> output;
};

ThreadScratch& scratch() {
  thread_local ThreadScratch s;
  return s;
}

Response make_response(const Request& request, bhttp::status status, std::string body,
                       std::string_view content_type = kJson) {
  Response res(status, request.version());
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_response(const Request& request, bhttp::status status, const json::value& body) {
  return make_response(request, status, json::serialize(body));
}

Response error_response(const Request& request, bhttp::status status, std::string_view message) {
  json::object body;
  body["error"] = message;
  return json_response(request, status, body);
}

Response method_not_allowed(const Request& request, std::string_view allow) {
  Response res = error_response(request, bhttp::status::method_not_allowed,
                                "method " + std::string(request.method_string()) + " not allowed; use " +
                                    std::string(allow));
  res.set(bhttp::field::allow, allow);
  return res;
}

// Splits the path (query string dropped) into at most kMaxSegments non-empty
// segments; returns the count, or kMaxSegments + 1 when there are more.
size_t split_path(std::string_view target, std::array<std::string_view, kMaxSegments>& out) {
  target = target.substr(0, target.find('?'));
  size_t n = 0;
  while (!target.empty()) {
    const size_t slash = target.find('/');
    const std::string_view seg = target.substr(0, slash);
    target = slash == std::string_view::npos ? std::string_view{} : target.substr(slash + 1);
    if (seg.empty()) continue;
    if (n == kMaxSegments) return kMaxSegments + 1;
    out[n++] = seg;
  }
  return n;
}

json::array tensor_specs(const std::vector<models::TensorSpec>& specs) {
  json::array out;
  for (const auto& spec : specs) {
    json::object t;
    t["name"] = spec.name;
    t["datatype"] = spec.datatype;
    json::array shape;
    for (int64_t d : spec.shape) shape.emplace_back(d);
    t["shape"] = std::move(shape);
    out.emplace_back(std::move(t));
  }
  return out;
}

std::string kind_name(json::kind k) { return std::string(json::to_string(k)); }

// Appends the numbers of a flat or nested JSON array, row-major. Stops and
// returns false at the first element that is not a number (error set).
bool flatten(const json::array& data, std::vector<float>& out, std::string& error) {
  for (const json::value& v : data) {
    switch (v.kind()) {
      case json::kind::double_: out.push_back(static_cast<float>(v.get_double())); break;
      case json::kind::int64: out.push_back(static_cast<float>(v.get_int64())); break;
      case json::kind::uint64: out.push_back(static_cast<float>(v.get_uint64())); break;
      case json::kind::array:
        if (!flatten(v.get_array(), out, error)) return false;
        break;
      default:
        error = "input 'data' element " + std::to_string(out.size()) + " is " + kind_name(v.kind()) +
                ", expected a number";
        return false;
    }
  }
  return true;
}

}  // namespace

InferenceApi::InferenceApi(const models::ModelRepository& repository, ApiOptions options)
    : repository_(repository),
      options_(std::move(options)),
      metrics_([&] {
        std::vector<std::string> names;
        for (const auto& entry : repository.entries()) names.push_back(entry.config.name);
        return names;
      }()) {
  if (options_.server_version.empty()) options_.server_version = SERVELAB_VERSION;
  const auto& entries = repository_.entries();
  for (size_t i = 0; i < entries.size(); ++i) metrics_.set_model_ready(i, entries[i].model != nullptr);
  if (options_.stall_every.count() > 0) {
    const auto first = std::chrono::steady_clock::now() + options_.stall_every;
    next_stall_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(first.time_since_epoch()).count());
  }
}

Response InferenceApi::handle(Request&& request) {
  metrics_.request_started();
  Route route = Route::other;
  Response res;
  try {
    res = dispatch(request, route);
  } catch (const std::exception&) {  // e.g. bad_alloc on a huge tensor: answer, keep serving
    res = make_response(request, bhttp::status::internal_server_error,
                        std::string(R"({"error":"internal error"})"));
  }
  metrics_.request_finished(route, res.result_int());
  return res;
}

Response InferenceApi::dispatch(const Request& request, Route& route) {
  std::array<std::string_view, kMaxSegments> seg;
  const size_t n = split_path(request.target(), seg);
  const bool get = request.method() == bhttp::verb::get;
  const bool post = request.method() == bhttp::verb::post;

  if (n == 1 && seg[0] == "metrics") {
    route = Route::metrics;
    if (!get) return method_not_allowed(request, "GET");
    return make_response(request, bhttp::status::ok, metrics_.render(), kPrometheusText);
  }
  if (n == 0 || seg[0] != "v2") return error_response(request, bhttp::status::not_found, "no such route");

  if (n == 1) {
    if (!get) return method_not_allowed(request, "GET");
    json::object body;
    body["name"] = kServerName;
    body["version"] = options_.server_version;
    body["extensions"] = json::array();
    return json_response(request, bhttp::status::ok, body);
  }
  if (n == 3 && seg[1] == "health" && (seg[2] == "live" || seg[2] == "ready")) {
    const bool live = seg[2] == "live";
    route = live ? Route::health_live : Route::health_ready;
    if (!get) return method_not_allowed(request, "GET");
    if (live) return make_response(request, bhttp::status::ok, R"({"live":true})");
    // Ready unless draining or an eager model is still loading. Models load
    // before the server listens in this version, so "still loading" cannot
    // happen yet; a model that *failed* does not make the server unready:
    // the others serve, and the failed one answers 503 on its own routes.
    bool ready = !draining_.load(std::memory_order_relaxed);
    for (const auto& entry : repository_.entries()) {
      if (entry.config.preload == models::Preload::eager && !entry.model && entry.error.empty()) ready = false;
    }
    if (ready) return make_response(request, bhttp::status::ok, R"({"ready":true})");
    json::object body;
    body["ready"] = false;
    body["error"] = draining_.load(std::memory_order_relaxed) ? "server is shutting down" : "models are loading";
    return json_response(request, bhttp::status::service_unavailable, body);
  }
  if (n < 3 || seg[1] != "models") return error_response(request, bhttp::status::not_found, "no such route");

  // /v2/models/{name} [/versions/{v}] [/ready | /infer]
  const std::string_view name = seg[2];
  size_t next = 3;
  std::string_view version;
  if (n >= 5 && seg[3] == "versions") {
    version = seg[4];
    next = 5;
  }
  std::string_view action = next < n ? seg[next] : std::string_view{};
  if (next + (action.empty() ? 0 : 1) != n || (!action.empty() && action != "ready" && action != "infer")) {
    return error_response(request, bhttp::status::not_found, "no such route");
  }
  route = action == "infer" ? Route::infer : action == "ready" ? Route::model_ready : Route::model_metadata;
  const bool want_post = route == Route::infer;
  if (want_post ? !post : !get) return method_not_allowed(request, want_post ? "POST" : "GET");

  const models::ModelEntry* entry = repository_.find(name);
  if (!entry) {
    return error_response(request, bhttp::status::not_found, "model '" + std::string(name) + "' not found");
  }
  if (!version.empty() && version != kModelVersion) {
    return error_response(request, bhttp::status::not_found,
                          "model '" + std::string(name) + "' has no version '" + std::string(version) +
                              "' (versions: [\"1\"])");
  }
  if (!entry->model) {
    const std::string reason = "model '" + entry->config.name + "' failed to load: " + entry->error;
    if (route != Route::model_ready) return error_response(request, bhttp::status::service_unavailable, reason);
    json::object body;
    body["name"] = entry->config.name;
    body["ready"] = false;
    body["error"] = reason;
    return json_response(request, bhttp::status::service_unavailable, body);
  }
  if (route == Route::model_ready) {
    json::object body;
    body["name"] = entry->config.name;
    body["ready"] = true;
    return json_response(request, bhttp::status::ok, body);
  }
  if (route == Route::model_metadata) {
    json::object body;
    body["name"] = entry->config.name;
    body["versions"] = json::array{kModelVersion};
    body["platform"] = "servelab-" + entry->config.kind;
    body["inputs"] = tensor_specs(entry->model->inputs());
    body["outputs"] = tensor_specs(entry->model->outputs());
    return json_response(request, bhttp::status::ok, body);
  }
  return infer(request, *entry);
}

Response InferenceApi::infer(const Request& request, const models::ModelEntry& entry) {
  const models::Model& model = *entry.model;
  auto bad = [&](std::string_view message) {
    return error_response(request, bhttp::status::bad_request, message);
  };
  ThreadScratch& s = scratch();
  json::monotonic_resource arena(s.arena.data(), s.arena.size());
  s.parser.reset(&arena);
  boost::system::error_code ec;
  s.parser.write(request.body(), ec);
  if (ec) {
    s.parser.reset();
    return bad("invalid JSON body: " + ec.message());
  }
  const json::value doc = s.parser.release();
  s.parser.reset();  // drop the parser's reference to the arena before it goes away

  const json::object* root = doc.if_object();
  if (!root) return bad("request body must be a JSON object with 'inputs'");

  std::string id;
  bool has_id = false;
  if (const json::value* v = root->if_contains("id")) {
    if (!v->is_string()) return bad("'id' must be a string");
    id = v->get_string();
    has_id = true;
  }

  const json::value* inputs_v = root->if_contains("inputs");
  if (!inputs_v || !inputs_v->is_array() || inputs_v->get_array().empty()) {
    return bad("missing 'inputs': expected a non-empty array of tensors");
  }
  const json::array& inputs = inputs_v->get_array();
  const std::string& input_name = model.inputs().front().name;
  if (inputs.size() != 1) {
    return bad("model '" + entry.config.name + "' takes 1 input ('" + input_name + "'), got " +
               std::to_string(inputs.size()));
  }
  const json::object* input = inputs[0].if_object();
  if (!input) return bad("inputs[0] must be an object with name, shape, datatype and data");

  const json::value* name_v = input->if_contains("name");
  if (!name_v || !name_v->is_string()) return bad("missing input 'name'");
  if (name_v->get_string() != input_name) {
    return bad("unknown input '" + std::string(name_v->get_string()) + "': model '" + entry.config.name +
               "' expects '" + input_name + "'");
  }
  const json::value* datatype_v = input->if_contains("datatype");
  if (!datatype_v || !datatype_v->is_string()) return bad("missing input 'datatype' (expected \"FP32\")");
  if (datatype_v->get_string() != "FP32") {
    return bad("unsupported datatype '" + std::string(datatype_v->get_string()) + "': expected \"FP32\"");
  }

  const json::value* shape_v = input->if_contains("shape");
  if (!shape_v || !shape_v->is_array()) return bad("missing input 'shape' (expected [rows, width])");
  const json::array& shape = shape_v->get_array();
  const int64_t width = model.input_width();
  if (shape.size() != 2 || !shape[0].is_int64() || !shape[1].is_int64()) {
    return bad("input 'shape' must be two integers [rows, " + std::to_string(width) + "], got " +
               json::serialize(shape));
  }
  const int64_t rows = shape[0].get_int64();
  const int64_t got_width = shape[1].get_int64();
  if (rows < 1 || rows > options_.max_rows) {
    return bad("input rows must be between 1 and " + std::to_string(options_.max_rows) + ", got " +
               std::to_string(rows));
  }
  if (got_width != width) {
    return bad("input shape [" + std::to_string(rows) + ", " + std::to_string(got_width) + "] does not fit model '" +
               entry.config.name + "': expected [" + std::to_string(rows) + ", " + std::to_string(width) + "]");
  }

  const json::value* data_v = input->if_contains("data");
  if (!data_v || !data_v->is_array()) return bad("missing input 'data' (expected an array of numbers)");
  const size_t expected = static_cast<size_t>(rows * width);
  s.input.clear();
  s.input.reserve(expected);
  std::string error;
  if (!flatten(data_v->get_array(), s.input, error)) return bad(error);
  if (s.input.size() != expected) {
    return bad("input 'data' has " + std::to_string(s.input.size()) + " elements, expected " +
               std::to_string(expected) + " for shape [" + std::to_string(rows) + ", " + std::to_string(width) + "]");
  }

  const std::string& output_name = model.outputs().front().name;
  if (const json::value* outputs_v = root->if_contains("outputs")) {
    if (!outputs_v->is_array()) return bad("'outputs' must be an array of {\"name\": ...}");
    for (const json::value& o : outputs_v->get_array()) {
      const json::value* n = o.is_object() ? o.get_object().if_contains("name") : nullptr;
      if (!n || !n->is_string()) return bad("each requested output needs a 'name'");
      if (n->get_string() != output_name) {
        return bad("unknown output '" + std::string(n->get_string()) + "': model '" + entry.config.name +
                   "' has '" + output_name + "'");
      }
    }
  }

  if (should_stall()) std::this_thread::sleep_for(options_.stall_for);

  const int64_t out_width = model.output_width();
  s.output.resize(static_cast<size_t>(rows * out_width));
  const auto start = std::chrono::steady_clock::now();
  model.infer(s.input.data(), rows, s.output.data());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const auto slot = static_cast<size_t>(&entry - repository_.entries().data());
  metrics_.record_inference(slot, rows, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed));

  // The response DOM uses the same arena; doubles hold every float exactly,
  // so clients that read them back as float get the computed values bit for bit.
  json::object body(&arena);
  body["model_name"] = entry.config.name;
  body["model_version"] = kModelVersion;
  if (has_id) body["id"] = id;
  json::object out(&arena);
  out["name"] = output_name;
  out["datatype"] = "FP32";
  out["shape"] = json::array{rows, out_width};
  json::array data(&arena);
  data.reserve(s.output.size());
  for (float f : s.output) data.emplace_back(static_cast<double>(f));
  out["data"] = std::move(data);
  json::array outputs(&arena);
  outputs.emplace_back(std::move(out));
  body["outputs"] = std::move(outputs);
  return make_response(request, bhttp::status::ok, json::serialize(body));
}

// The first request past the due time claims the stall and moves the due
// time one period on; the others go through.
bool InferenceApi::should_stall() noexcept {
  if (options_.stall_every.count() <= 0 || options_.stall_for.count() <= 0) return false;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  int64_t due = next_stall_ns_.load(std::memory_order_relaxed);
  if (now < due) return false;
  const int64_t next = now + std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_every).count();
  return next_stall_ns_.compare_exchange_strong(due, next, std::memory_order_relaxed);
}

}  // namespace servelab::serve
