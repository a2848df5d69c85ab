// The native transport's error paths, next to libcurl's for the same server.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "load/engine.h"

namespace servelab::load {
namespace {

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
    ASSERT_EQ(stats->status_codes.count(200), 1u) << stats->engine;
    EXPECT_EQ(stats->status_codes.at(200), c.requests) << stats->engine;
  }
}

}  // namespace
}  // namespace servelab::load
