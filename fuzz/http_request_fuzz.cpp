// The server's HTTP request path, fed the way a socket feeds it: each input
// is the byte stream of one client connection to the real HttpServer
// (http/http_session.cpp: Beast's parser with the server's header and body
// limits, 100-continue, pipelining, keep-alive, lingering close) in front of
// the real InferenceApi (router, v2, repository, metrics, completions). The
// client writes the bytes, half-closes, and reads until the server closes.
// A crash, a sanitizer report, a 500, a reply that is not HTTP, or a
// connection the server does not close within 10 s is a finding.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_server.h"

namespace {

// The longest the server may take to answer and close one connection, in ms.
constexpr int kCloseDeadlineMs = 10'000;

[[noreturn]] void finding(const char* what, const std::string& reply) {
  std::fprintf(stderr, "http_request_fuzz: %s; reply: %.300s\n", what, reply.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint16_t port = servelab::fuzz::FuzzServer::instance().listen();

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) std::abort();
  // Each connection from its own loopback source address (127.1.0.0 and
  // up, the whole of 127/8 is loopback): the client's half-close is the
  // first FIN, so its side of every connection waits in TIME_WAIT for 60 s,
  // and from one source address a few hundred connections a second would
  // exhaust the 28K ephemeral ports within a minute.
  static uint32_t connections = 0;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl(0x7F010000U + connections++ % 0x00FE0000U);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
    std::fprintf(stderr, "http_request_fuzz: bind: %s\n", std::strerror(errno));
    std::abort();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "http_request_fuzz: connect: %s\n", std::strerror(errno));
    std::abort();
  }

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kCloseDeadlineMs);
  const auto left_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };

  std::string reply;
  char buf[16 * 1024];
  size_t sent = 0;
  bool write_open = true;
  bool read_open = true;
  while (read_open) {
    if (write_open && sent == size) {
      ::shutdown(fd, SHUT_WR);
      write_open = false;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    const int ready = ::poll(&p, 1, left_ms());
    if (ready == 0) finding("the server did not close the connection within 10 s", reply);
    if (ready < 0) continue;  // EINTR
    if ((p.revents & POLLOUT) != 0 && write_open) {
      const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else {
        write_open = false;  // the server stopped reading (an error answer, then close)
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        // Keep what the checks read; the rest is only drained.
        if (reply.size() < 64 * 1024) reply.append(buf, static_cast<size_t>(n));
      } else {
        read_open = false;  // EOF or reset
      }
    }
  }
  ::close(fd);

  if (!reply.empty()) {
    if (reply.rfind("HTTP/1.", 0) != 0) finding("a reply that is not HTTP/1.x", reply);
    // In any response of a pipelined reply: 500 is an unhandled failure.
    if (reply.find(" 500 Internal Server Error\r\n") != std::string::npos) {
      finding("a 500 answer", reply);
    }
  }
  return 0;
}
