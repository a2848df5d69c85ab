// The real servelab-server against requests a careless or hostile client
// sends: an IPv6 listening address, RFC 9112 Host and Transfer-Encoding
// cases, ragged and non-finite infer data, the API key, the warning for a
// non-loopback bind without one, and load shedding past --max-queue. Traffic
// goes to 127.0.0.1 (or ::1) only, over raw sockets where the exact bytes
// matter.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/prometheus_text.h"
#include "fixture.h"
#include "runner/http_get.h"

extern char** environ;

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

uint16_t port_of(const std::string& url) {
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

struct RawResponse {
  int status = 0;
  std::string text;  // status line, header and body as received
  bool has_header(const std::string& line) const {
    return text.find("\r\n" + line) != std::string::npos;
  }
  std::string body() const {
    const size_t end = text.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : text.substr(end + 4);
  }
};

int connect_loopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads every fd until the server closes it (each request asks for
// Connection: close, or is refused, which closes too), or until the deadline.
std::vector<RawResponse> read_all(const std::vector<int>& fds, Clock::time_point deadline) {
  std::vector<RawResponse> out(fds.size());
  std::vector<pollfd> polls;
  for (int fd : fds) polls.push_back({fd, POLLIN, 0});
  size_t open = fds.size();
  char buf[16384];
  while (open > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << open << " responses not complete before the deadline";
      break;
    }
    if (::poll(polls.data(), polls.size(), static_cast<int>(left.count())) <= 0) continue;
    for (size_t i = 0; i < polls.size(); ++i) {
      if (polls[i].fd < 0 || polls[i].revents == 0) continue;
      const ssize_t n = ::recv(polls[i].fd, buf, sizeof buf, 0);
      if (n <= 0) {
        ::close(polls[i].fd);
        polls[i].fd = -1;
        --open;
      } else {
        out[i].text.append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& p : polls)
    if (p.fd >= 0) ::close(p.fd);
  for (auto& r : out) {
    if (r.text.rfind("HTTP/1.", 0) == 0 && r.text.size() > 12)
      r.status = std::stoi(r.text.substr(9, 3));
  }
  return out;
}

RawResponse raw_roundtrip(uint16_t port, const std::string& raw) {
  const int fd = connect_loopback(port);
  EXPECT_GE(fd, 0) << "connect 127.0.0.1:" << port;
  if (fd < 0) return {};
  EXPECT_TRUE(send_all(fd, raw));
  return read_all({fd}, Clock::now() + 10s).front();
}

std::string post(const std::string& target, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
         extra_headers +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
         "\r\n";
}

// An infer body for mlp-0 (make_models: 64 inputs) with `data` spelled as given.
std::string infer_body(const std::string& data, int rows = 1) {
  return R"({"inputs":[{"name":"input","datatype":"FP32","shape":[)" + std::to_string(rows) +
         R"(,64],"data":)" + data + "}]}";
}
std::string numbers(int n, const std::string& first = "0.5") {
  std::string out = first;
  for (int i = 1; i < n; ++i) out += ",0.25";
  return out;
}
// "[" + numbers(n, first) + "]", appended (GCC 12 warns falsely on the +).
std::string flat(int n, const std::string& first = "0.5") {
  std::string out = "[";
  out += numbers(n, first);
  out += ']';
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ServerHardening, ListeningLineForIpv6IsAUrlWithBrackets) {
  {
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) GTEST_SKIP() << "::1 is not available on this machine";
  }
  TempDir dir("hardening-ipv6");
  runner::ServerProcessConfig cfg;
  cfg.executable = bin_dir() + "/servelab-server";
  cfg.args = {"--models", make_models(dir), "--host", "::1"};
  cfg.log_path = (dir.path() / "server.log").string();
  // start() reads the listening line and polls its URL for readiness:
  // "http://::1:PORT" is no URL and never gets ready.
  auto server = runner::ServerProcess::start(cfg);
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(server->base_url().rfind("http://[::1]:", 0), 0u) << server->base_url();
  auto live = runner::http_get(server->base_url() + "/v2/health/live", 5s);
  ASSERT_TRUE(live.ok()) << live.error().message;
  EXPECT_EQ(live->status, 200);
  // No warning: ::1 is loopback.
  EXPECT_EQ(read_file(cfg.log_path).find("beyond loopback"), std::string::npos);
}

TEST(ServerHardening, HostHeaderMustBeThereOnceInHttp11) {
  TempDir dir("hardening-host");
  auto server = start_server(make_models(dir));
  const uint16_t port = port_of(server.base_url());
  const RawResponse none =
      raw_roundtrip(port, "GET /v2/health/live HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(none.status, 400) << none.text;
  EXPECT_NE(none.body().find("\"error\""), std::string::npos) << none.text;
  EXPECT_EQ(
      raw_roundtrip(
          port, "GET /v2/health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")
          .status,
      400);
  EXPECT_EQ(raw_roundtrip(port, get("/v2/health/live")).status, 200);
  EXPECT_EQ(raw_roundtrip(port, "GET /v2/health/live HTTP/1.0\r\n\r\n").status, 200);
}

TEST(ServerHardening, TransferEncodingOtherThanChunkedIsRefused) {
  TempDir dir("hardening-te");
  auto server = start_server(make_models(dir));
  const uint16_t port = port_of(server.base_url());
  const std::string body = infer_body(flat(64));
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  auto chunked = [&](const std::string& te) {
    return "POST /v2/models/mlp-0/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
           "Transfer-Encoding: " +
           te + "\r\n\r\n" + size + "\r\n" + body + "\r\n0\r\n\r\n";
  };
  EXPECT_EQ(raw_roundtrip(port, chunked("chunked")).status, 200);
  const RawResponse gzip = raw_roundtrip(port, chunked("gzip, chunked"));
  EXPECT_EQ(gzip.status, 501) << gzip.text;
  EXPECT_NE(gzip.body().find("gzip"), std::string::npos) << gzip.text;
  EXPECT_EQ(raw_roundtrip(port, chunked("chunked, gzip")).status, 400);
  EXPECT_EQ(raw_roundtrip(port, chunked("gzip")).status, 400);
}

TEST(ServerHardening, RaggedAndNonFiniteInferDataGet400NamingTheInput) {
  TempDir dir("hardening-data");
  auto server = start_server(make_models(dir));
  const uint16_t port = port_of(server.base_url());
  const std::string url = "/v2/models/mlp-0/infer";
  // 65 + 63 = 128 = 2 x 64 numbers, but not two rows of 64.
  const RawResponse ragged = raw_roundtrip(
      port, post(url, infer_body("[[" + numbers(65) + "],[" + numbers(63) + "]]", 2)));
  EXPECT_EQ(ragged.status, 400) << ragged.text;
  EXPECT_NE(ragged.body().find("input 'input'"), std::string::npos) << ragged.text;
  for (const std::string bad : {"1e999", "-1e999", "1e39", "\"NaN\"", "\"Infinity\""}) {
    const RawResponse r = raw_roundtrip(port, post(url, infer_body(flat(64, bad))));
    EXPECT_EQ(r.status, 400) << bad << ": " << r.text;
    EXPECT_NE(r.body().find("input 'input'"), std::string::npos) << r.text;
    EXPECT_EQ(r.body().find("null"), std::string::npos) << r.text;
  }
  EXPECT_EQ(
      raw_roundtrip(port, post(url, infer_body("[[" + numbers(64) + "],[" + numbers(64) + "]]", 2)))
          .status,
      200);
}

constexpr const char* kKey = "integration-Key-7f3a";

TEST(ServerHardening, ApiKeyProtectsEveryRouteButHealth) {
  TempDir dir("hardening-auth");
  const std::string key_file = (dir.path() / "key").string();
  std::ofstream(key_file) << kKey << "\n";
  const std::string log = (dir.path() / "server.log").string();
  auto server = start_server(make_models(dir), {"--api-key-file", key_file}, log);
  const uint16_t port = port_of(server.base_url());
  const std::string body = infer_body(flat(64));
  const std::string url = "/v2/models/mlp-0/infer";

  const RawResponse none = raw_roundtrip(port, post(url, body));
  EXPECT_EQ(none.status, 401) << none.text;
  EXPECT_TRUE(none.has_header("WWW-Authenticate: Bearer")) << none.text;
  EXPECT_NE(none.body().find("\"error\""), std::string::npos);
  const RawResponse wrong = raw_roundtrip(port, post(url, body, "Authorization: Bearer nope\r\n"));
  EXPECT_EQ(wrong.status, 401) << wrong.text;
  EXPECT_TRUE(wrong.has_header("WWW-Authenticate: Bearer")) << wrong.text;
  const std::string right = std::string("Authorization: Bearer ") + kKey + "\r\n";
  EXPECT_EQ(raw_roundtrip(port, post(url, body, right)).status, 200);
  EXPECT_EQ(raw_roundtrip(port, post("/v2/repository/index", "")).status, 401);
  EXPECT_EQ(raw_roundtrip(port, get("/metrics")).status, 401);
  EXPECT_EQ(raw_roundtrip(port, get("/v2/health/ready")).status, 200);
  EXPECT_EQ(raw_roundtrip(port, get("/v2/health/live")).status, 200);

  const RawResponse metrics = raw_roundtrip(port, get("/metrics", right));
  ASSERT_EQ(metrics.status, 200);
  const auto m = parse_prometheus_text(metrics.body());
  EXPECT_EQ(metric(m, R"(servelab_http_requests_total{route="infer",code="401"})"), 2);
  EXPECT_EQ(metric(m, R"(servelab_http_requests_total{route="infer",code="200"})"), 1);
  EXPECT_EQ(metrics.text.find(kKey), std::string::npos);
  EXPECT_TRUE(server.stop().clean);
  EXPECT_EQ(read_file(log).find(kKey), std::string::npos) << "the key reached the server log";
}

TEST(ServerHardening, ProtectASubsetLeavesTheOtherRoutesOpen) {
  TempDir dir("hardening-protect");
  auto server =
      start_server(make_models(dir), {"--api-key", kKey, "--protect", "repository,metrics"});
  const uint16_t port = port_of(server.base_url());
  EXPECT_EQ(raw_roundtrip(port, post("/v2/models/mlp-0/infer", infer_body(flat(64)))).status, 200);
  EXPECT_EQ(raw_roundtrip(port, post("/v2/repository/index", "")).status, 401);
  EXPECT_EQ(raw_roundtrip(port, get("/metrics")).status, 401);
  const std::string right = std::string("Authorization: Bearer ") + kKey + "\r\n";
  EXPECT_EQ(raw_roundtrip(port, post("/v2/repository/index", "", right)).status, 200);
  EXPECT_EQ(raw_roundtrip(port, get("/metrics", right)).status, 200);
}

// Spawns servelab-server with `args`, its stderr into `log`, reads the
// listening line and stops it with SIGTERM; sends it no traffic (it may
// listen on 0.0.0.0). Returns the listening line.
std::string listen_and_stop(const std::vector<std::string>& args, const std::string& log) {
  int out_pipe[2];
  EXPECT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv_s{bin_dir() + "/servelab-server"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv_s[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  std::string out;
  const auto deadline = Clock::now() + 20s;
  while (rc == 0 && out.find('\n') == std::string::npos && Clock::now() < deadline) {
    pollfd p{out_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(out_pipe[0]);
  if (rc != 0) {
    ADD_FAILURE() << "spawn failed: " << rc;
    return out;
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  return out;
}

TEST(ServerHardening, BindingBeyondLoopbackWithoutAKeyPrintsAWarning) {
  TempDir dir("hardening-warning");
  const std::string models = make_models(dir);
  const std::string log = (dir.path() / "server.log").string();
  const std::string line =
      listen_and_stop({"--models", models, "--host", "0.0.0.0", "--port", "0"}, log);
  EXPECT_EQ(line.rfind("listening http://0.0.0.0:", 0), 0u) << line;
  const std::string err = read_file(log);
  EXPECT_NE(err.find("warning: listening on 0.0.0.0 beyond loopback without --api-key"),
            std::string::npos)
      << err;

  // With a key: no warning, and the key is nowhere in the output.
  listen_and_stop({"--models", models, "--host", "0.0.0.0", "--port", "0", "--api-key", kKey}, log);
  const std::string keyed = read_file(log);
  EXPECT_EQ(keyed.find("beyond loopback"), std::string::npos) << keyed;
  EXPECT_EQ(keyed.find(kKey), std::string::npos) << keyed;
  // Loopback: no warning.
  listen_and_stop({"--models", models, "--port", "0"}, log);
  EXPECT_EQ(read_file(log).find("beyond loopback"), std::string::npos) << read_file(log);
}

TEST(ServerHardening, PastMaxQueueInferIsShedAtOnceWith503AndCounted) {
  TempDir dir("hardening-shed");
  // One compute thread stalled 300 ms at a time (the stall aid) holds the
  // admitted requests, so that a burst of 48 overflows --max-queue 4.
  auto server =
      start_server(make_models(dir), {"--max-queue", "4", "--compute-threads", "1", "--threads",
                                      "2", "--stall-every", "10ms", "--stall-for", "300ms"});
  const uint16_t port = port_of(server.base_url());
  const std::string request = post("/v2/models/mlp-0/infer", infer_body(flat(64)));
  constexpr int kBurst = 48;
  std::vector<int> fds;
  for (int i = 0; i < kBurst; ++i) {
    const int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  const auto sent_at = Clock::now();
  for (int fd : fds) ASSERT_TRUE(send_all(fd, request));
  const std::vector<RawResponse> responses = read_all(fds, Clock::now() + 30s);
  int ok = 0, shed = 0;
  for (const RawResponse& r : responses) {
    if (r.status == 200) {
      ++ok;
    } else if (r.status == 503) {
      ++shed;
      EXPECT_TRUE(r.has_header("Retry-After: 1")) << r.text;
      EXPECT_NE(r.body().find("\"error\""), std::string::npos) << r.text;
    } else {
      ADD_FAILURE() << "unexpected answer: " << r.text.substr(0, 200);
    }
  }
  EXPECT_EQ(ok + shed, kBurst);
  EXPECT_GE(shed, 1);
  EXPECT_GE(ok, 1);
  // At most max_queue requests were ever admitted per stall; the burst was
  // sent within a stall, so most were shed.
  EXPECT_LT(Clock::now() - sent_at, 30s);

  const RawResponse metrics = raw_roundtrip(port, get("/metrics"));
  ASSERT_EQ(metrics.status, 200);
  const auto m = parse_prometheus_text(metrics.body());
  EXPECT_EQ(metric(m, "servelab_requests_shed_total"), shed);
  EXPECT_EQ(metric(m, R"(servelab_http_requests_total{route="infer",code="503"})"), shed);
  EXPECT_EQ(metric(m, R"(servelab_http_requests_total{route="infer",code="200"})"), ok);
  EXPECT_EQ(metric(m, "servelab_infer_max_queue"), 4);
  EXPECT_TRUE(server.stop().clean);
}

}  // namespace
}  // namespace servelab::testing
