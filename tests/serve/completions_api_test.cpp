// POST /v1/completions over a real ReferenceServer on loopback: answers,
// SSE shape, the streaming toggle, gzip, errors, disconnects, slow readers.

#include "serve/completions_api.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/prometheus_text.h"
#include "serve/inference_api.h"
#include "serve/reference_server.h"
#include "serve_test_util.h"
#include "stream/gzip.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

class CompletionsServer {
 public:
  // send_buffer: the server's SO_SNDBUF, bytes (0: the kernel's autotuning).
  explicit CompletionsServer(CompletionsOptions options = {}, int hidden = 32,
                             uint64_t send_buffer = 0) {
    models::MakeOptions tokens;
    tokens.kind = "tokens";
    tokens.prefix = "tokens";
    tokens.hidden = hidden;
    EXPECT_TRUE(models::make_repository(dir_.str(), tokens).ok());
    models::MakeOptions mlp;
    mlp.dims = {4, 4};
    EXPECT_TRUE(models::make_repository(dir_.str(), mlp).ok());
    ServerConfig config;
    config.models_dir = dir_.str();
    config.http.threads = 2;
    config.http.send_buffer_bytes = send_buffer;
    config.api.compute_threads = 1;
    config.completions = options;
    auto s = ReferenceServer::open(config);
    EXPECT_TRUE(s.ok());
    server_ = std::move(*s);
    EXPECT_TRUE(server_->start().ok());
  }
  uint16_t port() const { return server_->port(); }
  const CompletionMetrics& metrics() { return server_->completions().metrics(); }
  uint64_t rejected() { return server_->completions().rejected(); }
  CompletionsApi& api() { return server_->completions(); }

  http::Response post(const std::string& body, const std::string& accept_encoding = "") {
    TestClient client;
    EXPECT_FALSE(client.connect(port()));
    http::Request req = make_request(bhttp::verb::post, "/v1/completions", body);
    if (!accept_encoding.empty()) req.set(bhttp::field::accept_encoding, accept_encoding);
    return client.roundtrip(std::move(req));
  }

 private:
  TempDir dir_{"completions"};
  std::unique_ptr<ReferenceServer> server_;
};

// The data lines of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

std::string streamed_text(const std::vector<std::string>& events) {
  std::string text;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    text += json::parse(e).at("choices").at(0).at("text").as_string().c_str();
  }
  return text;
}

std::string request(int max_tokens, bool stream, int seed = 5) {
  return R"({"model":"tokens-0","prompt":"Once upon","max_tokens":)" + std::to_string(max_tokens) +
         R"(,"temperature":1.0,"seed":)" + std::to_string(seed) + R"(,"stream":)" +
         (stream ? "true" : "false") + "}";
}

// A blocking loopback socket whose reads give up after 5 s (never hangs).
class RawClient {
 public:
  explicit RawClient(uint16_t port, int rcvbuf = 0) : socket_(ioc_) {
    socket_.open(asio::ip::tcp::v4());
    if (rcvbuf > 0) socket_.set_option(asio::socket_base::receive_buffer_size(rcvbuf));
    timeval tv{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& body) {
    const std::string req =
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::write(socket_, asio::buffer(req));
  }
  // Reads until `needle` has arrived; false on timeout or close.
  bool read_until(const std::string& needle) {
    char buf[4096];
    for (int i = 0; i < 100000 && received_.find(needle) == std::string::npos; ++i) {
      beast::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(buf), ec);
      if (ec) return false;
      received_.append(buf, n);
    }
    return received_.find(needle) != std::string::npos;
  }
  void close() {
    beast::error_code ec;
    socket_.close(ec);
  }
  const std::string& received() const { return received_; }

 private:
  asio::io_context ioc_;
  asio::ip::tcp::socket socket_;
  std::string received_;
};

TEST(Completions, NonStreamedAnswerHasTextFinishReasonAndUsage) {
  CompletionsServer server;
  http::Response res = server.post(request(12, false));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  const json::value v = json::parse(res.body());
  EXPECT_EQ(v.at("object").as_string(), "text_completion");
  EXPECT_EQ(v.at("model").as_string(), "tokens-0");
  const auto& choice = v.at("choices").at(0);
  EXPECT_EQ(choice.at("text").as_string().size(), 12u);
  EXPECT_EQ(choice.at("finish_reason").as_string(), "length");
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), 9);
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 12);
  EXPECT_EQ(v.at("usage").at("total_tokens").as_int64(), 21);
  EXPECT_EQ(server.metrics().completions.load(), 1u);
  EXPECT_EQ(server.metrics().tokens_generated.load(), 12u);
}

TEST(Completions, StreamedAnswerIsOneEventPerTokenThenUsageThenDone) {
  CompletionsServer server;
  http::Response res = server.post(request(20, true));
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[bhttp::field::content_type], "text/event-stream");
  EXPECT_TRUE(res.chunked());
  const auto events = sse_data(res.body());
  ASSERT_EQ(events.size(), 22u);  // 20 tokens, the final chunk, [DONE]
  EXPECT_EQ(events.back(), "[DONE]");
  const json::value first = json::parse(events[0]);
  EXPECT_EQ(first.at("object").as_string(), "text_completion");
  EXPECT_TRUE(first.at("choices").at(0).at("finish_reason").is_null());
  EXPECT_TRUE(first.at("choices").at(0).at("logprobs").is_null());
  EXPECT_EQ(first.at("choices").at(0).at("text").as_string().size(), 1u);
  const json::value final_chunk = json::parse(events[20]);
  EXPECT_EQ(final_chunk.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(final_chunk.at("usage").at("completion_tokens").as_int64(), 20);
  EXPECT_TRUE(wait_until([&] { return server.metrics().completions.load() == 1; }));
  EXPECT_EQ(server.metrics().streams_active.load(), 0);
  EXPECT_GE(server.metrics().stream.chunks.load(), 1u);
}

TEST(Completions, StreamedAndNonStreamedTextsAreIdenticalForASeed) {
  CompletionsServer server;
  const std::string whole = json::parse(server.post(request(64, false, 42)).body())
                                .at("choices")
                                .at(0)
                                .at("text")
                                .as_string()
                                .c_str();
  const std::string streamed = streamed_text(sse_data(server.post(request(64, true, 42)).body()));
  EXPECT_EQ(whole.size(), 64u);
  EXPECT_EQ(streamed, whole);
  const std::string other = streamed_text(sse_data(server.post(request(64, true, 43)).body()));
  EXPECT_NE(other, whole);  // the seed matters
}

TEST(Completions, StreamingOffSendsTheSameEventsWholeWithContentLength) {
  CompletionsOptions off;
  off.streaming = false;
  CompletionsServer server_off(off);
  CompletionsServer server_on;
  http::Response res = server_off.post(request(30, true, 9));
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.chunked());
  EXPECT_EQ(res[bhttp::field::content_length], std::to_string(res.body().size()));
  const auto events = sse_data(res.body());
  ASSERT_EQ(events.size(), 32u);
  EXPECT_EQ(streamed_text(events),
            streamed_text(sse_data(server_on.post(request(30, true, 9)).body())));
  EXPECT_EQ(server_off.metrics().stream.streams.load(), 0u);  // nothing went through a streamer
}

TEST(Completions, GzipStreamDecodesToTheSameEvents) {
  CompletionsServer server;
  http::Response plain = server.post(request(100, true, 3));
  http::Response gz = server.post(request(100, true, 3), "gzip");
  ASSERT_EQ(gz.result_int(), 200u);
  EXPECT_EQ(gz[bhttp::field::content_encoding], "gzip");
  const auto body = stream::gunzip(gz.body());
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(streamed_text(sse_data(*body)), streamed_text(sse_data(plain.body())));
  EXPECT_LT(gz.body().size(), plain.body().size() / 3);
  EXPECT_GT(server.metrics().stream.gzip_out_bytes.load(), 0u);
}

TEST(Completions, SmallAnswersAreNotGzipped) {
  CompletionsServer server;
  http::Response res = server.post(request(2, false), "gzip");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[bhttp::field::content_encoding], "");  // under 1 KB
}

TEST(Completions, BadRequestsGetAnErrorStatusAndMessage) {
  CompletionsServer server;
  struct Case {
    std::string body;
    unsigned status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"not json", 400, "invalid JSON"},
      {"[1]", 400, "JSON object"},
      {R"({"prompt":"x"})", 400, "'model'"},
      {R"({"model":"tokens-0"})", 400, "'prompt'"},
      {R"({"model":"tokens-0","prompt":"x","max_tokens":0})", 400, "'max_tokens'"},
      {R"({"model":"tokens-0","prompt":"x","max_tokens":"many"})", 400, "'max_tokens'"},
      {R"({"model":"tokens-0","prompt":"x","temperature":3})", 400, "'temperature'"},
      {R"({"model":"tokens-0","prompt":"x","stream":"yes"})", 400, "'stream'"},
      {R"({"model":"tokens-0","prompt":"x","n":2})", 400, "'n'"},
      {R"({"model":"nope","prompt":"x"})", 404, "not found"},
      {R"({"model":"mlp-0","prompt":"x"})", 400, "'tokens' model"},
  };
  for (const auto& c : cases) {
    http::Response res = server.post(c.body);
    EXPECT_EQ(res.result_int(), c.status) << c.body;
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    EXPECT_NE(json::parse(res.body()).at("error").as_string().find(c.says), std::string::npos)
        << c.body << " → " << res.body();
  }
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  http::Response get = client.roundtrip(make_request(bhttp::verb::get, "/v1/completions"));
  EXPECT_EQ(get.result_int(), 405u);
  EXPECT_EQ(server.rejected(), cases.size() + 1);
}

TEST(Completions, ADisconnectMidStreamCancelsTheGeneration) {
  CompletionsServer server;
  RawClient client(server.port());
  client.send(request(16384, true));
  ASSERT_TRUE(client.read_until("data: "));  // the stream is flowing
  client.close();
  EXPECT_TRUE(wait_until([&] { return server.metrics().cancelled.load() == 1; }));
  EXPECT_TRUE(wait_until([&] { return server.metrics().active.load() == 0; }));
  EXPECT_EQ(server.metrics().completions.load(), 0u);
  EXPECT_LT(server.metrics().tokens_generated.load(), 16384u);  // stopped early
}

TEST(Completions, ASlowReaderPausesGenerationWithinTheBufferBound) {
  CompletionsOptions options;
  options.stream.buffer_limit = 4096;
  // Both socket buffers small and fixed: with the kernel's autotuning the
  // server's could grow to 4 MiB and hold the whole stream.
  CompletionsServer server(options, 32, /*send_buffer=*/8192);
  RawClient client(server.port(), /*rcvbuf=*/4096);
  client.send(request(16384, true));  // ~2.5 MB of events, far beyond the socket buffers
  ASSERT_TRUE(client.read_until("data: "));
  // The client reads no more: the socket fills, then the streamer's buffer.
  ASSERT_TRUE(wait_until([&] { return server.metrics().stream.backpressure_events.load() >= 1; }));
  const uint64_t held = server.metrics().stream.max_held_bytes.load();
  EXPECT_LE(held, options.stream.buffer_limit + 512);  // bound + at most one event
  EXPECT_EQ(server.metrics().streams_active.load(), 1);
  EXPECT_EQ(server.metrics().completions.load(), 0u);
  client.close();  // a paused stream still learns that its client left
  EXPECT_TRUE(wait_until([&] { return server.metrics().cancelled.load() == 1; }));
  EXPECT_TRUE(wait_until([&] { return server.metrics().streams_active.load() == 0; }));
}

TEST(Completions, MetricsRouteShowsTheCompletionSeries) {
  CompletionsServer server;
  server.post(request(3, true));
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  http::Response res = client.roundtrip(make_request(bhttp::verb::get, "/metrics"));
  for (const char* name :
       {"servelab_completions_total", "servelab_completion_tokens_total", "servelab_streams_active",
        "servelab_completions_cancelled_total", "servelab_stream_chunks_total",
        "servelab_stream_bytes_total", "servelab_stream_backpressure_events_total",
        "servelab_stream_compression_ratio"})
    EXPECT_NE(res.body().find(std::string("\n") + name + " "), std::string::npos) << name;
}

// The model of a completion goes through the model manager as infer's does
// (InferenceApi without sockets): waits for a load in async mode, loads
// inline in sync mode, 404 unknown, 503 failed or past the wait deadline.
class CompletionsModelLookup : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("completions-lookup");
    models::MakeOptions tokens;
    tokens.kind = "tokens";
    tokens.hidden = 32;
    for (const char* prefix : {"tokens", "tampered"}) {
      tokens.prefix = prefix;
      ASSERT_TRUE(models::make_repository(dir_->str(), tokens).ok());
    }
    std::fstream weights(dir_->path() / "tampered-0" / "model.safetensors",
                         std::ios::in | std::ios::out | std::ios::binary);
    weights.seekp(-1, std::ios::end);
    weights.put('\x7f');  // same size, another sha256
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static models::ManagerOptions async_options(LoadGate& gate) {
    models::ManagerOptions o;
    o.async = true;
    o.prediction = false;
    o.on_load_start = [&gate](const std::string& name, const std::atomic<bool>& abandon) {
      gate.hold(name, abandon);
    };
    return o;
  }
  static ApiOptions api_options(bool async, std::chrono::milliseconds wait = 5s) {
    ApiOptions o;
    o.async_loading = async;
    o.load_wait_timeout = wait;
    o.compute_threads = 1;
    return o;
  }
  static http::Request completion(const std::string& model, bool stream = false) {
    return make_request(
        bhttp::verb::post, "/v1/completions",
        R"({"model":")" + model +
            R"(","prompt":"Once upon","max_tokens":5,"temperature":1.0,"seed":5,"stream":)" +
            (stream ? "true" : "false") + "}");
  }
  static std::future<http::Response> complete_async(InferenceApi& api, const std::string& model) {
    auto answer = std::make_shared<std::promise<http::Response>>();
    auto future = answer->get_future();
    api.handle_async(completion(model),
                     [answer](http::Response&& r) { answer->set_value(std::move(r)); });
    return future;
  }
  static std::map<std::string, double> scrape(InferenceApi& api) {
    return parse_prometheus_text(api.handle(make_request(bhttp::verb::get, "/metrics")).body());
  }
  static std::string error_of(const http::Response& res) {
    return std::string(json::parse(res.body()).at("error").as_string());
  }

  static std::unique_ptr<TempDir> dir_;
};

std::unique_ptr<TempDir> CompletionsModelLookup::dir_;

TEST_F(CompletionsModelLookup, ARequestForALoadingModelWaitsForTheLoadThenAnswers) {
  LoadGate gate({"tokens-0"});
  auto manager = open_manager(dir_->str(), async_options(gate));
  InferenceApi api(*manager, api_options(true));
  auto waiting = complete_async(api, "tokens-0");
  ASSERT_TRUE(wait_until([&] { return gate.held() == 1; }));
  EXPECT_EQ(waiting.wait_for(0s), std::future_status::timeout);  // no 503: it waits
  gate.open();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  http::Response res = waiting.get();
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(json::parse(res.body()).at("choices").at(0).at("text").as_string().size(), 5u);
  const auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_model_waited_requests_total"), 1);
  EXPECT_EQ(m.at("servelab_model_cache_misses_total"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="completions",code="200"})"), 1);
  EXPECT_EQ(m.at("servelab_completions_total"), 1);
}

TEST_F(CompletionsModelLookup, AWaitPastItsDeadlineIs503WithRetryAfter) {
  LoadGate gate({"tokens-0"});
  auto manager = open_manager(dir_->str(), async_options(gate));
  InferenceApi api(*manager, api_options(true, 50ms));
  http::Response res = api.handle(completion("tokens-0"));
  EXPECT_EQ(res.result_int(), 503u) << res.body();
  EXPECT_EQ(res[bhttp::field::retry_after], "1");
  EXPECT_NE(error_of(res).find("tokens-0"), std::string::npos) << res.body();
  gate.open();
  const auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_model_wait_timeouts_total"), 1);
  EXPECT_EQ(m.at("servelab_completions_rejected_total"), 1);
}

TEST_F(CompletionsModelLookup, SyncModeLoadsTheModelInline) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  EXPECT_EQ(api.handle(completion("tokens-0")).result_int(), 200u);
  EXPECT_EQ(api.handle(completion("tokens-0")).result_int(), 200u);
  const auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_model_loads_total"), 1);
  EXPECT_EQ(m.at("servelab_model_cache_misses_total"), 1);
  EXPECT_EQ(m.at("servelab_model_cache_hits_total"), 1);
  EXPECT_EQ(m.at("servelab_model_waited_requests_total"), 0);
}

TEST_F(CompletionsModelLookup, UnknownModelIs404AndAFailedOne503WithItsReason) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  http::Response unknown = api.handle(completion("nope"));
  EXPECT_EQ(unknown.result_int(), 404u);
  EXPECT_EQ(error_of(unknown), "model 'nope' not found");
  http::Response failed = api.handle(completion("tampered-0"));
  EXPECT_EQ(failed.result_int(), 503u) << failed.body();
  EXPECT_NE(error_of(failed).find("tampered-0"), std::string::npos) << failed.body();
  EXPECT_NE(error_of(failed).find("sha256"), std::string::npos) << failed.body();
  EXPECT_EQ(api.completions().rejected(), 2u);
}

TEST_F(CompletionsModelLookup, AStreamedRequestWithoutAConnectionIsSentWhole) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  http::Response res = api.handle(completion("tokens-0", /*stream=*/true));
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.chunked());
  EXPECT_EQ(res[bhttp::field::content_type], "text/event-stream");
  EXPECT_EQ(sse_data(res.body()).size(), 7u);  // 5 tokens, the final chunk, [DONE]
}

}  // namespace
}  // namespace servelab::serve

namespace servelab::serve {
namespace {

std::string completion_body(const std::string& prompt, int64_t max_tokens, bool stream) {
  return R"({"model":"tokens-0","prompt":")" + prompt + R"(","max_tokens":)" +
         std::to_string(max_tokens) + R"(,"seed":1,"stream":)" + (stream ? "true" : "false") + "}";
}

TEST(CompletionsLimits, APromptOverTheLimitIs400NamingTheLimit) {
  CompletionsOptions options;
  options.max_prompt_tokens = 100;
  CompletionsServer server(options);
  http::Response res = server.post(completion_body(std::string(101, 'a'), 4, false));
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_NE(json::parse(res.body()).at("error").as_string().find("--max-prompt-tokens"),
            std::string::npos)
      << res.body();
  EXPECT_EQ(server.metrics().prompt_tokens.load(), 0u);  // nothing was prefilled
  EXPECT_EQ(server.post(completion_body(std::string(100, 'a'), 4, false)).result_int(), 200u);
  http::Response many = server.post(completion_body("x", 16385, false));
  EXPECT_EQ(many.result_int(), 400u);
  EXPECT_NE(many.body().find("--max-tokens"), std::string::npos) << many.body();
}

TEST(CompletionsLimits, PastTheCompletionsCapRequestsGet503WithRetryAfterAtOnce) {
  CompletionsOptions options;
  options.max_completions = 1;
  CompletionsServer server(options);
  RawClient first(server.port());
  first.send(request(16384, true));
  ASSERT_TRUE(first.read_until("data: "));  // holds the one place
  http::Response res = server.post(request(2, false));
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_EQ(res[bhttp::field::retry_after], "1");
  EXPECT_NE(json::parse(res.body()).at("error").as_string().find("--max-completions"),
            std::string::npos)
      << res.body();
  first.close();
  ASSERT_TRUE(wait_until([&] { return server.metrics().active.load() == 0; }));
  EXPECT_TRUE(wait_until([&] { return server.post(request(2, false)).result_int() == 200u; }));
}

TEST(CompletionsCancel, AWholeAnswerWhoseClientLeavesIsCancelled) {
  CompletionsOptions options;
  options.streaming = false;
  options.max_prompt_tokens = 4 << 20;
  CompletionsServer server(options, /*hidden=*/256);
  for (const bool stream : {false, true}) {
    const uint64_t cancelled = server.metrics().cancelled.load();
    RawClient client(server.port());
    // Seconds of prefill (a long generation might stop early on its own).
    client.send(completion_body(std::string(1 << 20, 'a'), 16384, stream));
    ASSERT_TRUE(wait_until([&] { return server.metrics().active.load() == 1; }));
    client.close();
    EXPECT_TRUE(
        wait_until([&] { return server.metrics().cancelled.load() == cancelled + 1; }, 3000ms))
        << "stream " << stream;
    EXPECT_TRUE(wait_until([&] { return server.metrics().active.load() == 0; }));
  }
  EXPECT_EQ(server.metrics().completions.load(), 0u);
  EXPECT_EQ(server.rejected(), 0u);  // 499s are cancellations, not rejections
}

TEST(CompletionsCancel, ALongPrefillDoesNotHoldBackAShortCompletionAndStopsWhenItsClientLeaves) {
  CompletionsOptions options;
  options.max_prompt_tokens = 4 << 20;
  CompletionsServer server(options, /*hidden=*/256);  // one compute thread
  RawClient big(server.port());
  big.send(completion_body(std::string(2 << 20, 'a'), 2, false));  // tens of seconds of prefill
  ASSERT_TRUE(wait_until([&] { return server.metrics().active.load() == 1; }));
  RawClient small(server.port());  // reads give up after 5 s
  const auto sent = std::chrono::steady_clock::now();
  small.send(completion_body("Hi", 2, false));
  ASSERT_TRUE(small.read_until("\"finish_reason\"")) << small.received();
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 2s);
  EXPECT_EQ(server.metrics().completions.load(), 1u);  // the small one; the big one still prefills
  EXPECT_EQ(server.metrics().active.load(), 1);
  big.close();
  EXPECT_TRUE(wait_until([&] { return server.metrics().cancelled.load() == 1; }, 2000ms));
  EXPECT_EQ(server.metrics().active.load(), 0);
}

TEST(CompletionsCancel, ShutdownStopsTheGenerationsInFlight) {
  CompletionsOptions options;
  options.max_prompt_tokens = 4 << 20;
  CompletionsServer server(options, /*hidden=*/256);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 4; ++i) {  // streamed and whole, each seconds of generation
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->send(completion_body(std::string(1 << 20, 'a'), 16384, i % 2 == 0));
  }
  ASSERT_TRUE(wait_until([&] { return server.metrics().active.load() == 4; }));
  server.api().shutdown();
  // The outcome is counted last, after the gauges come down: wait on it.
  EXPECT_TRUE(wait_until([&] { return server.metrics().cancelled.load() == 4u; }, 2000ms))
      << server.metrics().cancelled.load() << " of 4 cancelled";
  EXPECT_EQ(server.metrics().active.load(), 0);
  ASSERT_TRUE(clients[1]->read_until("\r\n\r\n"));  // a whole answer: 503
  EXPECT_EQ(clients[1]->received().rfind("HTTP/1.1 503", 0), 0u) << clients[1]->received();
}

}  // namespace
}  // namespace servelab::serve
