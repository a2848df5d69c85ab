#include "serve/inference_api.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <exception>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include "batch/request_batcher.h"

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

// Scratch memory of one thread, reused by every request it handles: the
// request's JSON DOM nodes (parsed on a network thread) come from a monotonic arena that starts in `arena` (and spills to
// the heap only for large tensors); unbatched outputs live in a vector that
// keeps its capacity.
struct ThreadScratch {
  alignas(std::max_align_t) std::array<unsigned char, 64 * 1024> arena;
  json::parser parser;
  std::vector<float> output;
};

ThreadScratch& scratch() {
  thread_local ThreadScratch s;
  return s;
}

Response make_response(unsigned version, bool keep_alive, bhttp::status status, std::string body,
                       std::string_view content_type = kJson) {
  Response res(status, version);
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response make_response(const Request& request, bhttp::status status, std::string body,
                       std::string_view content_type = kJson) {
  return make_response(request.version(), request.keep_alive(), status, std::move(body), content_type);
}

Response json_response(const Request& request, bhttp::status status, const json::value& body) {
  return make_response(request, status, json::serialize(body));
}

Response error_response(const Request& request, bhttp::status status, std::string_view message) {
  json::object body;
  body["error"] = message;
  return json_response(request, status, body);
}

Response error_response(unsigned version, bool keep_alive, bhttp::status status, std::string_view message) {
  json::object body;
  body["error"] = message;
  return make_response(version, keep_alive, status, json::serialize(body));
}

// The batch queue cannot take the request now: 503 with Retry-After (RFC
// 9110 15.6.4), in seconds, so that well-behaved clients back off.
Response overloaded(unsigned version, bool keep_alive, std::string_view message) {
  Response res = error_response(version, keep_alive, bhttp::status::service_unavailable, message);
  res.set(bhttp::field::retry_after, "1");
  return res;
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

namespace detail {

// One valid infer request, parsed on the network thread, on its way to a
// forward pass.
struct InferJob {
  models::ModelLease lease;  // pins the model until the job is destroyed (answer sent)
  size_t slot = 0;  // the model's index in manager.configs() (metrics)
  std::vector<float> input;  // rows * input_width, row-major
  int64_t rows = 0;
  std::string id;
  bool has_id = false;
  unsigned version = 11;
  bool keep_alive = true;
  InferenceApi::Respond respond;
};

}  // namespace detail

namespace {

// Appends `v` in the shortest decimal form that reads back as the same
// float (std::to_chars on float, 9 significant digits at most). Boost.JSON
// only formats doubles, which spells a float's exact double value in ~22
// characters; on a 1024-wide output that doubled the response and its
// formatting time. Non-finite values have no JSON number: null.
void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// The v2 infer response for `job` with its computed rows:
// {"model_name":..,"model_version":..,["id":..,]"outputs":[{"name":..,
//  "datatype":"FP32","shape":[rows,width],"data":[...]}]}
// Strings go through Boost.JSON's serializer (escaping); the float data is
// appended directly into the one output string (no DOM of n numbers).
Response infer_response(const detail::InferJob& job, const float* output) {
  const models::Model& model = *job.lease;
  const int64_t out_width = model.output_width();
  const auto n = static_cast<size_t>(job.rows * out_width);
  std::string text;
  text.reserve(160 + n * 12);
  text += "{\"model_name\":";
  text += json::serialize(json::string(model.config().name));
  text += ",\"model_version\":";
  text += json::serialize(json::string(kModelVersion));
  if (job.has_id) {
    text += ",\"id\":";
    text += json::serialize(json::string(job.id));
  }
  text += ",\"outputs\":[{\"name\":";
  text += json::serialize(json::string(model.outputs().front().name));
  text += ",\"datatype\":\"FP32\",\"shape\":[";
  text += std::to_string(job.rows);
  text += ',';
  text += std::to_string(out_width);
  text += "],\"data\":[";
  for (size_t i = 0; i < n; ++i) {
    if (i) text += ',';
    append_float(text, output[i]);
  }
  text += "]}]}";
  return make_response(job.version, job.keep_alive, bhttp::status::ok, std::move(text));
}

batch::BatchConfig merged_config(batch::BatchConfig c, const models::BatchingOverrides& o) {
  if (o.max_batch_size) c.max_batch_size = *o.max_batch_size;
  if (o.max_queue_delay) c.max_queue_delay = *o.max_queue_delay;
  if (o.preferred_batch_sizes) c.preferred_batch_sizes = *o.preferred_batch_sizes;
  if (o.max_queue_size) c.max_queue_size = static_cast<size_t>(*o.max_queue_size);
  if (o.queue_timeout) c.queue_timeout = *o.queue_timeout;
  if (o.adaptive) c.adaptive = *o.adaptive;
  if (o.target_batch_time) c.target_batch_time = *o.target_batch_time;
  if (o.preserve_ordering) c.preserve_ordering = *o.preserve_ordering;
  return c;
}

// The answer to a model that could not be leased: 404 when unknown, else
// 503 with the manager's reason (load failed, timed out, too large for the
// budget, shutting down); the transient ones carry Retry-After.
Response acquire_error(const Request& request, const std::string& name, const models::Acquired& a) {
  if (a.error == models::AcquireError::not_found) {
    return error_response(request, bhttp::status::not_found, "model '" + name + "' not found");
  }
  std::string message = a.message.empty() ? "model is not available" : a.message;
  if (message.find("'" + name + "'") == std::string::npos) message = "model '" + name + "': " + message;
  Response res = error_response(request, bhttp::status::service_unavailable, message);
  if (a.error == models::AcquireError::timeout || a.error == models::AcquireError::shutting_down ||
      a.error == models::AcquireError::cancelled) {
    res.set(bhttp::field::retry_after, "1");
  }
  return res;
}

// The repository index's state names are Triton's: a model that is not in
// memory is UNAVAILABLE, with "unloaded" or its failure as the reason.
std::string_view repository_state(models::ModelState state) {
  switch (state) {
    case models::ModelState::ready: return "READY";
    case models::ModelState::loading: return "LOADING";
    case models::ModelState::unloading: return "UNLOADING";
    case models::ModelState::unloaded:
    case models::ModelState::failed: return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

}  // namespace

// One model's dynamic batcher. Models come and go (loaded, evicted,
// reloaded), so the batcher is made by the model's first infer request (it
// needs the model's widths) and runs its batches on `lease`: a lease on the
// model instance of the first request that found the batcher idle, kept
// while any request is outstanding in it. Every request holds its own lease
// too, so a batch always runs on a live model; a reload while requests are
// queued runs them on the older instance of the same weights.
struct InferenceApi::ModelBatcher {
  batch::BatchConfig config;
  std::mutex mu;
  std::unique_ptr<batch::RequestBatcher> batcher;  // guarded by mu until made; never reset
  models::ModelLease lease;                        // guarded by mu
  size_t outstanding = 0;                          // requests submitted, not yet answered; guarded by mu
  bool closed = false;                             // shutdown(): no new batcher; guarded by mu
};

struct InferenceApi::Pending {
  Request request;
  Route route = Route::other;
  std::string model;
  Respond respond;  // counts the answer in metrics_
};

InferenceApi::InferenceApi(models::ModelManager& manager, ApiOptions options)
    : manager_(manager),
      options_(std::move(options)),
      metrics_([&] {
        std::vector<std::string> names;
        for (const auto& config : manager.configs()) names.push_back(config.name);
        return names;
      }()),
      pool_(std::make_unique<batch::ComputePool>(options_.compute_threads)) {
  if (options_.server_version.empty()) options_.server_version = SERVELAB_VERSION;
  metrics_.set_model_manager(&manager_, options_.async_loading);
  if (options_.stall_every.count() > 0) {
    const auto first = std::chrono::steady_clock::now() + options_.stall_every;
    next_stall_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(first.time_since_epoch()).count());
  }
  const auto& configs = manager_.configs();
  batchers_.resize(configs.size());
  if (!options_.batching) return;
  for (size_t i = 0; i < configs.size(); ++i) {
    auto mb = std::make_unique<ModelBatcher>();
    mb->config = merged_config(options_.batch, configs[i].batching);
    mb->config.max_in_flight = pool_->threads();
    ModelBatcher* b = mb.get();
    metrics_.set_batch_source(i, [b] {
      std::lock_guard lock(b->mu);
      if (b->batcher) return b->batcher->stats();
      batch::BatchStats idle;  // no request yet: the limit it will start with
      idle.size_limit = b->config.max_batch_size;
      return idle;
    });
    batchers_[i] = std::move(mb);
  }
}

InferenceApi::~InferenceApi() { shutdown(); }

void InferenceApi::shutdown() {
  if (shut_down_.exchange(true)) return;
  // The manager first: it answers every request waiting for a model (queued
  // loads cancelled, running ones finished), which may still post work here.
  manager_.shutdown();
  // Batchers next: draining them still needs the compute threads.
  for (auto& mb : batchers_) {
    if (!mb) continue;
    batch::RequestBatcher* b = nullptr;
    {
      std::lock_guard lock(mb->mu);
      mb->closed = true;
      b = mb->batcher.get();
    }
    if (b) b->shutdown();
  }
  pool_->join();
}

const batch::BatchConfig* InferenceApi::batch_config(size_t model) const {
  return model < batchers_.size() && batchers_[model] ? &batchers_[model]->config : nullptr;
}

void InferenceApi::handle_async(Request&& request, Respond respond) {
  metrics_.request_started();
  Route route = Route::other;
  std::optional<Response> res;
  std::string model;
  try {
    res = dispatch(request, route, model, respond);
  } catch (const std::exception&) {  // e.g. bad_alloc on a huge tensor: answer, keep serving
    res = make_response(request, bhttp::status::internal_server_error, std::string(R"({"error":"internal error"})"));
  }
  if (res) {
    metrics_.request_finished(route, res->result_int());
    respond(std::move(*res));
    return;
  }
  if (model.empty()) return;  // a repository load: answered when the load ends
  // Model metadata or infer: lease the model first. Every answer from here
  // on is counted when it is sent, on whichever thread.
  auto pending = std::make_shared<Pending>();
  pending->request = std::move(request);
  pending->route = route;
  pending->model = std::move(model);
  pending->respond = [this, route, respond = std::move(respond)](Response&& r) {
    metrics_.request_finished(route, r.result_int());
    respond(std::move(r));
  };
  if (shut_down_.load(std::memory_order_relaxed)) {
    pending->respond(overloaded(pending->request.version(), pending->request.keep_alive(), "server is shutting down"));
    return;
  }
  // A ready model calls back right here (and a sync-mode load finishes
  // here); otherwise a loader or timer thread calls back later.
  const std::thread::id caller = std::this_thread::get_id();
  const auto deadline = std::chrono::steady_clock::now() + options_.load_wait_timeout;
  manager_.acquire(pending->model, deadline, [this, pending, caller](models::Acquired acquired) {
    with_model(pending, std::move(acquired), std::this_thread::get_id() == caller ? Where::caller : Where::other);
  });
}

void InferenceApi::with_model(const std::shared_ptr<Pending>& pending, models::Acquired acquired, Where where) {
  const Request& request = pending->request;
  if (where == Where::other) metrics_.record_model_wait();
  if (!acquired.ok()) {
    pending->respond(acquire_error(request, pending->model, acquired));
    return;
  }
  const models::Model& model = *acquired.lease;
  if (pending->route == Route::model_metadata) {
    json::object body;
    body["name"] = model.config().name;
    body["versions"] = json::array{kModelVersion};
    body["platform"] = "servelab-" + model.config().kind;
    body["inputs"] = tensor_specs(model.inputs());
    body["outputs"] = tensor_specs(model.outputs());
    pending->respond(json_response(request, bhttp::status::ok, body));
    return;
  }
  if (where == Where::other) {
    // Called back by a loader thread: parsing is the compute pool's work,
    // so that loaders go on loading.
    pool_->post([this, pending, acquired = std::move(acquired)]() mutable {
      with_model(pending, std::move(acquired), Where::compute);
    });
    return;
  }
  auto job = std::make_shared<detail::InferJob>();
  const int slot = manager_.find(pending->model);
  job->slot = slot < 0 ? 0 : static_cast<size_t>(slot);  // found: acquire() succeeded
  job->version = request.version();
  job->keep_alive = request.keep_alive();
  std::optional<Response> refused;
  try {
    refused = parse_infer(request, model, *job);
  } catch (const std::exception&) {
    refused = make_response(request, bhttp::status::internal_server_error, std::string(R"({"error":"internal error"})"));
  }
  if (refused) {
    pending->respond(std::move(*refused));
    return;
  }
  job->lease = std::move(acquired.lease);
  job->respond = std::move(pending->respond);
  if (batchers_[job->slot]) {
    submit_batched(std::move(job));
  } else if (where == Where::compute) {
    run_single(*job);
  } else {
    pool_->post([this, job] { run_single(*job); });
  }
}

Response InferenceApi::handle(Request&& request) {
  std::promise<Response> answer;
  std::future<Response> future = answer.get_future();
  handle_async(std::move(request), [&answer](Response&& r) { answer.set_value(std::move(r)); });
  return future.get();
}

std::optional<Response> InferenceApi::dispatch(const Request& request, Route& route, std::string& model,
                                               Respond& respond) {
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
    // Ready unless draining or an eager model is still loading (or queued).
    // A model that *failed* does not make the server unready: the others
    // serve, and the failed one answers 503 on its own routes.
    const bool ready = !draining_.load(std::memory_order_relaxed) && manager_.eager_settled();
    if (ready) return make_response(request, bhttp::status::ok, R"({"ready":true})");
    json::object body;
    body["ready"] = false;
    body["error"] = draining_.load(std::memory_order_relaxed) ? "server is shutting down" : "models are loading";
    return json_response(request, bhttp::status::service_unavailable, body);
  }
  if (n >= 2 && seg[1] == "repository") {
    route = Route::repository;
    return repository(request, n, seg.data(), respond);
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

  if (manager_.find(name) < 0) {
    return error_response(request, bhttp::status::not_found, "model '" + std::string(name) + "' not found");
  }
  if (!version.empty() && version != kModelVersion) {
    return error_response(request, bhttp::status::not_found,
                          "model '" + std::string(name) + "' has no version '" + std::string(version) +
                              "' (versions: [\"1\"])");
  }
  if (route == Route::model_ready) {
    // The state as it is now; asking does not load the model.
    const models::ModelStatus status = manager_.status(name);
    json::object body;
    body["name"] = status.name;
    body["ready"] = status.state == models::ModelState::ready;
    body["state"] = models::to_string(status.state);
    if (status.state == models::ModelState::ready) return json_response(request, bhttp::status::ok, body);
    body["reason"] = status.reason;
    body["error"] = "model '" + status.name + "' is " + std::string(models::to_string(status.state)) +
                    (status.reason.empty() ? std::string() : ": " + status.reason);
    return json_response(request, bhttp::status::service_unavailable, body);
  }
  model = std::string(name);  // metadata and infer need the model itself
  return std::nullopt;
}

// POST /v2/repository/index, /v2/repository/models/{name}/load and
// /v2/repository/models/{name}/unload (the Open Inference Protocol's model
// repository extension, as Triton serves it).
std::optional<Response> InferenceApi::repository(const Request& request, size_t n, const std::string_view* seg,
                                                 Respond& respond) {
  const bool index = n == 3 && seg[2] == "index";
  const bool action = n == 5 && seg[2] == "models" && (seg[4] == "load" || seg[4] == "unload");
  if (!index && !action) return error_response(request, bhttp::status::not_found, "no such route");
  if (request.method() != bhttp::verb::post) return method_not_allowed(request, "POST");
  auto bad = [&](std::string_view message) { return error_response(request, bhttp::status::bad_request, message); };
  json::object options;  // the optional JSON body
  if (!request.body().empty()) {
    boost::system::error_code ec;
    json::value doc = json::parse(request.body(), ec);
    if (ec) return bad("invalid JSON body: " + ec.message());
    if (!doc.is_object()) return bad("request body must be a JSON object");
    options = std::move(doc.as_object());
  }
  if (index) {
    bool ready_only = false;
    for (const auto& [key, value] : options) {
      if (key != "ready") return bad("unknown key '" + std::string(key) + "' (the index takes only \"ready\")");
      if (!value.is_bool()) return bad("'ready' must be a boolean");
      ready_only = value.get_bool();
    }
    json::array out;
    for (const models::ModelStatus& status : manager_.index()) {
      if (ready_only && status.state != models::ModelState::ready) continue;
      json::object m;
      m["name"] = status.name;
      m["version"] = kModelVersion;
      m["state"] = repository_state(status.state);
      m["reason"] = !status.reason.empty()                            ? status.reason
                    : status.state == models::ModelState::unloaded ? "unloaded"
                                                                    : "";
      out.emplace_back(std::move(m));
    }
    return make_response(request, bhttp::status::ok, json::serialize(out));
  }

  const std::string name(seg[3]);
  if (manager_.find(name) < 0) {
    return error_response(request, bhttp::status::not_found, "model '" + name + "' not found");
  }
  bool unload_dependents = false;
  for (const auto& [key, value] : options) {
    if (key != "parameters") return bad("unknown key '" + std::string(key) + "' (expected \"parameters\")");
    if (!value.is_object()) return bad("'parameters' must be an object");
    for (const auto& [pkey, pvalue] : value.get_object()) {
      if (seg[4] == "unload" && pkey == "unload_dependents") {
        if (!pvalue.is_bool()) return bad("'parameters.unload_dependents' must be a boolean");
        unload_dependents = pvalue.get_bool();
      } else {
        return bad("unsupported parameter '" + std::string(pkey) + "'" +
                   (seg[4] == "unload" ? " (unload takes only \"unload_dependents\")" : " (load takes none)"));
      }
    }
  }
  if (seg[4] == "unload") {
    if (Status unloaded = manager_.unload(name, unload_dependents); !unloaded) {
      return error_response(request, bhttp::status::conflict, unloaded.error().message);
    }
    return make_response(request, bhttp::status::ok, "{}");
  }
  // Load: answered when the model is ready or failed (from a loader thread,
  // or right here when it already is, or in sync mode).
  manager_.load(name, [this, name, version = request.version(), keep_alive = request.keep_alive(),
                       respond = std::move(respond)](Status loaded) {
    Response res = loaded ? make_response(version, keep_alive, bhttp::status::ok, "{}")
                          : error_response(version, keep_alive, bhttp::status::service_unavailable,
                                           loaded.error().message.find("'" + name + "'") != std::string::npos
                                               ? loaded.error().message
                                               : "model '" + name + "' failed to load: " + loaded.error().message);
    metrics_.request_finished(Route::repository, res.result_int());
    respond(std::move(res));
  });
  return std::nullopt;
}

std::optional<Response> InferenceApi::parse_infer(const Request& request, const models::Model& model,
                                                  detail::InferJob& job) {
  const models::ModelConfig& config = model.config();
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

  if (const json::value* v = root->if_contains("id")) {
    if (!v->is_string()) return bad("'id' must be a string");
    job.id = v->get_string();
    job.has_id = true;
  }

  const json::value* inputs_v = root->if_contains("inputs");
  if (!inputs_v || !inputs_v->is_array() || inputs_v->get_array().empty()) {
    return bad("missing 'inputs': expected a non-empty array of tensors");
  }
  const json::array& inputs = inputs_v->get_array();
  const std::string& input_name = model.inputs().front().name;
  if (inputs.size() != 1) {
    return bad("model '" + config.name + "' takes 1 input ('" + input_name + "'), got " +
               std::to_string(inputs.size()));
  }
  const json::object* input = inputs[0].if_object();
  if (!input) return bad("inputs[0] must be an object with name, shape, datatype and data");

  const json::value* name_v = input->if_contains("name");
  if (!name_v || !name_v->is_string()) return bad("missing input 'name'");
  if (name_v->get_string() != input_name) {
    return bad("unknown input '" + std::string(name_v->get_string()) + "': model '" + config.name +
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
               config.name + "': expected [" + std::to_string(rows) + ", " + std::to_string(width) + "]");
  }

  const json::value* data_v = input->if_contains("data");
  if (!data_v || !data_v->is_array()) return bad("missing input 'data' (expected an array of numbers)");
  const size_t expected = static_cast<size_t>(rows * width);
  job.input.reserve(expected);
  std::string error;
  if (!flatten(data_v->get_array(), job.input, error)) return bad(error);
  if (job.input.size() != expected) {
    return bad("input 'data' has " + std::to_string(job.input.size()) + " elements, expected " +
               std::to_string(expected) + " for shape [" + std::to_string(rows) + ", " + std::to_string(width) + "]");
  }

  const std::string& output_name = model.outputs().front().name;
  if (const json::value* outputs_v = root->if_contains("outputs")) {
    if (!outputs_v->is_array()) return bad("'outputs' must be an array of {\"name\": ...}");
    for (const json::value& o : outputs_v->get_array()) {
      const json::value* n = o.is_object() ? o.get_object().if_contains("name") : nullptr;
      if (!n || !n->is_string()) return bad("each requested output needs a 'name'");
      if (n->get_string() != output_name) {
        return bad("unknown output '" + std::string(n->get_string()) + "': model '" + config.name +
                   "' has '" + output_name + "'");
      }
    }
  }

  job.rows = rows;
  return std::nullopt;
}

void InferenceApi::run_single(detail::InferJob& job) {
  const models::Model& model = *job.lease;
  ThreadScratch& s = scratch();
  s.output.resize(static_cast<size_t>(job.rows * model.output_width()));
  const auto start = std::chrono::steady_clock::now();
  compute_pass([&] { model.infer(job.input.data(), job.rows, s.output.data()); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  metrics_.record_inference(job.slot, job.rows, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed));
  job.respond(infer_response(job, s.output.data()));
}

void InferenceApi::submit_batched(std::shared_ptr<detail::InferJob> job) {
  ModelBatcher* mb = batchers_[job->slot].get();
  const models::Model& model = *job->lease;
  const std::string& name = model.config().name;
  batch::RequestBatcher* batcher = nullptr;
  {
    std::lock_guard lock(mb->mu);
    if (!mb->closed && !mb->batcher) {
      batch::RequestBatcher::Options o;
      o.config = mb->config;
      o.input_width = model.input_width();
      o.output_width = model.output_width();
      // Runs on the lease the batcher holds while this batch's requests are
      // outstanding (see ModelBatcher).
      o.execute = [this, mb](const float* input, int64_t rows, float* output) -> Status {
        const models::Model* m = nullptr;
        {
          std::lock_guard l(mb->mu);
          m = mb->lease.get();
        }
        if (m == nullptr) return make_error("no model instance leased");  // unreachable: requests are outstanding
        compute_pass([&] { m->infer(input, rows, output); });
        return Ok{};
      };
      batch::ComputePool* pool = pool_.get();
      o.post = [pool](std::function<void()> task) { pool->post(std::move(task)); };
      mb->batcher = std::make_unique<batch::RequestBatcher>(std::move(o));
    }
    batcher = mb->batcher.get();
    if (batcher) {
      if (mb->outstanding++ == 0) mb->lease = job->lease;
    }
  }
  if (!batcher) {  // shut down before this model's first request
    job->respond(overloaded(job->version, job->keep_alive, "server is shutting down"));
    return;
  }
  // Drops the batcher's lease with its last outstanding request, outside
  // the lock (releasing a lease calls into the manager).
  auto release = [mb] {
    models::ModelLease dropped;
    std::lock_guard lock(mb->mu);
    if (--mb->outstanding == 0) dropped = std::move(mb->lease);
  };
  batch::BatchRequest request;
  request.input = std::move(job->input);
  request.rows = job->rows;
  request.done = [this, job, release](const batch::BatchOutcome& outcome) {
    const std::string& model_name = job->lease->config().name;
    if (outcome.ok()) {
      // Each request is counted with its batch's forward-pass time.
      metrics_.record_inference(job->slot, job->rows, outcome.execute_time);
      job->respond(infer_response(*job, outcome.output));
    } else if (outcome.rejection == batch::Rejection::queue_timeout) {
      job->respond(overloaded(job->version, job->keep_alive, "model '" + model_name + "': " + outcome.error));
    } else {
      job->respond(error_response(job->version, job->keep_alive, bhttp::status::internal_server_error,
                                  "model '" + model_name + "': inference failed: " + outcome.error));
    }
    release();
  };
  const auto refused = batcher->submit(std::move(request));
  if (!refused) return;
  release();
  switch (*refused) {
    case batch::SubmitError::queue_full:
      job->respond(overloaded(job->version, job->keep_alive,
                              "model '" + name + "': batch queue is full (" +
                                  std::to_string(mb->config.max_queue_size) + " requests)"));
      break;
    case batch::SubmitError::shutdown:
      job->respond(overloaded(job->version, job->keep_alive, "server is shutting down"));
      break;
    case batch::SubmitError::invalid:  // parse_infer validated it against this model instance
      job->respond(error_response(job->version, job->keep_alive, bhttp::status::internal_server_error,
                                  "model '" + name + "': request rejected by the batcher (its widths changed " +
                                      "since the batcher was made?)"));
      break;
  }
}

// With the stall aid on, a stall is stop-the-world like a GC pause: the
// stalling pass holds stall_mu_ exclusively, every other pass takes it
// shared, so no compute thread gets past it, however many there are.
template <class Pass>
void InferenceApi::compute_pass(Pass&& pass) {
  if (options_.stall_every.count() <= 0 || options_.stall_for.count() <= 0) {
    pass();
    return;
  }
  if (should_stall()) {
    std::unique_lock stop_the_world(stall_mu_);
    std::this_thread::sleep_for(options_.stall_for);
  }
  std::shared_lock lock(stall_mu_);
  pass();
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
