// The generator's `generate` requests against a real servelab-server with a
// real tokens model: streamed and not, with the server's streaming toggle on
// and off. Counts must match the server's /metrics; streaming must give a
// first token before the end; with the toggle off the server must send the
// whole answer at once (Content-Length, no chunks, no stream started).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

#include "fixture.h"
#include "load/engine.h"
#include "load/plan.h"
#include "models/repository_maker.h"
#include "runner/scenario_runner.h"
#include "support/wait_until.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kConnections = 4;
constexpr int kMaxTokens = 48;
const std::string kCompletions = "servelab_completions_total";
const std::string kTokens = "servelab_completion_tokens_total";
// Counted when the server starts a streamed (chunked) response, before its
// first byte; a whole answer never counts here.
const std::string kStreams = "servelab_streams_total";

std::string make_tokens_model(const TempDir& dir) {
  models::MakeOptions o;
  o.kind = "tokens";
  o.prefix = "tokens";
  const std::string repo = (dir.path() / "models").string();
  auto made = models::make_repository(repo, o);
  EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.error().message);
  return repo;
}

scenario::Scenario generate_scenario(const std::string& url, bool stream) {
  scenario::Scenario s;
  s.name = "generate-integration";
  s.target = url;
  s.load.connections = kConnections;
  // 2 s: under ThreadSanitizer a 48-token completion takes about 0.5 s, so
  // 1 s on 4 connections could end with 5 answers or fewer (measured).
  s.load.duration = 2s;
  s.load.timeout = 5s;
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::generate;
  r.name = "generate tokens-0";
  r.model = "tokens-0";
  r.url = "/v1/completions";
  r.prompts = {"Hello", "The quick brown fox"};
  r.max_tokens = kMaxTokens;
  r.stream = stream;
  s.requests.push_back(r);
  return s;
}

struct Measured {
  load::RunStats stats;
  double completions = 0;  // server's counters over the run
  double tokens = 0;
  double streams = 0;
};

Measured run_against(const runner::ServerProcess& server, const scenario::Scenario& s) {
  MeasuredRun r = run_measured(server, s);
  const std::map<std::string, double>& before = r.before;
  Measured m{std::move(r.stats), 0, 0, 0};
  // The server counts a completion once its last byte is written, which can
  // be a moment after the client read it: wait for the counter (bounded).
  const auto ok = static_cast<double>(m.stats.generate.requests);
  const bool counted = wait_until([&] {
    const auto after = runner::scrape_metrics(server.base_url());
    m.completions = metric(after, kCompletions) - metric(before, kCompletions);
    m.tokens = metric(after, kTokens) - metric(before, kTokens);
    m.streams = metric(after, kStreams) - metric(before, kStreams);
    return m.completions >= ok;
  });
  EXPECT_TRUE(counted) << "the server counted " << m.completions
                       << " completions within 5 s, the client " << ok;
  return m;
}

namespace beast = boost::beast;
namespace bhttp = beast::http;

// One POST /v1/completions on a fresh connection, read whole; the headers
// show how the server framed the answer (chunked or Content-Length).
bhttp::response<bhttp::string_body> post_completion(const std::string& base_url, bool stream) {
  const std::string host_port = base_url.substr(base_url.find("://") + 3);
  const size_t colon = host_port.rfind(':');
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream socket(io);
  socket.expires_after(10s);
  socket.connect(resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1)));
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, "/v1/completions", 11};
  request.set(bhttp::field::host, host_port);
  request.set(bhttp::field::content_type, "application/json");
  request.body() =
      fmt::format(R"({{"model":"tokens-0","prompt":"Hello","max_tokens":{},"stream":{},"seed":1}})",
                  kMaxTokens, stream);
  request.prepare_payload();
  bhttp::write(socket, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(socket, buffer, response);
  return response;
}

// What every generate run must satisfy against the real server.
void expect_consistent(const Measured& m) {
  const auto& c = m.stats.counters;
  const auto& g = m.stats.generate;
  EXPECT_TRUE(g.enabled);
  EXPECT_GT(g.requests, 5u);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_EQ(g.requests, c.ok);
  EXPECT_EQ(g.issue_total(), 0u) << "no missing [DONE], bad events, usage mismatches";
  // Every ok answer was a server completion; requests in flight at the end
  // may have completed too (at most one per connection).
  EXPECT_GE(m.completions, static_cast<double>(g.requests));
  EXPECT_LE(m.completions, static_cast<double>(g.requests + c.unfinished + kConnections));
  EXPECT_GE(m.tokens, static_cast<double>(g.output_tokens));
  EXPECT_LE(m.tokens,
            static_cast<double>(g.output_tokens + (c.unfinished + kConnections) * kMaxTokens));
  EXPECT_LE(g.output_tokens, g.requests * kMaxTokens);
  EXPECT_EQ(g.ttft.count(), g.requests);
}

TEST(GenerateAgainstServer, StreamedAnswersMatchServerCountsAndFirstTokenComesFirst) {
  TempDir dir;
  auto server = start_server(make_tokens_model(dir), {"--streaming", "on"});
  const Measured m = run_against(server, generate_scenario(server.base_url(), true));
  expect_consistent(m);
  const auto& g = m.stats.generate;
  EXPECT_EQ(g.streamed, g.requests);
  // Every answer was a stream the server started (in flight at the end too).
  EXPECT_GE(m.streams, static_cast<double>(g.requests));
  // One ITL per token after the first of each answer.
  EXPECT_EQ(g.itl.count(), g.output_tokens - g.requests);
  // Tokens are sent as produced: the first arrives before the end.
  EXPECT_LT(g.ttft.mean(), m.stats.latency.mean());
  EXPECT_LT(g.ttft.value_at_percentile(50), m.stats.latency.value_at_percentile(50));
}

TEST(GenerateAgainstServer, NonStreamedAnswersMatchServerCounts) {
  TempDir dir;
  auto server = start_server(make_tokens_model(dir), {"--streaming", "on"});
  const Measured m = run_against(server, generate_scenario(server.base_url(), false));
  expect_consistent(m);
  const auto& g = m.stats.generate;
  EXPECT_EQ(g.streamed, 0u);
  EXPECT_EQ(g.itl.count(), 0u);
  EXPECT_EQ(g.ttft, m.stats.latency) << "a whole answer's TTFT is its latency";
}

TEST(GenerateAgainstServer, StreamingToggleOffSendsTheWholeEventStreamAtOnce) {
  TempDir dir;
  auto server = start_server(make_tokens_model(dir), {"--streaming", "off"});
  const Measured m = run_against(server, generate_scenario(server.base_url(), true));
  expect_consistent(m);
  EXPECT_EQ(m.stats.generate.streamed, m.stats.generate.requests)
      << "still SSE events, all of them";
  // The server answered every completion without starting one stream.
  EXPECT_GT(m.completions, 0.0);
  EXPECT_EQ(m.streams, 0.0) << "--streaming off, yet the server streamed";

  // On the wire: one body with Content-Length, not chunked, holding every event.
  const auto whole = post_completion(server.base_url(), true);
  EXPECT_EQ(whole.result_int(), 200);
  EXPECT_FALSE(whole.chunked()) << whole.base();
  EXPECT_TRUE(whole.has_content_length()) << whole.base();
  EXPECT_EQ(whole[bhttp::field::content_type], "text/event-stream");
  EXPECT_TRUE(whole.body().ends_with("data: [DONE]\n\n")) << whole.body();
}

TEST(GenerateAgainstServer, StreamingToggleOnSendsChunksWithoutContentLength) {
  // The counterpart of the check above, so that it cannot pass by accident.
  TempDir dir;
  auto server = start_server(make_tokens_model(dir), {"--streaming", "on"});
  const auto streamed = post_completion(server.base_url(), true);
  EXPECT_EQ(streamed.result_int(), 200);
  EXPECT_TRUE(streamed.chunked()) << streamed.base();
  EXPECT_FALSE(streamed.has_content_length()) << streamed.base();
  EXPECT_TRUE(streamed.body().ends_with("data: [DONE]\n\n")) << streamed.body();
  const auto metrics = runner::scrape_metrics(server.base_url());
  EXPECT_EQ(metric(metrics, kStreams), 1.0);
}

}  // namespace
}  // namespace servelab::testing
