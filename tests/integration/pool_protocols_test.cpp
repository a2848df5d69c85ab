// The pool and protocols end to end: a server that closes connections
// (servelab-server --max-requests-per-connection, checked against its
// /metrics), https:// against `openssl s_server`, HTTP/2 against nghttpd
// (h2c prior knowledge and h2 over TLS by ALPN), all on loopback.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>

#include "fixture.h"
#include "load/engine.h"
#include "load/plan.h"
#include "runner/scenario_runner.h"
#include "support/child_process.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;

load::RunStats run_plan(const scenario::Scenario& s, const std::string& url) {
  auto plan = runner::plan_run(s, url);
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  if (!plan.ok()) return load::RunStats();
  std::atomic<bool> stop{false};
  auto stats = load::run(*plan, stop, {});
  EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error().message);
  return stats.ok() ? std::move(stats).value() : load::RunStats();
}

scenario::Scenario get_scenario(const std::string& path, int connections,
                                std::chrono::milliseconds duration) {
  scenario::Scenario s;
  s.name = "protocols";
  s.load.connections = connections;
  s.load.duration = duration;
  s.load.timeout = 5s;
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::http;
  r.url = path;
  s.requests.push_back(r);
  return s;
}

// A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI.
struct Certificate {
  std::string cert, key;
};
Certificate make_certificate(const TempDir& dir) {
  Certificate c{(dir.path() / "cert.pem").string(), (dir.path() / "key.pem").string()};
  ChildProcess openssl(
      {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
       "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", c.key,
       "-out", c.cert},
      (dir.path() / "openssl-req.log").string());
  EXPECT_TRUE(openssl.started());
  EXPECT_EQ(openssl.wait(20s), 0) << "openssl req failed";
  return c;
}

TEST(PoolProtocols, ServerClosedConnectionsAreReplacedAndCountsMatchServerMetrics) {
  TempDir dir;
  auto server = start_server(make_models(dir), {"--max-requests-per-connection", "10"});
  auto s = infer_scenario(server.base_url(), 1000ms, 4);
  const auto before = runner::scrape_metrics(server.base_url());
  const load::RunStats st = run_plan(s, server.base_url());
  const auto after = runner::scrape_metrics(server.base_url());
  auto delta = [&](const std::string& series) {
    return metric(after, series) - metric(before, series);
  };
  const auto& c = st.counters;
  EXPECT_GT(c.requests, 40u);
  EXPECT_EQ(c.error_total(), 0u);  // every close was detected before a request went out on it
  EXPECT_EQ(c.ok, c.requests);
  // Every success counted by the client was computed by the server; at most
  // the requests in flight at the end were computed but not counted.
  const double infers = delta("servelab_inference_requests_total{model=\"mlp-0\"}");
  EXPECT_GE(infers, static_cast<double>(c.ok));
  EXPECT_LE(infers, static_cast<double>(c.ok + c.unfinished + 4));
  // The server closed a connection every 10 responses; the pool replaced each.
  const double closes = delta("servelab_connection_max_requests_closes_total");
  EXPECT_GE(closes, static_cast<double>(c.requests / 10) - 4);
  EXPECT_GE(static_cast<double>(st.pool.created) + 4, closes);
  EXPECT_LE(st.pool.peak_size, 4u);
  auto exit = server.stop();
  EXPECT_TRUE(exit.clean) << exit.description;
}

TEST(PoolProtocols, HttpsAgainstOpensslServerVerifiesOrAcceptsSelfSigned) {
  TempDir dir;
  const Certificate cert = make_certificate(dir);
  const uint16_t port = free_loopback_port();
  ChildProcess server({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                       "-cert", cert.cert, "-key", cert.key, "-www", "-quiet"},
                      (dir.path() / "s_server.log").string());
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(wait_until([&] { return accepts_connections(port); }, 10s))
      << "openssl s_server did not start";
  const std::string url = "https://127.0.0.1:" + std::to_string(port);

  auto s = get_scenario("/", 2, 400ms);
  s.tls.insecure = true;
  load::RunStats st = run_plan(s, url);
  EXPECT_GT(st.counters.ok, 0u);
  EXPECT_EQ(st.counters.error_total(), 0u);

  s.tls.insecure = false;
  s.tls.ca_file = cert.cert;  // verified against the certificate itself
  st = run_plan(s, url);
  EXPECT_GT(st.counters.ok, 0u);
  EXPECT_EQ(st.counters.error_total(), 0u);

  s.tls.ca_file.clear();  // the system store does not know it: every handshake fails
  st = run_plan(s, url);
  EXPECT_EQ(st.counters.ok, 0u);
  EXPECT_GT(st.counters.error_total(), 0u);
  EXPECT_GT(st.pool.failed, 0u);
}

// nghttpd serving `dir`/www on a free port; TLS when a certificate is given.
struct Nghttpd {
  uint16_t port = free_loopback_port();
  std::unique_ptr<ChildProcess> process;
  Nghttpd(const TempDir& dir, const Certificate* cert) {
    const auto www = dir.path() / "www";
    std::filesystem::create_directories(www);
    std::ofstream(www / "index.html") << "hello";
    std::vector<std::string> args = {"nghttpd", "-a", "127.0.0.1", "-d", www.string()};
    if (cert == nullptr) args.push_back("--no-tls");
    args.push_back(std::to_string(port));
    if (cert != nullptr) {
      args.push_back(cert->key);
      args.push_back(cert->cert);
    }
    process = std::make_unique<ChildProcess>(args, (dir.path() / "nghttpd.log").string());
  }
};

void expect_multiplexed(const load::RunStats& st, uint64_t in_flight) {
  EXPECT_GT(st.counters.ok, in_flight);
  EXPECT_EQ(st.counters.error_total(), 0u);
  // 16 requests in flight at once rode fewer connections: HTTP/2 streams.
  EXPECT_GE(st.pool.peak_size, 1u);
  EXPECT_LT(st.pool.peak_size, in_flight);
  EXPECT_LT(st.pool.created + st.pool.preconnected, in_flight);
  EXPECT_GT(st.pool.reuse_rate(), 0.9);
}

TEST(PoolProtocols, Http2PriorKnowledgeMultiplexesStreamsOnOneConnection) {
  TempDir dir;
  Nghttpd ng(dir, nullptr);
  ASSERT_TRUE(ng.process->started());
  ASSERT_TRUE(wait_until([&] { return accepts_connections(ng.port); }, 10s))
      << "nghttpd did not start";
  auto s = get_scenario("/index.html", 16, 500ms);
  s.http.http2 = true;
  s.http.streams_per_connection = 16;
  expect_multiplexed(run_plan(s, "http://127.0.0.1:" + std::to_string(ng.port)), 16);
}

TEST(PoolProtocols, Http2OverTlsIsNegotiatedByAlpn) {
  TempDir dir;
  const Certificate cert = make_certificate(dir);
  Nghttpd ng(dir, &cert);
  ASSERT_TRUE(ng.process->started());
  ASSERT_TRUE(wait_until([&] { return accepts_connections(ng.port); }, 10s))
      << "nghttpd did not start";
  auto s = get_scenario("/index.html", 16, 500ms);
  s.http.http2 = true;
  s.http.streams_per_connection = 16;
  s.tls.insecure = true;
  expect_multiplexed(run_plan(s, "https://127.0.0.1:" + std::to_string(ng.port)), 16);
}

}  // namespace
}  // namespace servelab::testing
