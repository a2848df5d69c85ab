#include "serve/completions_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <iterator>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "models/token_model.h"
#include "serve/responses.h"
#include "stream/gzip.h"
#include "stream/streamer.h"

namespace servelab::serve {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;

namespace {

constexpr int64_t kDefaultMaxTokens = 16;  // OpenAI's default
constexpr double kMaxTemperature = 2.0;    // OpenAI's range [0, 2]
// Bytes of one token's SSE event beyond the model name (for the gzip
// decision, made before the first token exists).
constexpr size_t kEventOverhead = 140;
// Prompt tokens prefilled per compute task. A long prompt is fed a chunk at
// a time and re-posted behind the other tasks, so it shares the compute
// threads with shorter completions and stops within one chunk when its
// client leaves: 128 steps are about 3 ms at hidden 512 (23 µs a step).
constexpr size_t kPrefillChunk = 128;
// nginx's "client closed request": the status a completion whose client
// left is counted under (nobody receives it).
constexpr unsigned kClientClosedRequest = 499;

// JSON string escaping of one text token: printable ASCII and '\n' only
// (TokenModel never produces anything else).
void append_token_json(std::string& out, char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out += c;
  }
}

}  // namespace

// One completion, from parsed request to last byte. Lives in shared_ptrs
// held by its pool task or by its Streamer's resume callback.
struct CompletionJob : std::enable_shared_from_this<CompletionJob> {
  CompletionJob(CompletionsApi* a, const Reply& r) : api(a), reply(r) {}
  ~CompletionJob() { release_admission(); }
  CompletionJob(const CompletionJob&) = delete;
  CompletionJob& operator=(const CompletionJob&) = delete;
  CompletionsApi* api;
  Reply reply;               // counts the answer; streamed answers go through `streamer`
  models::ModelLease lease;  // pins the model until the job is destroyed
  std::shared_ptr<const models::TokenModel> model;
  std::string model_name;
  std::string prompt;
  float temperature = 1.0f;
  uint64_t seed = 0;
  int64_t max_tokens = kDefaultMaxTokens;
  bool stream = false;          // the client asked for SSE
  std::string accept_encoding;  // the request's Accept-Encoding
  bool gzip_whole = false;      // the client accepts gzip (whole answers)
  std::string id;
  int64_t created = 0;

  std::shared_ptr<stream::Streamer> streamer;       // streamed answers (streaming on)
  std::optional<models::TokenGenerator> generator;  // made by the first step (prefill)
  size_t prefilled = 0;                             // prompt bytes fed so far (chunked prefill)
  int64_t counted_prompt = 0;  // prompt tokens already added to the metric (per chunk)
  bool admitted = false;       // holds one of --max-completions' places
  int64_t completion_tokens = 0;
  std::string text;    // the completion's text (stream false)
  std::string body;    // streamed with streaming off: every event, sent at the end
  std::string event;   // scratch: one event, reused
  std::string prefix;  // `data: {"id":..,"choices":[{"text":"` , the same for every event
  std::atomic<bool> ended{false};

  void post() {
    api->pool_.post([self = shared_from_this()] { self->step(); });
  }

  void release_admission() {
    if (!admitted) return;
    admitted = false;
    api->admitted_.fetch_sub(1, std::memory_order_relaxed);
  }

  enum class Stop { none, client_gone, shutdown };
  // Checked before every task: a generation nobody waits for stops here.
  Stop stop_reason() const {
    if (reply.client_gone() || (streamer && streamer->failed())) return Stop::client_gone;
    if (api->shut_down_.load(std::memory_order_relaxed)) return Stop::shutdown;
    return Stop::none;
  }

  // One token, or one chunk of the prompt's prefill (the last chunk with the
  // first token). On a compute thread.
  void step() {
    if (ended.load(std::memory_order_acquire)) return;
    if (const Stop why = stop_reason(); why != Stop::none) {
      cancel(why);
      return;
    }
    if (!generator) generator.emplace(model, temperature, seed);
    if (prefilled < prompt.size()) {
      const size_t n = std::min(kPrefillChunk, prompt.size() - prefilled);
      generator->feed(std::string_view(prompt).substr(prefilled, n));
      prefilled += n;
      // Counted as fed, so that a cancelled prefill shows what it cost.
      api->metrics_.prompt_tokens.fetch_add(n, std::memory_order_relaxed);
      counted_prompt += static_cast<int64_t>(n);
      if (prefilled < prompt.size()) {
        post();  // behind the tasks queued meanwhile: other completions go on
        return;
      }
      std::string().swap(prompt);  // a long prompt's bytes are not needed any more
      prefilled = 0;
    }
    const uint8_t token = generator->next();
    const bool stop = token == models::TokenModel::kEndToken;
    if (!stop) {
      ++completion_tokens;
      if (stream) {
        event.assign(prefix);
        append_token_json(event, static_cast<char>(token));
        event += R"(","index":0,"logprobs":null,"finish_reason":null}]})";
        event += "\n\n";
      } else {
        text += static_cast<char>(token);
      }
    }
    const bool last = stop || completion_tokens >= max_tokens;
    if (last) {
      // From here the job ends through finish()'s callback only: no resume
      // may start another step next to it.
      if (streamer) streamer->on_resume(nullptr);
      if (stream && !stop) emit(event);
      finish(stop ? "stop" : "length");
      return;
    }
    if (!stream || emit(event)) post();
    // else: paused; the Streamer's resume callback posts the next step.
  }

  // Stops the generation early. A stream is cut (the client sees no last
  // chunk); a whole answer gets 503 at shutdown, or 499 when its client left
  // (sent to nobody, but counted).
  void cancel(Stop why) {
    if (streamer) {
      streamer->on_resume(nullptr);  // the abort's failed write must not post another step
      streamer->abort();
      end(Outcome::cancelled);
      return;
    }
    end(Outcome::cancelled);
    if (why == Stop::shutdown) {
      reply(overloaded(reply.to(), "server is shutting down"));
    } else {
      Response res = error_response(reply.to(), bhttp::status::bad_request,
                                    "the client closed the connection");
      res.result(kClientClosedRequest);
      reply(std::move(res));
    }
  }

  // Hands one event to the stream (or the whole body); false: paused.
  bool emit(const std::string& e) {
    if (streamer) return streamer->write(e);
    body += e;
    return true;
  }

  std::string usage_json() const {
    return fmt::format(R"({{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}})",
                       generator->prompt_tokens(), completion_tokens,
                       generator->prompt_tokens() + completion_tokens);
  }

  void finish(std::string_view reason) {
    auto& m = api->metrics_;
    // What the chunks did not count: the empty prompt's start-of-text token.
    m.prompt_tokens.fetch_add(static_cast<uint64_t>(generator->prompt_tokens() - counted_prompt),
                              std::memory_order_relaxed);
    if (stream) {
      event.assign(prefix);
      event += fmt::format(R"(","index":0,"logprobs":null,"finish_reason":"{}"}}],"usage":{}}})",
                           reason, usage_json());
      event += "\n\ndata: [DONE]\n\n";
      emit(event);
      if (streamer) {
        streamer->finish([self = shared_from_this()](bool ok) {
          self->end(ok ? Outcome::completed : Outcome::cancelled);
        });
        return;
      }
      end(Outcome::completed);
      send_whole(std::move(body), kEventStream);
    } else {
      json::object choice;
      choice["text"] = text;
      choice["index"] = 0;
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = reason;
      json::object o;
      o["id"] = id;
      o["object"] = "text_completion";
      o["created"] = created;
      o["model"] = model_name;
      o["choices"] = json::array{std::move(choice)};
      o["usage"] = json::parse(usage_json());
      end(Outcome::completed);  // before the answer: a client that has it sees the counters
      send_whole(json::serialize(o), kJson);
    }
  }

  void send_whole(std::string b, std::string_view content_type) {
    Response res = make_response(reply.to(), bhttp::status::ok, std::string(), content_type);
    const auto& cfg = api->options_.stream;
    if (gzip_whole) {
      if (auto gz = stream::gzip_if_worth(b, cfg.gzip_min_bytes, cfg.gzip_min_saving)) {
        res.set(bhttp::field::content_encoding, "gzip");
        b = std::move(*gz);
      }
    }
    res.body() = std::move(b);
    res.prepare_payload();
    reply(std::move(res));
  }

  enum class Outcome { completed, cancelled };
  // The generation is over. Counted once: a stream that fails while its
  // last chunk is queued may report both from two threads.
  void end(Outcome outcome) {
    if (ended.exchange(true, std::memory_order_acq_rel)) return;
    auto& m = api->metrics_;
    m.tokens_generated.fetch_add(static_cast<uint64_t>(completion_tokens),
                                 std::memory_order_relaxed);
    m.active.fetch_sub(1, std::memory_order_relaxed);
    if (streamer) {
      m.streams_active.fetch_sub(1, std::memory_order_relaxed);
      std::lock_guard lock(api->streams_mu_);
      api->streams_.erase(this);
    }
    release_admission();
    // Last, so that whoever sees the outcome counted also sees the gauges down.
    (outcome == Outcome::completed ? m.completions : m.cancelled)
        .fetch_add(1, std::memory_order_release);
    streamer.reset();  // breaks the job ↔ streamer cycle (resume callback)
  }
};

CompletionsApi::CompletionsApi(models::ModelManager& manager, batch::ComputePool& pool,
                               ServerMetrics& metrics, CompletionsOptions options,
                               std::chrono::milliseconds load_wait_timeout)
    : manager_(manager),
      pool_(pool),
      server_metrics_(metrics),
      options_(std::move(options)),
      load_wait_timeout_(load_wait_timeout) {}

void CompletionsApi::complete(Request&& request, const PathParams&, const Reply& reply) {
  auto reject = [&](bhttp::status status, std::string_view message) {
    reply(error_response(request, status, message));
  };
  boost::system::error_code ec;
  const json::value doc = json::parse(request.body(), ec);
  if (ec) return reject(bhttp::status::bad_request, "invalid JSON body: " + ec.message());
  const json::object* root = doc.if_object();
  if (!root) return reject(bhttp::status::bad_request, "request body must be a JSON object");

  auto job = std::make_shared<CompletionJob>(this, reply);
  const json::value* model_v = root->if_contains("model");
  if (!model_v || !model_v->is_string())
    return reject(bhttp::status::bad_request, "missing 'model': expected a string");
  job->model_name = model_v->get_string();

  if (const json::value* p = root->if_contains("prompt")) {
    const json::string* text = nullptr;
    if (p->is_string()) {
      text = &p->get_string();
    } else if (p->is_array() && p->get_array().size() == 1 && p->get_array()[0].is_string()) {
      text = &p->get_array()[0].get_string();
    } else {
      return reject(bhttp::status::bad_request,
                    "'prompt' must be a string (or an array of one string)");
    }
    // Checked before anything is computed: prefill costs one step per token.
    if (static_cast<int64_t>(text->size()) > options_.max_prompt_tokens) {
      return reject(bhttp::status::bad_request,
                    fmt::format("'prompt' is {} tokens; the limit is {} (--max-prompt-tokens)",
                                text->size(), options_.max_prompt_tokens));
    }
    job->prompt = *text;
  } else {
    return reject(bhttp::status::bad_request, "missing 'prompt': expected a string");
  }
  if (const json::value* v = root->if_contains("max_tokens"); v && !v->is_null()) {
    const auto n = v->to_number<int64_t>(ec);
    if (ec || n < 1 || n > options_.max_tokens_limit)
      return reject(bhttp::status::bad_request,
                    fmt::format("'max_tokens' must be an integer between 1 and {} (--max-tokens)",
                                options_.max_tokens_limit));
    job->max_tokens = n;
  }
  if (const json::value* v = root->if_contains("stream"); v && !v->is_null()) {
    if (!v->is_bool()) return reject(bhttp::status::bad_request, "'stream' must be true or false");
    job->stream = v->get_bool();
  }
  if (const json::value* v = root->if_contains("temperature"); v && !v->is_null()) {
    const auto t = v->to_number<double>(ec);
    if (ec || !(t >= 0.0 && t <= kMaxTemperature))
      return reject(bhttp::status::bad_request, "'temperature' must be a number between 0 and 2");
    job->temperature = static_cast<float>(t);
  }
  if (const json::value* v = root->if_contains("seed"); v && !v->is_null()) {
    const auto s = v->to_number<int64_t>(ec);
    if (ec) return reject(bhttp::status::bad_request, "'seed' must be an integer");
    job->seed = static_cast<uint64_t>(s);
  } else {
    // No seed: a different sample each time, like the OpenAI API.
    job->seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                next_id_.load(std::memory_order_relaxed);
  }
  if (const json::value* v = root->if_contains("n"); v && !v->is_null()) {
    const auto n = v->to_number<int64_t>(ec);
    if (ec || n != 1) return reject(bhttp::status::bad_request, "only 'n': 1 is supported");
  }
  job->accept_encoding = request[bhttp::field::accept_encoding];

  // Admission: past the cap, 503 at once (nothing is queued), so that a
  // burst cannot pile up generations and their buffered answers.
  if (options_.max_completions > 0) {
    if (admitted_.fetch_add(1, std::memory_order_relaxed) >= options_.max_completions) {
      admitted_.fetch_sub(1, std::memory_order_relaxed);
      return reply(overloaded(request, fmt::format("{} completions are in progress, the limit "
                                                   "(--max-completions); retry later",
                                                   options_.max_completions)));
    }
    job->admitted = true;
  }
  // From here a client that leaves stops its completion (CompletionJob::step()).
  reply.watch_client();

  // The model, exactly as infer leases it: a ready model (or a sync-mode
  // inline load) calls back right here; otherwise a loader or timer thread
  // calls back later.
  const std::thread::id caller = std::this_thread::get_id();
  const auto deadline = std::chrono::steady_clock::now() + load_wait_timeout_;
  manager_.acquire(job->model_name, deadline, [this, job, caller](models::Acquired acquired) {
    start(job, std::move(acquired), std::this_thread::get_id() != caller);
  });
}

void CompletionsApi::start(const std::shared_ptr<CompletionJob>& job, models::Acquired acquired,
                           bool waited) {
  const Reply& reply = job->reply;
  if (waited) server_metrics_.record_model_wait();
  if (!acquired.ok()) return reply(acquire_error(reply.to(), job->model_name, acquired));
  job->model = std::dynamic_pointer_cast<const models::TokenModel>(acquired.lease.shared());
  if (!job->model) {
    return reply(error_response(
        reply.to(), bhttp::status::bad_request,
        fmt::format("model '{}' is of kind '{}'; /v1/completions needs a 'tokens' model",
                    job->model_name, acquired.lease->config().kind)));
  }
  if (shut_down_.load(std::memory_order_relaxed)) {
    return reply(overloaded(reply.to(), "server is shutting down"));  // with Retry-After
  }
  if (reply.client_gone()) {  // left while its model loaded
    Response res =
        error_response(reply.to(), bhttp::status::bad_request, "the client closed the connection");
    res.result(kClientClosedRequest);
    metrics_.cancelled.fetch_add(1, std::memory_order_relaxed);
    return reply(std::move(res));
  }
  job->lease = std::move(acquired.lease);

  job->id = fmt::format("cmpl-{:x}", next_id_.fetch_add(1, std::memory_order_relaxed));
  job->created = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  job->gzip_whole = options_.gzip && stream::accepts_gzip(job->accept_encoding);
  metrics_.active.fetch_add(1, std::memory_order_relaxed);

  if (job->stream) {
    job->prefix = fmt::format(
        R"(data: {{"id":"{}","object":"text_completion","created":{},"model":{},"choices":[{{"text":")",
        job->id, job->created, json::serialize(json::string(job->model_name)));
    job->event.reserve(job->prefix.size() + 256);
  }
  if (job->stream && options_.streaming) {
    stream::StreamConfig cfg = options_.stream;
    const size_t expected =
        static_cast<size_t>(job->max_tokens) * (job->prefix.size() + kEventOverhead / 2);
    cfg.gzip = options_.gzip && stream::use_gzip(job->accept_encoding, expected, cfg);
    http::ResponseHeader header;
    header.result(bhttp::status::ok);
    header.set(bhttp::field::content_type, kEventStream);
    header.set(bhttp::field::cache_control, "no-cache");
    if (cfg.gzip) header.set(bhttp::field::content_encoding, "gzip");
    // Null without a connection (InferenceApi::handle()): then the events
    // are sent whole, as with the toggle off.
    if (auto writer = reply.stream(std::move(header))) {
      job->streamer = stream::Streamer::create(std::move(writer), cfg, &metrics_.stream);
      // The callback holds the job strongly while the stream is paused (the
      // job holds the streamer until end(), which breaks the cycle).
      job->streamer->on_resume([job] { job->post(); });
      metrics_.streams_active.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(streams_mu_);
      streams_.emplace(job.get(), job->streamer);
    }
  }
  if (job->stream && !job->streamer) {
    // Grows as tokens come past this (a completion may stop early or be
    // cancelled): never reserve max_tokens' worth up front.
    constexpr int64_t kReserveTokens = 1024;
    job->body.reserve(static_cast<size_t>(std::min(job->max_tokens, kReserveTokens)) *
                      (job->prefix.size() + 64));
  }
  job->post();
}

void CompletionsApi::shutdown() {
  shut_down_.store(true, std::memory_order_relaxed);
  std::vector<std::shared_ptr<stream::Streamer>> streams;
  {
    std::lock_guard lock(streams_mu_);
    for (auto& [job, weak] : streams_)
      if (auto s = weak.lock()) streams.push_back(std::move(s));
  }
  // A cut stream fails its write in flight; its job learns of it through
  // the resume callback and ends as cancelled. Jobs on the pool see the flag.
  for (auto& s : streams) s->abort();
}

void CompletionsApi::render_metrics(std::string& out) const {
  auto it = std::back_inserter(out);
  auto series = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
    fmt::format_to(it, "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
  };
  const auto rd = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  series("servelab_completions_total", "counter",
         "Completions (/v1/completions) finished and fully sent.", rd(metrics_.completions));
  series("servelab_completions_rejected_total", "counter",
         "Completion requests answered with an error status.", rejected());
  series("servelab_completions_cancelled_total", "counter",
         "Completions stopped early because the client went away or the server shut down.",
         rd(metrics_.cancelled));
  series("servelab_completions_active", "gauge", "Completions generating now.",
         rd(metrics_.active));
  series("servelab_completion_prompt_tokens_total", "counter", "Prompt tokens prefilled.",
         rd(metrics_.prompt_tokens));
  series("servelab_completion_tokens_total", "counter",
         "Tokens generated (counted when a completion ends).", rd(metrics_.tokens_generated));
  series("servelab_streams_active", "gauge", "Streamed responses being sent now.",
         rd(metrics_.streams_active));
  const auto& s = metrics_.stream;
  series("servelab_streams_total", "counter", "Streamed responses started.", rd(s.streams));
  series("servelab_stream_chunks_total", "counter", "HTTP chunks written by streamed responses.",
         rd(s.chunks));
  series("servelab_stream_bytes_total", "counter",
         "Body bytes written by streamed responses (after gzip).", rd(s.bytes));
  series("servelab_stream_backpressure_events_total", "counter",
         "Times a producer was paused because its stream's buffer was full.",
         rd(s.backpressure_events));
  series("servelab_stream_max_held_bytes", "gauge",
         "Most bytes one stream has held at once (waiting + being written; bounded by "
         "--stream-buffer).",
         rd(s.max_held_bytes));
  series("servelab_stream_failed_total", "counter", "Streamed responses whose connection failed.",
         rd(s.failed));
  const uint64_t gz_in = rd(s.gzip_in_bytes);
  const uint64_t gz_out = rd(s.gzip_out_bytes);
  series("servelab_stream_gzip_in_bytes_total", "counter",
         "Gzipped streams: bytes before compression.", gz_in);
  series("servelab_stream_gzip_out_bytes_total", "counter",
         "Gzipped streams: bytes after compression.", gz_out);
  series("servelab_stream_compression_ratio", "gauge",
         "Gzipped streams: bytes before / after compression (0: none yet).",
         gz_out ? static_cast<double>(gz_in) / static_cast<double>(gz_out) : 0.0);
}

}  // namespace servelab::serve
