// `servelab run` against targets that misbehave, each a small loopback server
// written here (a thread with a listening socket): one that never answers,
// one that answers garbage, one that closes after the headers, one whose
// /metrics never ends, a port nobody listens on, and the real servelab-server
// killed mid-run. Every run ends by itself, counts what went wrong, writes
// its result, and exits 3 when nothing was answered. Plus the secrets a
// scenario carries never reaching the result folder or the console.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture.h"
#include "report/result_json.h"
#include "runner/scenario_runner.h"
#include "support/wait_until.h"

namespace servelab::testing {
namespace {

// A sanitizer build's shadow memory multiplies the generator's resident
// size (about 23 MiB in release, 118 MiB seen under ThreadSanitizer).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kPeakRssBoundKb = 384u * 1024u;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr uint64_t kPeakRssBoundKb = 384u * 1024u;
#else
constexpr uint64_t kPeakRssBoundKb = 96u * 1024u;
#endif
#else
constexpr uint64_t kPeakRssBoundKb = 96u * 1024u;
#endif

namespace fs = std::filesystem;

enum class Behaviour {
  silent,              // accepts, reads, never writes
  garbage,             // answers every request with bytes that are not HTTP, then closes
  headers_then_close,  // sends a 200's headers promising a body, then closes
  endless_metrics,     // GET /metrics: a body that never ends; anything else: 200 "ok"
};

// A loopback server with one behaviour, on an ephemeral port, polled by one
// thread until destruction. Bounded: it serves only while the test runs.
class HostileServer {
 public:
  explicit HostileServer(Behaviour b) : behaviour_(b) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 128), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HostileServer() {
    stop_.store(true);
    thread_.join();
    for (auto& c : conns_) ::close(c.fd);
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint64_t metrics_requests() const { return metrics_requests_.load(); }
  uint64_t accepted() const { return accepted_.load(); }

 private:
  struct Conn {
    int fd = -1;
    std::string in;
    bool streaming = false;  // endless /metrics body being written
    bool close = false;
  };

  void serve() {
    static const std::string chunk = [] {
      std::string c;
      while (c.size() < 64 * 1024) c += "servelab_endless_total{i=\"0\"} 1\n";
      return c;
    }();
    while (!stop_.load()) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& c : conns_)
        fds.push_back({c.fd, static_cast<short>(c.streaming ? POLLIN | POLLOUT : POLLIN), 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;  // 50 ms: re-checks stop_
      if (fds[0].revents & POLLIN) {
        for (int fd; (fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          conns_.push_back(Conn{fd, {}, false, false});
          accepted_.fetch_add(1);
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        Conn& c = conns_[i - 1];
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          char buf[16384];
          const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
          if (n <= 0) {
            c.close = true;
            continue;
          }
          c.in.append(buf, static_cast<size_t>(n));
          answer(c);
        }
        if (c.streaming && (fds[i].revents & POLLOUT) &&
            ::send(c.fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN)
          c.close = true;
      }
      std::erase_if(conns_, [](const Conn& c) {
        if (c.close) ::close(c.fd);
        return c.close;
      });
    }
  }

  void send_all(Conn& c, std::string_view text) {
    // Small replies on a fresh socket: the kernel buffer takes them whole.
    if (::send(c.fd, text.data(), text.size(), MSG_NOSIGNAL) < 0) c.close = true;
  }

  // Requests here have no body (GET), so each ends at an empty line.
  void answer(Conn& c) {
    for (size_t end; !c.close && !c.streaming && (end = c.in.find("\r\n\r\n")) != std::string::npos;
         c.in.erase(0, end + 4)) {
      switch (behaviour_) {
        case Behaviour::silent:
          break;
        case Behaviour::garbage:
          send_all(c, "SSH-2.0-OpenSSH_9.2 \x01\x02\x03 not http at all\r\n\r\n");
          c.close = true;
          break;
        case Behaviour::headers_then_close:
          send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial");
          c.close = true;
          break;
        case Behaviour::endless_metrics:
          if (c.in.starts_with("GET /metrics")) {
            metrics_requests_.fetch_add(1);
            send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
            c.streaming = true;
          } else {
            send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          }
          break;
      }
    }
  }

  Behaviour behaviour_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<Conn> conns_;  // serve() thread only
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> metrics_requests_{0};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

const char* kGetScenario = R"(name = "hostile"
[load]
connections = 2
duration = "1s"
timeout = "500ms"
[[requests]]
kind = "http"
url = "/"
)";

struct CliRun {
  ProcessOutput p;
  fs::path out;
  std::optional<report::RunRecord> record;
};

CliRun run_against(const TempDir& dir, const std::string& target, const std::string& engine,
                   std::vector<std::string> extra = {}, const char* scenario = kGetScenario) {
  const fs::path toml = dir.path() / "hostile.toml";
  std::ofstream(toml) << scenario;
  CliRun r;
  r.out = dir.path() / ("run-" + engine);
  std::vector<std::string> args{"run",   toml.string(),      "--out", r.out.string(),
                                "--set", "target=" + target, "--set", "load.engine=" + engine};
  args.insert(args.end(), extra.begin(), extra.end());
  r.p = run_cli(args, std::chrono::seconds(30));
  auto rec = report::read_result_file((r.out / "result.json").string());
  if (rec) r.record = std::move(*rec);
  return r;
}

uint64_t errors_of(const report::RunRecord& r, load::ErrorClass c) {
  return r.stats.counters.errors[static_cast<size_t>(c)];
}

class HostileTarget : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Engines, HostileTarget, ::testing::Values("curl", "native"));

TEST_P(HostileTarget, UnreachablePortExitsThreeWithConnectErrorsNotThroughput) {
  TempDir dir;
  // Port 9 (discard) on loopback: nothing listens there.
  auto r = run_against(dir, "http://127.0.0.1:9", GetParam());
  EXPECT_EQ(r.p.exit_code, 3) << r.p.err << r.p.out;
  EXPECT_NE(r.p.err.find("never answered"), std::string::npos) << r.p.err;
  ASSERT_TRUE(r.record) << "result not written";
  EXPECT_GT(errors_of(*r.record, load::ErrorClass::connect), 0u);
  EXPECT_EQ(r.record->stats.counters.ok, 0u);
  EXPECT_EQ(r.record->stats.rps(), 0.0);  // connect failures are not throughput
  bool warned = false;
  for (const auto& w : r.record->warnings) warned = warned || w.find("never answered") != w.npos;
  EXPECT_TRUE(warned);
}

TEST(HostileTargetMatrix, UnreachablePortFailsTheMatrixWithExitThree) {
  TempDir dir;
  const fs::path toml = dir.path() / "hostile.toml";
  std::ofstream(toml) << kGetScenario;
  auto p = run_cli({"matrix", toml.string(), "--toggles", "pooling", "--quiet", "--out",
                    (dir.path() / "m").string(), "--results", (dir.path() / "results").string(),
                    "--set", "target=http://127.0.0.1:9", "--set", "load.duration=300ms"},
                   std::chrono::seconds(30));
  EXPECT_EQ(p.exit_code, 3) << p.err << p.out;
  EXPECT_NE(p.err.find("never answered"), std::string::npos) << p.err;
}

TEST_P(HostileTarget, SilentServerEndsAtTheTimeoutWithTimeoutsAndExitsThree) {
  HostileServer server(Behaviour::silent);
  TempDir dir;
  auto r = run_against(dir, server.url(), GetParam());
  EXPECT_EQ(r.p.exit_code, 3) << r.p.err << r.p.out;
  ASSERT_TRUE(r.record) << "result not written";
  EXPECT_GT(errors_of(*r.record, load::ErrorClass::timeout), 0u);
  EXPECT_EQ(r.record->stats.counters.ok, 0u);
  EXPECT_GT(server.accepted(), 0u);
}

TEST_P(HostileTarget, GarbageAnswersAreProtocolErrorsAndExitThree) {
  HostileServer server(Behaviour::garbage);
  TempDir dir;
  auto r = run_against(dir, server.url(), GetParam());
  EXPECT_EQ(r.p.exit_code, 3) << r.p.err << r.p.out;
  ASSERT_TRUE(r.record) << "result not written";
  EXPECT_GT(errors_of(*r.record, load::ErrorClass::protocol), 0u);
  EXPECT_EQ(r.record->stats.counters.ok, 0u);
}

TEST_P(HostileTarget, CloseAfterHeadersIsAnErrorNeverOk) {
  HostileServer server(Behaviour::headers_then_close);
  TempDir dir;
  auto r = run_against(dir, server.url(), GetParam());
  ASSERT_TRUE(r.record) << "result not written: " << r.p.err;
  // The status line arrived, so the target did answer (exit 0, no
  // thresholds); every request is still a protocol error, never ok.
  EXPECT_EQ(r.p.exit_code, 0) << r.p.err << r.p.out;
  EXPECT_GT(errors_of(*r.record, load::ErrorClass::protocol), 0u);
  EXPECT_EQ(r.record->stats.counters.error_total(), r.record->stats.counters.requests);
  EXPECT_EQ(r.record->stats.counters.ok, 0u);
}

TEST_P(HostileTarget, ForeignTargetMetricsAreNotScrapedUnlessAsked) {
  HostileServer server(Behaviour::endless_metrics);
  TempDir dir;
  auto r = run_against(dir, server.url(), GetParam());
  EXPECT_EQ(r.p.exit_code, 0) << r.p.err << r.p.out;
  ASSERT_TRUE(r.record) << "result not written";
  EXPECT_GT(r.record->stats.counters.ok, 0u);
  EXPECT_EQ(server.metrics_requests(), 0u);
}

TEST_P(HostileTarget, EndlessMetricsScrapeIsCappedAndMemoryStaysBounded) {
  HostileServer server(Behaviour::endless_metrics);
  TempDir dir;
  auto r = run_against(dir, server.url(), GetParam(), {"--set", "server.scrape_metrics=on"});
  EXPECT_EQ(r.p.exit_code, 0) << r.p.err << r.p.out;
  ASSERT_TRUE(r.record) << "result not written";
  EXPECT_GT(server.metrics_requests(), 0u);
  EXPECT_TRUE(r.record->server.metrics_delta.empty());
  bool noted = false;
  for (const auto& w : r.record->warnings) noted = noted || w.find("body over") != w.npos;
  EXPECT_TRUE(noted) << "no warning about the capped scrape";
  // The scrape stops at 8 MiB; the generator's peak stays far below what 2 s
  // of an unbounded loopback stream would hold (about 1 GiB).
  EXPECT_LT(r.record->stats.client_peak_rss_kb, kPeakRssBoundKb);
}

TEST_P(HostileTarget, ServerKilledMidRunCountsErrorsAndWritesTheResult) {
  TempDir dir;
  auto server = start_server(make_models(dir, 1, {16, 16, 4}));
  const std::string url = server.base_url();
  const char* scenario = R"(name = "killed"
[load]
connections = 2
duration = "3s"
timeout = "500ms"
[[requests]]
kind = "http"
url = "/v2/health/ready"
)";
  CliRun r;
  std::thread cli([&] { r = run_against(dir, url, GetParam(), {}, scenario); });
  // Kill once the run has been answered for a while (the server counts it).
  const auto served = [&] {
    double n = 0;
    for (const auto& [series, value] : runner::scrape_metrics(url))
      if (series.starts_with("servelab_http_requests_total{route=\"health_ready\"")) n += value;
    return n;
  };
  const bool answered = wait_until([&] { return served() > 100; }, std::chrono::seconds(10));
  ::kill(server.pid(), SIGKILL);
  cli.join();
  EXPECT_TRUE(answered) << "the server never counted the run's requests";
  EXPECT_EQ(r.p.exit_code, 0) << r.p.err << r.p.out;
  ASSERT_TRUE(r.record) << "result not written: " << r.p.err;
  EXPECT_GT(r.record->stats.counters.ok, 0u);
  EXPECT_GT(r.record->stats.counters.error_total(), 0u);
  EXPECT_FALSE(r.record->stats.partial);
}

// Every file in `dir` and the console, searched for each secret.
void expect_no_secret(const fs::path& dir, const ProcessOutput& p,
                      const std::vector<std::string>& secrets) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& s : secrets)
      EXPECT_EQ(text.str().find(s), std::string::npos) << s << " in " << e.path();
  }
  for (const auto& s : secrets) {
    EXPECT_EQ(p.out.find(s), std::string::npos) << s << " in stdout:\n" << p.out;
    EXPECT_EQ(p.err.find(s), std::string::npos) << s << " in stderr:\n" << p.err;
  }
}

const char* kSecretScenario = R"(name = "secrets"
[load]
connections = 2
duration = "500ms"
[[requests]]
kind = "http"
url = "/v2/health/ready?token=QUERYSECRET1&page=1"
headers = { Cookie = "COOKIESECRET2", "X-Auth-Token" = "AUTHTOKEN3", Accept = "text/plain" }
[[requests]]
kind = "http"
url = "/v2/health/live?api_key=QUERYSECRET4"
headers = { "x-goog-api-key" = "GOOGSECRET5", "Ocp-Apim-Subscription-Key" = "OCPSECRET6" }
)";

TEST_P(HostileTarget, SecretsReachNeitherTheResultFolderNorTheConsole) {
  TempDir dir;
  auto server = start_server(make_models(dir, 1, {16, 16, 4}));
  // The native engine takes no userinfo URL (auto picks curl for one).
  const bool curl = GetParam() == "curl";
  const std::string base = server.base_url();
  const std::string target = curl ? "http://user:URLPASSWORD7@" + base.substr(7) : base;
  auto r = run_against(dir, target, GetParam(),
                       {"--set", "requests.1.headers={Authorization = \"Bearer OVERRIDE8\"}",
                        "--set", "requests.0.headers.Proxy-Authorization=Basic OVERRIDE9"},
                       kSecretScenario);
  EXPECT_EQ(r.p.exit_code, 0) << r.p.err << r.p.out;
  ASSERT_TRUE(r.record) << "result not written: " << r.p.err;
  EXPECT_GT(r.record->stats.counters.ok, 0u);
  std::vector<std::string> secrets{"QUERYSECRET1", "COOKIESECRET2", "AUTHTOKEN3", "QUERYSECRET4",
                                   "GOOGSECRET5",  "OCPSECRET6",    "OVERRIDE8",  "OVERRIDE9"};
  if (curl) secrets.push_back("URLPASSWORD7");
  expect_no_secret(r.out, r.p, secrets);
  // What is not secret is still there.
  EXPECT_EQ(r.record->scenario.requests[0].name, "http GET /v2/health/ready?token=***&page=1");
  if (curl) {
    EXPECT_EQ(r.record->server.url, "http://***@" + base.substr(7));
  }
  // The report formats rendered from the result file: the same.
  for (const char* format : {"md", "html", "csv", "json"}) {
    auto rep = run_cli({"report", (r.out / "result.json").string(), "--format", format});
    EXPECT_EQ(rep.exit_code, 0) << rep.err;
    expect_no_secret(r.out, rep, secrets);
  }
}

}  // namespace
}  // namespace servelab::testing
