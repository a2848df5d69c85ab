#include "load/engine.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "test_server.h"

namespace servelab::load {
namespace {

using namespace std::chrono_literals;
using testing::make_response;
using testing::TestServer;
namespace bhttp = boost::beast::http;

size_t idx(ErrorClass c) { return static_cast<size_t>(c); }

Plan http_plan(const std::string& base, std::vector<std::pair<std::string, double>> urls,
               scenario::LoadConfig load, bool pooling = true) {
  scenario::Scenario s;
  s.load = load;
  s.toggles.pooling = pooling;
  for (auto& [url, weight] : urls) {
    scenario::RequestSpec r;
    r.url = url;
    r.weight = weight;
    s.requests.push_back(r);
  }
  auto plan = make_plan(s, base);
  EXPECT_TRUE(plan.ok());
  return plan.ok() ? std::move(plan).value() : Plan{};
}

scenario::LoadConfig closed(int connections, int threads, std::chrono::microseconds duration) {
  scenario::LoadConfig l;
  l.mode = scenario::LoadMode::closed;
  l.connections = connections;
  l.threads = threads;
  l.duration = duration;
  l.timeout = 2s;
  return l;
}

// Answers "ok" on every path except /404 and /500, and counts invocations.
class CountingServer {
 public:
  CountingServer()
      : server_([this](http::Request&& req) {
          calls_.fetch_add(1, std::memory_order_relaxed);
          if (req.target() == "/404") return make_response(req, bhttp::status::not_found, "no");
          if (req.target() == "/500")
            return make_response(req, bhttp::status::internal_server_error, "bad");
          return make_response(req, bhttp::status::ok, "ok");
        }) {}
  TestServer& server() { return server_; }
  uint64_t calls() const { return calls_.load(); }

 private:
  std::atomic<uint64_t> calls_{0};
  TestServer server_;
};

const ProgressFn kNoProgress;

// Every engine test runs on both transports (load.engine = curl, native):
// they share LoopCore and must give the same results.
scenario::EngineKind g_engine = scenario::EngineKind::curl;

class Engine : public ::testing::TestWithParam<scenario::EngineKind> {
 protected:
  void SetUp() override { g_engine = GetParam(); }
};

Result<RunStats> run_on(const Plan& plan, const std::atomic<bool>& stop,
                        const ProgressFn& progress) {
  Plan p = plan;
  p.load.engine = g_engine;
  auto stats = run(p, stop, progress);
  if (stats) {
    EXPECT_EQ(stats->engine, g_engine == scenario::EngineKind::curl ? "curl" : "native");
  }
  return stats;
}

TEST_P(Engine, ClosedLoopCountsEveryRequestTheServerAnswered) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, closed(4, 2, 400ms));
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  EXPECT_GT(c.requests, 10u);
  EXPECT_EQ(c.ok, c.requests);
  EXPECT_EQ(c.error_total(), 0u);
  // Every completed request reached the handler; the handler may also have
  // answered requests still in flight at the end (counted as unfinished).
  EXPECT_LE(c.requests, srv.calls());
  EXPECT_LE(srv.calls(), c.requests + c.unfinished);
  EXPECT_LE(c.unfinished, 4u);
  EXPECT_EQ(stats->status_codes.at(200), c.requests);
  EXPECT_EQ(stats->latency.count(), c.requests);
  EXPECT_EQ(stats->uncorrected.count(), c.requests);
  ASSERT_EQ(stats->mix.size(), 1u);
  EXPECT_EQ(stats->mix[0].requests, c.requests);
  EXPECT_GE(c.bytes_in, c.requests * 2);    // at least the body "ok"
  EXPECT_GE(c.bytes_out, c.requests * 16);  // at least "GET / HTTP/1.1\r\n"
  EXPECT_FALSE(stats->partial);
  EXPECT_EQ(stats->measured, 400ms);
  EXPECT_EQ(stats->threads, 2);
  EXPECT_EQ(stats->connections, 4);
  ASSERT_EQ(stats->timeline.size(), 1u);
  EXPECT_EQ(stats->timeline[0].requests, c.requests);
  EXPECT_GT(stats->rps(), 0);
}

TEST_P(Engine, ErrorsAreClassifiedByStatus) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  const Plan plan =
      http_plan(srv.server().base_url(), {{"/404", 1}, {"/500", 1}}, closed(2, 1, 300ms));
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  ASSERT_GT(c.requests, 10u);
  EXPECT_EQ(c.ok, 0u);
  EXPECT_EQ(c.errors[idx(ErrorClass::http_4xx)], stats->status_codes.at(404));
  EXPECT_EQ(c.errors[idx(ErrorClass::http_5xx)], stats->status_codes.at(500));
  EXPECT_EQ(c.error_total(), c.requests);
  EXPECT_GT(c.errors[idx(ErrorClass::http_4xx)], 0u);
  EXPECT_GT(c.errors[idx(ErrorClass::http_5xx)], 0u);
  ASSERT_EQ(stats->mix.size(), 2u);
  EXPECT_EQ(stats->mix[0].errors, stats->status_codes.at(404));
  EXPECT_EQ(stats->mix[1].errors, stats->status_codes.at(500));
  EXPECT_EQ(stats->timeline.at(0).errors, c.requests);
}

TEST_P(Engine, PoolingOnOpensAtMostOneConnectionPerSlot) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, closed(4, 2, 300ms), true);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(stats->counters.requests, 20u);
  EXPECT_GE(stats->counters.connections_opened, 1u);
  EXPECT_LE(stats->counters.connections_opened, 4u);
  EXPECT_LE(srv.server().server().stats().opened.load(), 4u);
  EXPECT_GT(stats->connection_reuse_rate(), 0.8);
}

TEST_P(Engine, PoolingOffOpensOneConnectionPerRequest) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, closed(2, 1, 300ms), false);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  EXPECT_GT(c.requests, 5u);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_EQ(c.connections_opened, c.requests);
  EXPECT_GE(srv.server().server().stats().opened.load(), c.requests);
  EXPECT_EQ(stats->connection_reuse_rate(), 0.0);
}

TEST_P(Engine, OpenLoopSendsRateTimesDuration) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  scenario::LoadConfig load = closed(8, 2, 1s);
  load.mode = scenario::LoadMode::open;
  load.rate = 200;
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  // 200 arrivals are scheduled in the measured second; all but the few in
  // flight at the end complete (a loose bound: sanitizer builds are slow).
  EXPECT_GE(c.requests, 150u);
  EXPECT_LE(c.requests, 201u);
  EXPECT_GE(c.requests + c.unfinished, 195u);
  EXPECT_LE(c.requests + c.unfinished, 201u);
  EXPECT_EQ(c.error_total(), 0u);
  // Both histograms hold every completed request.
  EXPECT_EQ(stats->latency.count(), c.requests);
  EXPECT_EQ(stats->uncorrected.count(), c.requests);
}

// Coordinated omission: with the only connection held by the server, the
// arrivals due meanwhile wait; once it is released they are sent late, and
// their latency counts from when they were due (wrk2), not from when they
// were sent.
TEST_P(Engine, OpenLoopLatencyRunsFromTheIntendedSendTime) {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  TestServer server([&](http::Request&& req) {
    std::unique_lock lk(mu);
    // Held until the test releases it (bounded, in case it never does).
    cv.wait_until(lk, std::chrono::steady_clock::now() + 10s, [&] { return released; });
    return make_response(req, bhttp::status::ok, "ok");
  });
  ASSERT_TRUE(server.started()) << server.error();
  scenario::LoadConfig load = closed(1, 1, 1s);
  load.mode = scenario::LoadMode::open;
  load.rate = 200;
  const Plan plan = http_plan(server.base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  // The first progress report (about 500 ms in) releases the server: about
  // 100 arrivals have queued behind the held request by then.
  auto stats = run_on(plan, stop, [&](const Progress&) {
    {
      std::lock_guard lk(mu);
      released = true;
    }
    cv.notify_all();
  });
  {
    std::lock_guard lk(mu);
    released = true;
  }
  cv.notify_all();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_GT(c.late, 10u);  // the queued arrivals went out after their time
  ASSERT_EQ(stats->latency.count(), c.requests);
  ASSERT_EQ(stats->uncorrected.count(), c.requests);
  // Half the arrivals queued: from their intended time they waited for the
  // held request; from their actual send they did not.
  EXPECT_GT(stats->latency.value_at_percentile(75), stats->uncorrected.value_at_percentile(75));
}

TEST_P(Engine, OpenLoopStagesSendTheIntegratedRate) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  scenario::LoadConfig load = closed(8, 2, 2s);
  load.mode = scenario::LoadMode::open;
  load.rate = 0;
  // 0 → 400/s over 1 s (200 arrivals), then 400/s for 1 s (400 more).
  load.stages = {{1s, 400, 0}, {1s, 400, 0}};
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  EXPECT_GE(c.requests + c.unfinished, 595u);
  EXPECT_LE(c.requests + c.unfinished, 601u);
  EXPECT_EQ(c.error_total(), 0u);
  // The ramp shows in the timeline: no more completions in the first second
  // than the ramp's 200 arrivals (a flat 400/s would give 400), fewer than
  // in the second.
  ASSERT_EQ(stats->timeline.size(), 2u);
  EXPECT_LE(stats->timeline[0].requests, 201u);
  EXPECT_LT(stats->timeline[0].requests, stats->timeline[1].requests);
  EXPECT_EQ(stats->timeline[0].requests + stats->timeline[1].requests, c.requests);
}

TEST_P(Engine, ClosedLoopStagesProvideSlotsForThePeakAndParkTheRest) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  scenario::LoadConfig load = closed(1, 2, 600ms);
  // From 1 connection to 6 and back to 0: slots for 6, nothing in flight at the end.
  load.stages = {{300ms, 0, 6}, {300ms, 0, 0}};
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->connections, 6);
  EXPECT_EQ(stats->threads, 2);
  EXPECT_GT(stats->counters.requests, 0u);
  EXPECT_EQ(stats->counters.error_total(), 0u);
  // With pooling, a parked connection is kept, not reopened: at most one per slot.
  EXPECT_LE(stats->counters.connections_opened, 6u);
  // The ramp ends at 0 connections: at most the few still running at the very end.
  EXPECT_LE(stats->counters.unfinished, 2u);
}

TEST_P(Engine, OpenLoopPoissonArrivalsAlsoMeetTheRate) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  scenario::LoadConfig load = closed(8, 1, 500ms);
  load.mode = scenario::LoadMode::open;
  load.arrival = scenario::Arrival::poisson;
  load.rate = 600;
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const uint64_t sent = stats->counters.requests + stats->counters.unfinished;
  // Poisson count over 0.5 s at 600/s: mean 300, sd ~17.
  EXPECT_GE(sent, 220u);
  EXPECT_LE(sent, 380u);
}

TEST_P(Engine, ThinkTimePacesEachConnection) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  scenario::LoadConfig load = closed(2, 1, 400ms);
  load.think_time = 50ms;
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  // Each connection sends at most one request per 50 ms: 2 × 400/50 = 16
  // (the first ones go at once); without the pause it would be thousands.
  EXPECT_GE(stats->counters.requests, 8u);
  EXPECT_LE(stats->counters.requests, 18u);
  EXPECT_EQ(stats->counters.error_total(), 0u);
}

TEST_P(Engine, MixedMethodsSendTheirOwnBodies) {
  std::atomic<uint64_t> gets{0}, posts{0}, wrong{0};
  TestServer server([&](http::Request&& req) {
    if (req.method() == bhttp::verb::post && req.target() == "/post" && req.body() == "hello") {
      posts.fetch_add(1);
    } else if (req.method() == bhttp::verb::get && req.target() == "/get" && req.body().empty()) {
      gets.fetch_add(1);
    } else {
      wrong.fetch_add(1);
    }
    return make_response(req, bhttp::status::ok, "ok");
  });
  ASSERT_TRUE(server.started()) << server.error();
  scenario::Scenario s;
  s.load = closed(2, 1, 300ms);
  scenario::RequestSpec get;
  get.url = "/get";
  scenario::RequestSpec post;
  post.method = "POST";
  post.url = "/post";
  post.body = "hello";
  s.requests = {get, post};
  auto plan = make_plan(s, server.base_url());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::atomic<bool> stop{false};
  auto stats = run_on(*plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(wrong.load(), 0u);
  ASSERT_EQ(stats->mix.size(), 2u);
  EXPECT_GT(stats->mix[0].requests, 0u);
  EXPECT_GT(stats->mix[1].requests, 0u);
  EXPECT_LE(stats->mix[0].requests, gets.load());
  EXPECT_LE(stats->mix[1].requests, posts.load());
}

TEST_P(Engine, StopFlagEndsTheRunEarlyAndMarksItPartial) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, closed(2, 2, 60s));
  std::atomic<bool> stop{false};
  int calls = 0;
  Progress last;
  // The progress callback runs on this thread about every 500 ms: the first
  // one raises the flag, as a signal-handling thread would.
  const auto started = std::chrono::steady_clock::now();
  auto stats = run_on(plan, stop, [&](const Progress& p) {
    ++calls;
    last = p;
    stop.store(true);
  });
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_TRUE(stats->partial);
  EXPECT_GE(calls, 1);
  EXPECT_FALSE(last.in_warmup);
  EXPECT_GT(last.requests, 0u);
  EXPECT_GT(last.rps, 0);
  EXPECT_GT(last.elapsed, 0us);
  EXPECT_LT(stats->measured, 10s);
  EXPECT_GT(stats->measured, 0us);
  EXPECT_GT(stats->counters.requests, 0u);
  EXPECT_GT(stats->rps(), 0);
  // The process's CPU time over the measured phase (this process also runs
  // the test server): some was spent, and no more than every core for the
  // whole call (not the process's CPU time since it started).
  EXPECT_GT(stats->client_cpu_seconds, 0);
  EXPECT_LE(stats->client_cpu_seconds,
            wall.count() * std::max(1u, std::thread::hardware_concurrency()));
}

TEST_P(Engine, WarmupIsExcludedFromResults) {
  CountingServer srv;
  ASSERT_TRUE(srv.server().started()) << srv.server().error();
  scenario::LoadConfig load = closed(2, 1, 300ms);
  load.warmup = 300ms;
  const Plan plan = http_plan(srv.server().base_url(), {{"/", 1}}, load);
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  EXPECT_GT(c.requests, 0u);
  EXPECT_EQ(stats->measured, 300ms);
  // The handler also answered the warmup's requests.
  EXPECT_LT(c.requests + c.unfinished, srv.calls());
  EXPECT_EQ(stats->latency.count(), c.requests);
}

TEST_P(Engine, RequestsOverTheTimeoutAreTimeoutErrors) {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> entered{0};
  {
    TestServer server(
        [&](http::Request&& req) {
          entered.fetch_add(1);
          std::unique_lock lk(mu);
          // Blocks until the test releases it (bounded, in case it never does).
          cv.wait_until(lk, std::chrono::steady_clock::now() + 10s, [&] { return released; });
          return make_response(req, bhttp::status::ok, "late");
        },
        4);
    ASSERT_TRUE(server.started()) << server.error();
    scenario::LoadConfig load = closed(2, 1, 500ms);
    load.timeout = 100ms;
    const Plan plan = http_plan(server.base_url(), {{"/", 1}}, load);
    std::atomic<bool> stop{false};
    auto stats = run_on(plan, stop, kNoProgress);
    {
      std::lock_guard lk(mu);
      released = true;
    }
    cv.notify_all();
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    const Counters& c = stats->counters;
    EXPECT_EQ(c.ok, 0u);
    EXPECT_GE(c.errors[idx(ErrorClass::timeout)], 4u);  // 2 connections × ~5 timeouts
    EXPECT_EQ(c.errors[idx(ErrorClass::timeout)], c.requests);
    EXPECT_EQ(stats->latency.count(), 0u);
    EXPECT_GT(entered.load(), 0);
  }
}

// A loopback port with nothing listening: bound, never listened on, closed.
uint16_t closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_P(Engine, ClosedPortGivesConnectErrors) {
  const std::string base = "http://127.0.0.1:" + std::to_string(closed_port());
  const Plan plan = http_plan(base, {{"/", 1}}, closed(2, 1, 200ms));
  std::atomic<bool> stop{false};
  auto stats = run_on(plan, stop, kNoProgress);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const Counters& c = stats->counters;
  EXPECT_GT(c.requests, 0u);
  EXPECT_EQ(c.errors[idx(ErrorClass::connect)], c.requests);
  EXPECT_EQ(c.ok, 0u);
  EXPECT_TRUE(stats->status_codes.empty());
}

// Instant connect failures are errors, not throughput, in the live line too.
TEST_P(Engine, ClosedPortShowsErrorsButNoLiveRate) {
  const std::string base = "http://127.0.0.1:" + std::to_string(closed_port());
  const Plan plan = http_plan(base, {{"/", 1}}, closed(2, 1, 1200ms));
  std::atomic<bool> stop{false};
  Progress last;
  double max_rps = 0;
  auto stats = run_on(plan, stop, [&](const Progress& p) {
    last = p;
    max_rps = std::max(max_rps, p.rps);
  });
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(last.errors, 0u);
  EXPECT_EQ(max_rps, 0);
  EXPECT_EQ(stats->rps(), 0);
}

TEST_P(Engine, InvalidLoadIsAnError) {
  Plan plan = http_plan("http://127.0.0.1:1", {{"/", 1}}, closed(1, 1, 100ms));
  plan.load.mode = scenario::LoadMode::open;
  plan.load.rate = 0;
  std::atomic<bool> stop{false};
  EXPECT_FALSE(run_on(plan, stop, kNoProgress).ok());
  plan.load.mode = scenario::LoadMode::closed;
  plan.load.connections = 0;
  EXPECT_FALSE(run_on(plan, stop, kNoProgress).ok());
}

TEST(EngineChoice, NativeRefusesHttpsAndSeveralOrigins) {
  Plan plan;
  plan.requests.resize(2);
  plan.requests[0].url = "http://127.0.0.1:1/";
  plan.requests[1].url = "http://127.0.0.1:1/x";
  EXPECT_FALSE(native_unsupported(plan));
  plan.requests[1].url = "http://127.0.0.1:2/x";
  ASSERT_TRUE(native_unsupported(plan));
  EXPECT_NE(native_unsupported(plan)->find("host:port"), std::string::npos);
  plan.requests[1].url = "https://127.0.0.1:1/x";
  ASSERT_TRUE(native_unsupported(plan));
  EXPECT_NE(native_unsupported(plan)->find("https"), std::string::npos);
}

TEST(EngineChoice, NativeRefusesWhatOnlyLibcurlDoes) {
  Plan plan;
  plan.requests.resize(1);
  plan.requests[0].url = "http://127.0.0.1:1/";
  ASSERT_FALSE(native_unsupported(plan));
  Plan h2 = plan;
  h2.http.http2 = true;
  EXPECT_TRUE(native_unsupported(h2));
  Plan gen = plan;
  gen.requests[0].generate = true;
  EXPECT_TRUE(native_unsupported(gen));
  Plan idle = plan;
  idle.pool.idle_timeout = 1s;
  EXPECT_TRUE(native_unsupported(idle));
  idle.toggles.pooling = false;  // no pool: its settings do not apply
  EXPECT_FALSE(native_unsupported(idle));
}

TEST(EngineChoice, AutoPicksNativeWhenItCanAndCurlOtherwise) {
  Plan plan;
  plan.requests.resize(1);
  plan.requests[0].url = "http://127.0.0.1:1/";
  plan.load.engine = scenario::EngineKind::auto_;
  auto chosen = choose_engine(plan);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, scenario::EngineKind::native);
  plan.load.engine = scenario::EngineKind::curl;
  chosen = choose_engine(plan);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, scenario::EngineKind::curl);
}

TEST(EngineChoice, NativeRefusesHttpsWithAClearError) {
  scenario::Scenario s;
  s.load.duration = std::chrono::milliseconds(100);
  s.load.engine = scenario::EngineKind::native;
  s.requests.emplace_back();
  s.requests.back().url = "https://127.0.0.1:1/";
  auto plan = make_plan(s, "http://127.0.0.1:1");
  ASSERT_TRUE(plan.ok());
  std::atomic<bool> stop{false};
  auto stats = run(*plan, stop, {});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message.find("load.engine = \"native\""), std::string::npos)
      << stats.error().message;
  plan->load.engine = scenario::EngineKind::auto_;
  auto chosen = choose_engine(*plan);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, scenario::EngineKind::curl);
}

INSTANTIATE_TEST_SUITE_P(Transports, Engine,
                         ::testing::Values(scenario::EngineKind::curl,
                                           scenario::EngineKind::native),
                         [](const ::testing::TestParamInfo<scenario::EngineKind>& p) {
                           return p.param == scenario::EngineKind::curl ? std::string("curl")
                                                                        : std::string("native");
                         });

}  // namespace
}  // namespace servelab::load
