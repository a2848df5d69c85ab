#pragma once
// HttpServer's knobs as a plain struct, in a header of its own so that code
// which only configures a server (flags, the embedded runner) does not pull
// in Beast.

#include <chrono>
#include <cstdint>
#include <string>

namespace servelab::http {

struct ServerConfig {
  std::string host = "127.0.0.1";              // loopback unless asked otherwise
  uint16_t port = 0;                           // 0: an ephemeral port (see HttpServer::port())
  int threads = 1;                             // network threads running the io_context
  uint32_t max_header_bytes = 8 * 1024;        // bytes; larger headers: 431
  uint64_t max_body_bytes = 16 * 1024 * 1024;  // bytes; larger bodies: 413
  std::chrono::milliseconds request_timeout{30'000};  // to read one whole request
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive connection with no request
  // After this many responses on one connection the server answers with
  // "Connection: close" and closes it (0: unlimited), like nginx's
  // keepalive_requests: clients must detect and replace closed connections.
  uint64_t max_requests_per_connection = 0;
  int backlog = 1024;  // listen(2) backlog
  // SO_SNDBUF of each accepted connection, bytes (0: the kernel's
  // autotuning, up to net.ipv4.tcp_wmem's maximum, 4 MiB by default). Like
  // nginx's `listen ... sndbuf=`: a small buffer makes a slow reader push
  // back on a stream after kilobytes rather than megabytes.
  uint64_t send_buffer_bytes = 0;
};

}  // namespace servelab::http
