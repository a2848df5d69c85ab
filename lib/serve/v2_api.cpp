#include "serve/v2_api.h"

#include <array>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "batch/request_batcher.h"
#include "common/build_info.h"
#include "serve/responses.h"

namespace servelab::serve {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kServerName = "servelab-server";

// Scratch memory of one thread, reused by every request it handles: the
// request's JSON DOM nodes come from a monotonic arena that starts in
// `arena` (64 KiB; it spills to the heap only for large tensors); unbatched
// outputs live in a vector that keeps its capacity.
struct ThreadScratch {
  alignas(std::max_align_t) std::array<unsigned char, 64 * 1024> arena;
  json::parser parser;
  std::vector<float> output;
};

ThreadScratch& scratch() {
  thread_local ThreadScratch s;
  return s;
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

// Doubles below this magnitude round to a finite FP32 value (at most
// FLT_MAX); this one (FLT_MAX plus half an ulp) and above round to infinity.
constexpr double kFp32Limit = 0x1.ffffffp127;

// The FP32 value of JSON number `v`, or nothing when `v` is not a number or
// has no finite FP32 value (1e999, which Boost.JSON reads as infinity, or
// 1e39, beyond FLT_MAX).
std::optional<float> fp32_value(const json::value& v) {
  double d = 0;
  switch (v.kind()) {
    case json::kind::double_:
      d = v.get_double();
      break;
    case json::kind::int64:
      d = static_cast<double>(v.get_int64());
      break;
    case json::kind::uint64:
      d = static_cast<double>(v.get_uint64());
      break;
    default:
      return std::nullopt;
  }
  if (!(std::fabs(d) < kFp32Limit)) return std::nullopt;  // NaN fails this too
  return static_cast<float>(d);
}

// Appends `count` numbers of `data` to `out`; false (error set) at the first
// element that is not a number with a finite FP32 value. `input`: the
// input's name, for the message; `row`: the row (nested data) or -1 (flat).
bool append_numbers(const json::array& data, std::string_view input, int64_t row,
                    std::vector<float>& out, std::string& error) {
  for (size_t i = 0; i < data.size(); ++i) {
    const json::value& v = data[i];
    if (const std::optional<float> f = fp32_value(v)) {
      out.push_back(*f);
      continue;
    }
    const std::string where =
        row < 0 ? "element " + std::to_string(i)
                : "element [" + std::to_string(row) + "][" + std::to_string(i) + "]";
    const bool number = v.is_double() || v.is_int64() || v.is_uint64();
    error = "input '" + std::string(input) + "' 'data' " + where + " is " +
            (number ? json::serialize(v) + ", which has no finite FP32 value"
                    : kind_name(v.kind()) + ", expected a finite number");
    return false;
  }
  return true;
}

// Reads the `data` of input `input` of shape [rows, width], row-major, in
// one of the two layouts the protocol allows: flat (rows * width numbers) or
// nested as the shape (rows arrays of width numbers each). A ragged nesting,
// a deeper one or a mix of numbers and arrays is an error (set), even when
// the total count is right.
bool read_data(const json::array& data, std::string_view input, int64_t rows, int64_t width,
               std::vector<float>& out, std::string& error) {
  // Built only for an error message: no allocation on the accepted path.
  const auto name = [input] { return "input '" + std::string(input) + "' 'data'"; };
  const auto expected = static_cast<size_t>(rows * width);
  if (data.empty() || !data[0].is_array()) {  // flat
    if (!append_numbers(data, input, -1, out, error)) return false;
    if (out.size() != expected) {
      error = name() + " has " + std::to_string(out.size()) + " elements, expected " +
              std::to_string(expected) + " for shape [" + std::to_string(rows) + ", " +
              std::to_string(width) + "]";
      return false;
    }
    return true;
  }
  if (data.size() != static_cast<size_t>(rows)) {
    error = name() + " is nested with " + std::to_string(data.size()) + " rows, expected " +
            std::to_string(rows) + " for shape [" + std::to_string(rows) + ", " +
            std::to_string(width) + "]";
    return false;
  }
  for (size_t r = 0; r < data.size(); ++r) {
    const json::array* row = data[r].if_array();
    if (!row) {
      error = name() + " row " + std::to_string(r) + " is " + kind_name(data[r].kind()) +
              ", expected an array of " + std::to_string(width) + " numbers (nested data)";
      return false;
    }
    if (row->size() != static_cast<size_t>(width)) {
      error = name() + " row " + std::to_string(r) + " has " + std::to_string(row->size()) +
              " elements, expected " + std::to_string(width) + " (ragged nested data)";
      return false;
    }
    if (!append_numbers(*row, input, static_cast<int64_t>(r), out, error)) return false;
  }
  return true;
}

}  // namespace

namespace detail {

// One admitted infer request's place under --max-queue: taken by
// V2Api::admit(), given back when the last holder is destroyed (the answer
// has been sent by then).
class Admission {
 public:
  Admission() = default;
  explicit Admission(std::atomic<size_t>* count) : count_(count) {}
  Admission(Admission&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  Admission& operator=(Admission&& other) noexcept {
    if (this != &other) {
      release();
      count_ = std::exchange(other.count_, nullptr);
    }
    return *this;
  }
  ~Admission() { release(); }

 private:
  void release() {
    if (count_ != nullptr) count_->fetch_sub(1, std::memory_order_relaxed);
    count_ = nullptr;
  }
  std::atomic<size_t>* count_ = nullptr;
};

// One valid infer request, parsed on the network thread, on its way to a
// forward pass.
struct InferJob {
  explicit InferJob(Reply r) : reply(std::move(r)) {}
  models::ModelLease lease;  // pins the model until the job is destroyed (answer sent)
  size_t slot = 0;           // the model's index in manager.configs() (metrics)
  std::vector<float> input;  // rows * input_width, row-major
  int64_t rows = 0;
  std::string id;
  bool has_id = false;
  Reply reply;
  Admission admission;  // released with the job, after its answer
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
  return make_response(job.reply.to(), bhttp::status::ok, std::move(text));
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

}  // namespace

// One model's dynamic batcher. Models come and go (loaded, evicted,
// reloaded), so the batcher is made by the model's first infer request (it
// needs the model's widths) and runs its batches on `lease`: a lease on the
// model instance of the first request that found the batcher idle, kept
// while any request is outstanding in it. Every request holds its own lease
// too, so a batch always runs on a live model; a reload while requests are
// queued runs them on the older instance of the same weights.
struct V2Api::ModelBatcher {
  batch::BatchConfig config;
  std::mutex mu;
  std::unique_ptr<batch::RequestBatcher> batcher;  // guarded by mu until made; never reset
  models::ModelLease lease;                        // guarded by mu
  size_t outstanding = 0;  // requests submitted, not yet answered; guarded by mu
  bool closed = false;     // shutdown(): no new batcher; guarded by mu
};

// A model route waiting for its model's lease.
struct V2Api::Pending {
  Pending(Request&& r, std::string m, const Reply& re, bool i)
      : request(std::move(r)), model(std::move(m)), reply(re), infer(i) {}
  Request request;
  std::string model;
  Reply reply;
  bool infer = false;           // else model metadata
  detail::Admission admission;  // infer: handed on to its InferJob
};

V2Api::V2Api(models::ModelManager& manager, batch::ComputePool& pool, ServerMetrics& metrics,
             ApiOptions options)
    : manager_(manager), pool_(pool), metrics_(metrics), options_(std::move(options)) {
  if (options_.server_version.empty()) options_.server_version = build_info().version;
  if (options_.stall_every.count() > 0) {
    const auto first = std::chrono::steady_clock::now() + options_.stall_every;
    next_stall_ns_.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(first.time_since_epoch()).count());
  }
  const auto& configs = manager_.configs();
  batchers_.resize(configs.size());
  if (!options_.batching) return;
  for (size_t i = 0; i < configs.size(); ++i) {
    auto mb = std::make_unique<ModelBatcher>();
    mb->config = merged_config(options_.batch, configs[i].batching);
    mb->config.max_in_flight = pool_.threads();
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

V2Api::~V2Api() { shutdown(); }

void V2Api::shutdown() {
  if (shut_down_.exchange(true)) return;
  // Draining a batcher still needs the compute threads (REQUIRES).
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
}

const batch::BatchConfig* V2Api::batch_config(size_t model) const {
  return model < batchers_.size() && batchers_[model] ? &batchers_[model]->config : nullptr;
}

void V2Api::server_metadata(Request&& request, const PathParams&, const Reply& reply) {
  json::object body;
  body["name"] = kServerName;
  body["version"] = options_.server_version;
  body["extensions"] = json::array();
  reply(json_response(request, bhttp::status::ok, body));
}

void V2Api::health_live(Request&& request, const PathParams&, const Reply& reply) {
  reply(make_response(request, bhttp::status::ok, R"({"live":true})"));
}

void V2Api::health_ready(Request&& request, const PathParams&, const Reply& reply) {
  // Ready unless draining or an eager model is still loading (or queued).
  // A model that *failed* does not make the server unready: the others
  // serve, and the failed one answers 503 on its own routes.
  const bool draining = draining_.load(std::memory_order_relaxed);
  if (!draining && manager_.eager_settled()) {
    reply(make_response(request, bhttp::status::ok, R"({"ready":true})"));
    return;
  }
  json::object body;
  body["ready"] = false;
  body["error"] = draining ? "server is shutting down" : "models are loading";
  reply(json_response(request, bhttp::status::service_unavailable, body));
}

std::optional<Response> V2Api::check_model(const Request& request, const PathParams& params) const {
  const std::string_view name = params.get("name");
  if (manager_.find(name) < 0) {
    return error_response(request, bhttp::status::not_found,
                          "model '" + std::string(name) + "' not found");
  }
  const std::string_view version = params.get("version");
  if (!version.empty() && version != kModelVersion) {
    return error_response(request, bhttp::status::not_found,
                          "model '" + std::string(name) + "' has no version '" +
                              std::string(version) + "' (versions: [\"1\"])");
  }
  return std::nullopt;
}

void V2Api::model_ready(Request&& request, const PathParams& params, const Reply& reply) {
  if (auto refused = check_model(request, params)) {
    reply(std::move(*refused));
    return;
  }
  // The state as it is now; asking does not load the model.
  const models::ModelStatus status = manager_.status(params.get("name"));
  json::object body;
  body["name"] = status.name;
  body["ready"] = status.state == models::ModelState::ready;
  body["state"] = models::to_string(status.state);
  if (status.state == models::ModelState::ready) {
    reply(json_response(request, bhttp::status::ok, body));
    return;
  }
  body["reason"] = status.reason;
  body["error"] = "model '" + status.name + "' is " + std::string(models::to_string(status.state)) +
                  (status.reason.empty() ? std::string() : ": " + status.reason);
  reply(json_response(request, bhttp::status::service_unavailable, body));
}

void V2Api::model_metadata(Request&& request, const PathParams& params, const Reply& reply) {
  lease(std::move(request), params, reply, false);
}

void V2Api::infer(Request&& request, const PathParams& params, const Reply& reply) {
  lease(std::move(request), params, reply, true);
}

void V2Api::lease(Request&& request, const PathParams& params, const Reply& reply, bool infer) {
  if (auto refused = check_model(request, params)) {
    reply(std::move(*refused));
    return;
  }
  if (shut_down_.load(std::memory_order_relaxed)) {
    reply(overloaded(request, "server is shutting down"));
    return;
  }
  detail::Admission admission;
  if (infer && options_.max_queue > 0) {
    // One count for the whole server: a bound needs one (a relaxed RMW per
    // infer request, next to the lease's own atomics). Overshoot by the
    // other network threads is undone at once and never admitted.
    const size_t before = admitted_.fetch_add(1, std::memory_order_relaxed);
    admission = detail::Admission(&admitted_);
    if (before >= options_.max_queue) {
      shed_.fetch_add(1, std::memory_order_relaxed);
      reply(overloaded(request, "server is over capacity: " + std::to_string(options_.max_queue) +
                                    " infer requests are in progress (--max-queue); retry later"));
      return;
    }
  }
  auto pending =
      std::make_shared<Pending>(std::move(request), std::string(params.get("name")), reply, infer);
  pending->admission = std::move(admission);
  // A ready model calls back right here (and a sync-mode load finishes
  // here); otherwise a loader or timer thread calls back later.
  const std::thread::id caller = std::this_thread::get_id();
  const auto deadline = std::chrono::steady_clock::now() + options_.load_wait_timeout;
  manager_.acquire(pending->model, deadline, [this, pending, caller](models::Acquired acquired) {
    with_model(pending, std::move(acquired),
               std::this_thread::get_id() == caller ? Where::caller : Where::other);
  });
}

void V2Api::with_model(const std::shared_ptr<Pending>& pending, models::Acquired acquired,
                       Where where) {
  const Request& request = pending->request;
  if (where == Where::other) metrics_.record_model_wait();
  if (!acquired.ok()) {
    pending->reply(acquire_error(request, pending->model, acquired));
    return;
  }
  const models::Model& model = *acquired.lease;
  if (!pending->infer) {
    json::object body;
    body["name"] = model.config().name;
    body["versions"] = json::array{kModelVersion};
    body["platform"] = "servelab-" + model.config().kind;
    body["inputs"] = tensor_specs(model.inputs());
    body["outputs"] = tensor_specs(model.outputs());
    pending->reply(json_response(request, bhttp::status::ok, body));
    return;
  }
  if (where == Where::other) {
    // Called back by a loader thread: parsing is the compute pool's work,
    // so that loaders go on loading.
    pool_.post([this, pending, acquired = std::move(acquired)]() mutable {
      with_model(pending, std::move(acquired), Where::compute);
    });
    return;
  }
  auto job = std::make_shared<detail::InferJob>(pending->reply);
  job->admission = std::move(pending->admission);
  const int slot = manager_.find(pending->model);
  job->slot = slot < 0 ? 0 : static_cast<size_t>(slot);  // found: acquire() succeeded
  std::optional<Response> refused;
  try {
    refused = parse_infer(request, model, *job);
  } catch (const std::exception&) {
    refused = error_response(request, bhttp::status::internal_server_error, "internal error");
  }
  if (refused) {
    pending->reply(std::move(*refused));
    return;
  }
  job->lease = std::move(acquired.lease);
  if (batchers_[job->slot]) {
    submit_batched(std::move(job));
  } else if (where == Where::compute) {
    run_single(*job);
  } else {
    pool_.post([this, job] { run_single(*job); });
  }
}

std::optional<Response> V2Api::parse_infer(const Request& request, const models::Model& model,
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
  if (!datatype_v || !datatype_v->is_string())
    return bad("missing input 'datatype' (expected \"FP32\")");
  if (datatype_v->get_string() != "FP32") {
    return bad("unsupported datatype '" + std::string(datatype_v->get_string()) +
               "': expected \"FP32\"");
  }

  const json::value* shape_v = input->if_contains("shape");
  if (!shape_v || !shape_v->is_array())
    return bad("missing input 'shape' (expected [rows, width])");
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
    return bad("input shape [" + std::to_string(rows) + ", " + std::to_string(got_width) +
               "] does not fit model '" + config.name + "': expected [" + std::to_string(rows) +
               ", " + std::to_string(width) + "]");
  }

  const json::value* data_v = input->if_contains("data");
  if (!data_v || !data_v->is_array())
    return bad("missing input 'data' (expected an array of numbers)");
  job.input.reserve(static_cast<size_t>(rows * width));
  std::string error;
  if (!read_data(data_v->get_array(), input_name, rows, width, job.input, error)) return bad(error);

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

void V2Api::run_single(detail::InferJob& job) {
  const models::Model& model = *job.lease;
  ThreadScratch& s = scratch();
  s.output.resize(static_cast<size_t>(job.rows * model.output_width()));
  const auto start = std::chrono::steady_clock::now();
  compute_pass([&] { model.infer(job.input.data(), job.rows, s.output.data()); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  metrics_.record_inference(job.slot, job.rows,
                            std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed));
  job.reply(infer_response(job, s.output.data()));
}

void V2Api::submit_batched(std::shared_ptr<detail::InferJob> job) {
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
        if (m == nullptr)
          return make_error("no model instance leased");  // unreachable: requests are outstanding
        compute_pass([&] { m->infer(input, rows, output); });
        return Ok{};
      };
      batch::ComputePool* pool = &pool_;
      o.post = [pool](std::function<void()> task) { pool->post(std::move(task)); };
      mb->batcher = std::make_unique<batch::RequestBatcher>(std::move(o));
    }
    batcher = mb->batcher.get();
    if (batcher) {
      if (mb->outstanding++ == 0) mb->lease = job->lease;
    }
  }
  if (!batcher) {  // shut down before this model's first request
    job->reply(overloaded(job->reply.to(), "server is shutting down"));
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
      job->reply(infer_response(*job, outcome.output));
    } else if (outcome.rejection == batch::Rejection::queue_timeout) {
      job->reply(overloaded(job->reply.to(), "model '" + model_name + "': " + outcome.error));
    } else {
      job->reply(error_response(job->reply.to(), bhttp::status::internal_server_error,
                                "model '" + model_name + "': inference failed: " + outcome.error));
    }
    release();
  };
  const auto refused = batcher->submit(std::move(request));
  if (!refused) return;
  release();
  switch (*refused) {
    case batch::SubmitError::queue_full:
      job->reply(overloaded(job->reply.to(), "model '" + name + "': batch queue is full (" +
                                                 std::to_string(mb->config.max_queue_size) +
                                                 " requests)"));
      break;
    case batch::SubmitError::shutdown:
      job->reply(overloaded(job->reply.to(), "server is shutting down"));
      break;
    case batch::SubmitError::invalid:  // parse_infer validated it against this model instance
      job->reply(error_response(job->reply.to(), bhttp::status::internal_server_error,
                                "model '" + name +
                                    "': request rejected by the batcher (its widths changed " +
                                    "since the batcher was made?)"));
      break;
  }
}

void V2Api::render_metrics(std::string& out) const {
  out +=
      "# HELP servelab_requests_shed_total Infer requests answered 503 at once because "
      "--max-queue infer requests were in progress (admission control).\n"
      "# TYPE servelab_requests_shed_total counter\nservelab_requests_shed_total ";
  out += std::to_string(shed_.load(std::memory_order_relaxed));
  out +=
      "\n# HELP servelab_infer_admitted Infer requests in progress under --max-queue "
      "(0 when unbounded: not counted).\n# TYPE servelab_infer_admitted gauge\n"
      "servelab_infer_admitted ";
  out += std::to_string(admitted_.load(std::memory_order_relaxed));
  out +=
      "\n# HELP servelab_infer_max_queue The --max-queue bound (0: unbounded).\n"
      "# TYPE servelab_infer_max_queue gauge\nservelab_infer_max_queue ";
  out += std::to_string(options_.max_queue);
  out += "\n";
}

// With the stall aid on, a stall is stop-the-world like a GC pause: the
// stalling pass holds stall_mu_ exclusively, every other pass takes it
// shared, so no compute thread gets past it, however many there are.
template <class Pass>
void V2Api::compute_pass(Pass&& pass) {
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
bool V2Api::should_stall() noexcept {
  if (options_.stall_every.count() <= 0 || options_.stall_for.count() <= 0) return false;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t due = next_stall_ns_.load(std::memory_order_relaxed);
  if (now < due) return false;
  const int64_t next =
      now + std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_every).count();
  return next_stall_ns_.compare_exchange_strong(due, next, std::memory_order_relaxed);
}

}  // namespace servelab::serve
