// The engine runs `generate` requests: body per prompt, the write callback
// feeds the slot's tracker, completion records tokens/TTFT, broken streams
// are protocol errors. Against an in-process server answering whole bodies
// (the real streaming server is exercised in tests/integration).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <string>

#include "load/engine.h"
#include "test_server.h"

namespace servelab::load {
namespace {

using namespace std::chrono_literals;
using testing::make_response;
using testing::TestServer;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr int kTokens = 5;

// n completion chunks with one-byte texts, a usage chunk, then [DONE] (unless cut).
std::string sse_body(int n, bool done) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out +=
        R"(data: {"object":"text_completion","choices":[{"index":0,"text":"x","finish_reason":null}]})"
        "\n\n";
  out += "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":" +
         std::to_string(n) + "}}\n\n";
  if (done) out += "data: [DONE]\n\n";
  return out;
}

class CompletionServer {
 public:
  CompletionServer()
      : server_([this](http::Request&& req) {
          json::error_code ec;
          json::value body = json::parse(req.body(), ec);
          if (ec || req.target() != "/v1/completions" || !body.is_object()) {
            bad_.fetch_add(1);
            return make_response(req, bhttp::status::bad_request, R"({"error":"bad"})",
                                 "application/json");
          }
          const json::object& o = body.as_object();
          const std::string prompt(o.at("prompt").as_string());
          (prompt == "one" ? prompt_one_ : prompt_two_).fetch_add(1);
          if (o.at("model").as_string() == "broken")
            return make_response(req, bhttp::status::ok, sse_body(kTokens, false),
                                 "text/event-stream");
          if (o.at("stream").as_bool())
            return make_response(req, bhttp::status::ok, sse_body(kTokens, true),
                                 "text/event-stream");
          return make_response(
              req, bhttp::status::ok,
              R"({"choices":[{"index":0,"text":"xxxxx","finish_reason":"length"}],)"
              R"("usage":{"prompt_tokens":1,"completion_tokens":5,"total_tokens":6}})",
              "application/json");
        }) {}
  TestServer& server() { return server_; }
  std::atomic<uint64_t> prompt_one_{0}, prompt_two_{0}, bad_{0};

 private:
  TestServer server_;
};

scenario::Scenario generate_scenario(std::string model, bool stream) {
  scenario::Scenario s;
  s.load.mode = scenario::LoadMode::closed;
  s.load.connections = 2;
  s.load.threads = 1;
  s.load.duration = 300ms;
  s.load.timeout = 2s;
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::generate;
  r.model = std::move(model);
  r.url = "/v1/completions";
  r.prompts = {"one", "two"};
  r.max_tokens = kTokens;
  r.stream = stream;
  s.requests = {r};
  return s;
}

Result<RunStats> run_scenario(const scenario::Scenario& s, const std::string& base) {
  auto plan = make_plan(s, base);
  if (!plan) return plan.error();
  std::atomic<bool> stop{false};
  return run(*plan, stop, ProgressFn());
}

TEST(GenerateEngine, StreamedAnswersGiveTokensTtftAndItl) {
  CompletionServer server;
  ASSERT_TRUE(server.server().started()) << server.server().error();
  auto stats = run_scenario(generate_scenario("m", true), server.server().base_url());
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const GenerateStats& g = stats->generate;
  EXPECT_TRUE(g.enabled);
  EXPECT_EQ(stats->counters.error_total(), 0u);
  EXPECT_EQ(server.bad_.load(), 0u);
  ASSERT_GT(g.requests, 0u);
  EXPECT_EQ(g.requests, stats->counters.ok);
  EXPECT_EQ(g.streamed, g.requests);
  EXPECT_EQ(g.output_tokens, g.requests * kTokens);
  EXPECT_EQ(g.ttft.count(), g.requests);
  EXPECT_EQ(g.itl.count(), g.requests * (kTokens - 1));
  EXPECT_EQ(g.issue_total(), 0u);
  // Prompts are drawn per request: both were sent.
  EXPECT_GT(server.prompt_one_.load(), 0u);
  EXPECT_GT(server.prompt_two_.load(), 0u);
}

TEST(GenerateEngine, NonStreamedAnswersHaveTtftEqualToLatencyAndNoItl) {
  CompletionServer server;
  ASSERT_TRUE(server.server().started()) << server.server().error();
  auto stats = run_scenario(generate_scenario("m", false), server.server().base_url());
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const GenerateStats& g = stats->generate;
  ASSERT_GT(g.requests, 0u);
  EXPECT_EQ(g.streamed, 0u);
  EXPECT_EQ(g.output_tokens, g.requests * kTokens);
  EXPECT_EQ(g.itl.count(), 0u);
  EXPECT_EQ(g.ttft, stats->latency) << "TTFT of a whole answer is its latency";
}

TEST(GenerateEngine, StreamWithoutDoneIsAProtocolError) {
  CompletionServer server;
  ASSERT_TRUE(server.server().started()) << server.server().error();
  auto stats = run_scenario(generate_scenario("broken", true), server.server().base_url());
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_GT(stats->counters.requests, 0u);
  EXPECT_EQ(stats->counters.errors[static_cast<size_t>(ErrorClass::protocol)],
            stats->counters.requests);
  EXPECT_EQ(stats->generate.issue(GenerateIssue::missing_done), stats->counters.requests);
  EXPECT_EQ(stats->generate.requests, 0u);
  EXPECT_EQ(stats->generate.ttft.count(), 0u);
}

}  // namespace
}  // namespace servelab::load
