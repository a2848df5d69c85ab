// /v1/completions against a real servelab-server process, driven by raw
// loopback sockets that send a completion and leave: a long prompt's
// prefill does not hold back later requests, abandoned completions stop,
// the concurrency cap answers 503 at once, oversized requests get a JSON
// 400, and SIGTERM does not wait for the generations in flight.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "fixture.h"
#include "models/repository_maker.h"
#include "runner/scenario_runner.h"
#include "support/wait_until.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// A repository with one tokens model of the default width (hidden 512:
// about 23 µs a step, so long prompts and answers take seconds).
std::string make_tokens_repo(const TempDir& dir) {
  models::MakeOptions o;
  o.kind = "tokens";
  o.prefix = "tokens";
  const std::string repo = (dir.path() / "models").string();
  EXPECT_TRUE(models::make_repository(repo, o).ok());
  return repo;
}

uint16_t port_of(const runner::ServerProcess& server) {
  const std::string& url = server.base_url();
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

std::string body(const std::string& prompt, int64_t max_tokens, bool stream) {
  return R"({"model":"tokens-0","prompt":")" + prompt + R"(","max_tokens":)" +
         std::to_string(max_tokens) + R"(,"seed":1,"stream":)" + (stream ? "true" : "false") + "}";
}

// One blocking loopback connection (reads bounded by a deadline).
class Conn {
 public:
  explicit Conn(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Conn() { close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool post(const std::string& json_body) {
    const std::string req =
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(json_body.size()) + "\r\n\r\n" + json_body;
    size_t sent = 0;
    while (ok_ && sent < req.size()) {
      const ssize_t n = ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return ok_;
  }
  // Reads until `needle` arrived, the peer closed, or `deadline` passed.
  bool read_until(const std::string& needle, std::chrono::milliseconds deadline = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    char buf[8192];
    while (received_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return received_.find(needle) != std::string::npos;
      received_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  const std::string& received() const { return received_; }

 private:
  int fd_;
  bool ok_ = false;
  std::string received_;
};

double scrape(const runner::ServerProcess& server, const std::string& series) {
  return metric(runner::scrape_metrics(server.base_url()), series);
}

TEST(CompletionsLimits, ABigPromptWhoseClientLeftDoesNotDelayALaterSmallCompletion) {
  TempDir dir("big-prompt");
  auto server = start_server(make_tokens_repo(dir), {"--threads", "2", "--compute-threads", "1",
                                                     "--max-prompt-tokens", "4000000"});
  // Two 1.5 MB prompts: about 35 s of prefill each at 23 µs a token.
  for (int i = 0; i < 2; ++i) {
    Conn c(port_of(server));
    ASSERT_TRUE(c.post(body(std::string(1'500'000, 'a'), 2, false)));
  }  // closed at once
  Conn small(port_of(server));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(small.post(body("Hi", 2, false)));
  ASSERT_TRUE(small.read_until("\"finish_reason\"", 10s)) << small.received();
  const auto took = std::chrono::steady_clock::now() - sent;
  EXPECT_LT(took, 2s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  EXPECT_TRUE(wait_until([&] { return scrape(server, "servelab_completions_active") == 0; }, 3s));
  // Neither big prompt was prefilled to its end (a client gone before its
  // body was read is never handled at all; one gone later is cancelled
  // between chunks). Prompt tokens are counted as they are fed.
  const double prefilled = scrape(server, "servelab_completion_prompt_tokens_total");
  EXPECT_GE(prefilled, 2.0);  // "Hi"
  EXPECT_LT(prefilled, 1'500'000.0) << "a big prompt was prefilled to its end";
}

TEST(CompletionsLimits, AbandonedCompletionsAreCancelledAndTheActiveGaugeReturnsToZero) {
  TempDir dir("abandoned");
  auto server = start_server(make_tokens_repo(dir), {"--threads", "2", "--streaming", "off"});
  constexpr int kClients = 100;  // each 16,384 tokens: about 0.4 s of compute alone
  {
    std::vector<std::unique_ptr<Conn>> conns;
    for (int i = 0; i < kClients; ++i) {
      conns.push_back(std::make_unique<Conn>(port_of(server)));
      ASSERT_TRUE(conns.back()->post(body("Once upon a time", 16384, i % 2 == 0)));
    }
    ASSERT_TRUE(wait_until([&] { return scrape(server, "servelab_completions_active") > 0; }, 5s));
  }  // every client closes at once
  EXPECT_TRUE(wait_until([&] { return scrape(server, "servelab_completions_active") == 0; }, 3s))
      << scrape(server, "servelab_completions_active") << " still active";
  const double cancelled = scrape(server, "servelab_completions_cancelled_total");
  EXPECT_EQ(cancelled + scrape(server, "servelab_completions_total"), kClients);
  EXPECT_GE(cancelled, kClients - 2);  // none ran to its end, bar a model that chose to stop
}

TEST(CompletionsLimits, PastMaxCompletionsARequestGets503WithRetryAfterAtOnce) {
  TempDir dir("cap");
  auto server = start_server(make_tokens_repo(dir), {"--max-completions", "2"});
  Conn a(port_of(server)), b(port_of(server));
  ASSERT_TRUE(a.post(body("Once", 16384, true)));
  ASSERT_TRUE(b.post(body("Once", 16384, true)));
  ASSERT_TRUE(a.read_until("data: "));
  ASSERT_TRUE(b.read_until("data: "));
  Conn c(port_of(server));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.post(body("Once", 4, false)));
  ASSERT_TRUE(c.read_until("}", 2s)) << c.received();
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 1s);
  EXPECT_EQ(c.received().rfind("HTTP/1.1 503", 0), 0u) << c.received();
  EXPECT_NE(c.received().find("Retry-After: 1\r\n"), std::string::npos) << c.received();
  const std::string json_text = c.received().substr(c.received().find("\r\n\r\n") + 4);
  EXPECT_NE(json::parse(json_text).at("error").as_string().find("--max-completions"),
            std::string::npos);
}

TEST(CompletionsLimits, AnOversizedPromptOrMaxTokensGets400WithAJsonError) {
  TempDir dir("oversized");
  auto server = start_server(make_tokens_repo(dir));
  struct Case {
    std::string body;
    std::string says;
  };
  const std::vector<Case> cases = {
      {body(std::string(32769, 'a'), 2, false), "--max-prompt-tokens"},  // default 32,768
      {body("Once", 16385, false), "--max-tokens"},                      // default 16,384
  };
  for (const auto& c : cases) {
    Conn conn(port_of(server));
    ASSERT_TRUE(conn.post(c.body));
    ASSERT_TRUE(conn.read_until("}", 2s)) << conn.received();
    EXPECT_EQ(conn.received().rfind("HTTP/1.1 400", 0), 0u) << conn.received();
    EXPECT_NE(conn.received().find("application/json"), std::string::npos);
    const std::string json_text = conn.received().substr(conn.received().find("\r\n\r\n") + 4);
    EXPECT_NE(json::parse(json_text).at("error").as_string().find(c.says), std::string::npos)
        << json_text;
  }
  EXPECT_EQ(scrape(server, "servelab_completion_prompt_tokens_total"), 0.0);
}

TEST(CompletionsLimits, SigtermWithManyActiveGenerationsExitsWithinASecond) {
  TempDir dir("sigterm");
  auto server = start_server(make_tokens_repo(dir), {"--threads", "2"});
  constexpr int kClients = 200;              // 16,384 tokens each: over a minute of compute in all
  std::vector<std::unique_ptr<Conn>> conns;  // stay connected, read nothing
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(std::make_unique<Conn>(port_of(server)));
    ASSERT_TRUE(conns.back()->post(body("Once upon a time", 16384, i % 2 == 0)));
  }
  ASSERT_TRUE(
      wait_until([&] { return scrape(server, "servelab_completions_active") == kClients; }, 10s));
  const auto signalled = std::chrono::steady_clock::now();
  const auto exit = server.stop();
  const auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_TRUE(exit.clean) << exit.description;
  EXPECT_LT(took, 1500ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms";
}

}  // namespace
}  // namespace servelab::testing
