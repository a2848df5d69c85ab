// The pool applied to the real libcurl engine against an in-process HTTP
// server on loopback, whose own connection counters are the second witness.

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "http/http_server.h"
#include "load/engine.h"
#include "load/plan.h"

namespace servelab::pool {
namespace {

using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;

// "/" and "/v2/health/live" answer 200, "/bad" 503.
class Server {
 public:
  explicit Server(uint64_t max_requests_per_connection = 0)
      : server_(config(max_requests_per_connection), [](http::Request&& req) {
          const bool bad = req.target() == "/bad";
          http::Response res{bad ? bhttp::status::service_unavailable : bhttp::status::ok,
                             req.version()};
          res.keep_alive(req.keep_alive());
          res.body() = bad ? "{\"error\":\"unhealthy\"}" : "ok";
          res.prepare_payload();
          return res;
        }) {
    EXPECT_TRUE(server_.start().ok());
  }
  ~Server() {
    server_.stop();
    server_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  const http::ConnectionStats& stats() const { return server_.stats(); }

 private:
  static http::ServerConfig config(uint64_t max_requests) {
    http::ServerConfig c;
    c.threads = 1;
    c.max_requests_per_connection = max_requests;
    return c;
  }
  http::HttpServer server_;
};

scenario::Scenario closed(int connections, std::chrono::milliseconds duration) {
  scenario::Scenario s;
  s.name = "pool";
  s.load.connections = connections;
  s.load.duration = duration;
  s.load.timeout = 5s;
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::http;
  r.url = "/";
  s.requests.push_back(r);
  return s;
}

load::RunStats run(const scenario::Scenario& s, const std::string& url) {
  auto plan = load::make_plan(s, url);
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  std::atomic<bool> stop{false};
  auto stats = load::run(*plan, stop, {});
  EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error().message);
  return stats.ok() ? std::move(stats).value() : load::RunStats();
}

TEST(PoolEngine, KeepAliveConnectionsAreReused) {
  Server srv;
  const load::RunStats st = run(closed(4, 400ms), srv.url());
  const PoolStats& p = st.pool;
  EXPECT_GT(st.counters.requests, 50u);
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_EQ(p.created, 4u);
  EXPECT_EQ(p.fresh, 4u);
  EXPECT_EQ(p.reused + p.fresh, st.counters.requests);
  EXPECT_GT(p.reuse_rate(), 0.9);
  EXPECT_EQ(p.peak_size, 4u);
  EXPECT_EQ(p.max, 4u);
  EXPECT_EQ(p.failed, 0u);
  EXPECT_EQ(srv.stats().opened.load(), 4u);  // the server saw the same connections
  EXPECT_GT(st.client_peak_rss_kb, 0u);
}

TEST(PoolEngine, GrowsOnDemandFromMinToMaxAndNeverPast) {
  Server srv;
  auto s = closed(8, 400ms);  // 8 requests in flight want 8 connections...
  s.pool.min = 1;
  s.pool.max = 3;  // ...but the pool holds 3
  const load::RunStats st = run(s, srv.url());
  const PoolStats& p = st.pool;
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_GT(st.counters.requests, 50u);
  EXPECT_EQ(p.preconnected, 1u);
  EXPECT_EQ(p.created, 2u);  // grew from 1 to 3
  EXPECT_EQ(p.peak_size, 3u);
  EXPECT_EQ(p.max, 3u);
  for (uint64_t size : p.size_timeline) EXPECT_LE(size, 3u);
  EXPECT_EQ(srv.stats().opened.load(), 3u);
}

TEST(PoolEngine, MinConnectionsArePreconnectedBeforeTheMeasuredPhase) {
  Server srv;
  auto s = closed(4, 300ms);
  s.pool.min = 4;
  const load::RunStats st = run(s, srv.url());
  EXPECT_EQ(st.pool.preconnected, 4u);
  EXPECT_EQ(st.pool.created, 0u);  // the run found them open
  EXPECT_EQ(st.pool.fresh, 0u);
  EXPECT_EQ(st.counters.connections_opened, 0u);
  EXPECT_EQ(srv.stats().opened.load(), 4u);
}

TEST(PoolEngine, IdleConnectionsExpireAfterIdleTimeout) {
  Server srv;
  auto s = closed(1, 2500ms);
  s.load.think_time = 1100ms;  // each connection idles 1.1 s between requests
  s.pool.idle_timeout = 1s;
  const load::RunStats st = run(s, srv.url());
  EXPECT_GE(st.counters.requests, 2u);
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_EQ(st.pool.reused, 0u);  // none was reused after idling past the limit
  EXPECT_EQ(st.pool.fresh, st.counters.requests);
  EXPECT_GE(st.pool.closed, st.counters.requests - 1);
  // The server saw a new connection for every request.
  EXPECT_GE(srv.stats().opened.load(), st.counters.requests);
  EXPECT_LE(srv.stats().opened.load(), st.counters.requests + st.counters.unfinished);
}

// The other side of the limit: the same 1.1 s of idling, under a 2 s limit,
// keeps the connection.
TEST(PoolEngine, ConnectionsIdleForLessThanTheIdleTimeoutAreReused) {
  Server srv;
  auto s = closed(1, 1500ms);
  s.load.think_time = 1100ms;  // requests at 0 and 1.1 s
  s.pool.idle_timeout = 2s;
  const load::RunStats st = run(s, srv.url());
  EXPECT_GE(st.counters.requests, 2u);
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_EQ(st.pool.fresh, 1u);
  EXPECT_EQ(st.pool.reused, st.counters.requests - 1);
  EXPECT_EQ(st.pool.created, 1u);
  EXPECT_EQ(st.pool.closed, 0u);
  EXPECT_EQ(srv.stats().opened.load(), 1u);
}

TEST(PoolEngine, ConnectionsAreReplacedAtMaxAge) {
  Server srv;
  auto s = closed(1, 2600ms);
  s.pool.max_age = 2s;
  const load::RunStats st = run(s, srv.url());
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_GT(st.counters.requests, 50u);
  // One connection at the start, its replacement once it is 2 s old.
  EXPECT_EQ(st.pool.created, 2u);
  EXPECT_EQ(st.pool.closed, 1u);
  EXPECT_EQ(srv.stats().opened.load(), 2u);
}

TEST(PoolEngine, ServerClosedConnectionsAreReplacedWithoutErrors) {
  Server srv(5);  // "Connection: close" on every 5th response
  const load::RunStats st = run(closed(2, 400ms), srv.url());
  const auto& c = st.counters;
  EXPECT_GT(c.requests, 50u);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_EQ(c.ok, c.requests);
  // Each connection carried at most 5 requests.
  EXPECT_GE(st.pool.created + 2, c.requests / 5);
  EXPECT_GE(srv.stats().max_requests_closes.load(), c.requests / 5 - 2);
}

TEST(PoolEngine, PoolingOffOpensOneConnectionPerRequest) {
  Server srv;
  auto s = closed(2, 300ms);
  s.toggles.pooling = false;
  const load::RunStats st = run(s, srv.url());
  EXPECT_GT(st.counters.requests, 10u);
  EXPECT_EQ(st.pool.reused, 0u);
  EXPECT_EQ(st.pool.fresh, st.counters.requests);
  EXPECT_GE(st.pool.created, st.counters.requests);
  EXPECT_EQ(st.pool.reuse_rate(), 0.0);
}

TEST(PoolEngine, HealthChecksPassOnIdleConnections) {
  Server srv;
  auto s = closed(2, 700ms);
  s.pool.min = 2;
  s.load.think_time = 300ms;  // connections idle most of the time
  s.pool.health_check_interval = 100ms;
  s.pool.health_check_path = "/";
  const load::RunStats st = run(s, srv.url());
  EXPECT_GT(st.pool.health_checks_passed, 0u);
  EXPECT_EQ(st.pool.health_checks_failed, 0u);
  EXPECT_EQ(st.counters.error_total(), 0u);
  EXPECT_EQ(st.pool.created, 0u);  // checks use the pool's connections, never open one
}

TEST(PoolEngine, FailedHealthCheckRemovesTheConnection) {
  Server srv;
  auto s = closed(2, 700ms);
  s.pool.min = 2;
  s.load.think_time = 300ms;
  s.pool.health_check_interval = 100ms;
  s.pool.health_check_path = "/bad";  // 503: unhealthy
  const load::RunStats st = run(s, srv.url());
  EXPECT_GT(st.pool.health_checks_failed, 0u);
  EXPECT_EQ(st.pool.health_checks_passed, 0u);
  EXPECT_EQ(st.counters.error_total(), 0u);  // requests never went out on a removed connection
  EXPECT_GT(st.pool.created, 0u);            // replacements
  EXPECT_GT(st.pool.closed, 0u);
}

}  // namespace
}  // namespace servelab::pool
