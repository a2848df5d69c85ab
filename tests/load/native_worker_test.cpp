#include "load/native_worker.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "load/engine.h"

namespace servelab::load {
namespace {

TEST(NativeRequest, PostCarriesContentLengthAndBody) {
  PreparedRequest r;
  r.method = "POST";
  r.url = "http://127.0.0.1:8080/post?x=1#frag";
  r.headers = {"X-A: b"};
  r.body = "hello";
  auto t = parse_http_url(r.url);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "8080");
  EXPECT_EQ(t->path, "/post?x=1");
  EXPECT_EQ(serialize_request(r, *t, true),
            "POST /post?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: b\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(NativeRequest, PoolingOffAsksTheServerToClose) {
  PreparedRequest r;
  r.method = "GET";
  r.url = "http://localhost";
  auto t = parse_http_url(r.url);
  ASSERT_TRUE(t);
  EXPECT_EQ(serialize_request(r, *t, false), "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

TEST(NativeRequest, ParsesIpv6AndRejectsOtherSchemes) {
  auto t = parse_http_url("http://[::1]:9/a");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, "9");
  EXPECT_FALSE(parse_http_url("https://127.0.0.1/"));
  EXPECT_FALSE(parse_http_url("http://user@host/"));
  EXPECT_FALSE(parse_http_url("http://host:abc/"));
}

TEST(NativeRequest, RefusesHttpsAndSeveralOrigins) {
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

// A loopback server that reads a request, answers with a header promising
// 100 body bytes, sends 3, and closes: a response cut off mid-body.
class TruncatingServer {
 public:
  TruncatingServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TruncatingServer() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;  // wakes every 20 ms to see stop_
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string got;
      char buf[4096];
      // One request: read until its header ends (bounded by the buffer count).
      for (int i = 0; i < 64 && got.find("\r\n\r\n") == std::string::npos; ++i) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 1000) <= 0) break;
        const ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
      (void)!write(c, reply.data(), reply.size());
      close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A response cut off mid-body is a protocol error on both engines; its
// status line arrived, so it is counted under its status.
TEST(NativeEngineErrors, ServerClosingMidResponseIsAProtocolError) {
  TruncatingServer srv;
  ASSERT_GT(srv.port(), 0);
  for (auto engine : {scenario::EngineKind::native, scenario::EngineKind::curl}) {
    scenario::Scenario s;
    s.load.connections = 2;
    s.load.duration = std::chrono::milliseconds(300);
    s.load.timeout = std::chrono::seconds(2);
    s.load.engine = engine;
    s.requests.emplace_back();
    auto plan = make_plan(s, "http://127.0.0.1:" + std::to_string(srv.port()));
    ASSERT_TRUE(plan.ok());
    std::atomic<bool> stop{false};
    auto stats = run(*plan, stop, {});
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    const Counters& c = stats->counters;
    EXPECT_GT(c.requests, 5u) << stats->engine;
    EXPECT_EQ(c.ok, 0u) << stats->engine;
    EXPECT_EQ(c.errors[static_cast<size_t>(ErrorClass::protocol)], c.requests) << stats->engine;
    EXPECT_EQ(c.connections_opened, c.requests) << stats->engine;  // one each, none reused
  }
}

TEST(NativeEngineErrors, NativeRefusesHttpsWithAClearError) {
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
  EXPECT_NE(stats.error().message.find("load.engine = \"native\""), std::string::npos) << stats.error().message;
  plan->load.engine = scenario::EngineKind::auto_;
  auto chosen = choose_engine(*plan);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, scenario::EngineKind::curl);
}

}  // namespace
}  // namespace servelab::load
