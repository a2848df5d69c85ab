#pragma once
// An HTTP/1.1 server on Boost.Beast/Asio: N threads run one io_context, each
// connection is a session on its own strand with keep-alive, limits on header
// and body size, a deadline for reading a request and an idle keep-alive
// timeout (Beast example/http/server/async). Request handling is a plain
// function from request to response, so handlers are tested without sockets;
// a handler that answers later (work on other threads) takes a Responder.

#include <atomic>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/result.h"
#include "http/body_writer.h"
#include "http/server_config.h"

namespace servelab::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
// Called on a network thread, concurrently from several connections.
using Handler = std::function<Response(Request&&)>;

class HttpSession;

// Answers one request, from any thread, at any later time: the session sends
// the response on its own strand. Copies share one answer: the first call
// wins, later calls are ignored. If every copy is dropped unanswered (the
// handler threw, or forgot), the client gets 500. While an answer is pending
// the server's threads keep running (stop() + join() wait for it).
class Responder {
 public:
  struct State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void operator()(Response&& response) const;
  // Answers with a streamed body instead: sends `header` with
  // Transfer-Encoding: chunked and returns the writer of the body (see
  // BodyWriter). Counts as the answer (first call wins: null when already
  // answered). A writer dropped before its last write aborts the response.
  // The server's threads keep running until the body is finished or aborted.
  std::shared_ptr<BodyWriter> stream(ResponseHeader header) const;
  // Watches the connection until this request's answer is over (its
  // response written, or its streamed body finished or aborted): when the
  // client closes or resets it, client_gone() turns true and a streamed body
  // is aborted. For long answers (generation) whose work should stop when
  // nobody waits for them; opt-in, since it costs a wait on the socket (no
  // syscall until the client acts). An end of stream counts as gone, as in
  // nginx (499): a client that half-closes after its request is not served.
  // A pipelined next request ends the watch (that client is still there).
  // Any thread; call it before answering.
  void watch_client() const;
  // The client went away while watched (see watch_client()). Any thread;
  // one atomic load, so a producer may poll it per step.
  bool client_gone() const noexcept;

 private:
  std::shared_ptr<State> state_;
};

// Called on a network thread like Handler; must not block on slow work:
// hand it to other threads and answer through the Responder.
using AsyncHandler = std::function<void(Request&&, Responder)>;

// Connection counters, readable while the server runs (for /metrics).
struct ConnectionStats {
  std::atomic<uint64_t> opened{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> requests{0};       // requests read and answered
  std::atomic<uint64_t> idle_timeouts{0};  // keep-alive connections closed for idling
  std::atomic<uint64_t> max_requests_closes{
      0};                             // closed after max_requests_per_connection responses
  std::atomic<uint64_t> rejected{0};  // 4xx sent for limits (header/body size, bad request)
};

class HttpServer {
 public:
  HttpServer(ServerConfig config, Handler handler);
  HttpServer(ServerConfig config, AsyncHandler handler);
  ~HttpServer();  // stop() + join()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the threads. Error if the address cannot be bound.
  Status start();
  uint16_t port() const;  // REQUIRES: start() succeeded
  // Stops accepting, lets in-flight requests finish and closes idle
  // connections; returns at once. Safe from a signal-handling thread.
  void stop();
  // Waits for the threads to finish after stop().
  void join();

  const ConnectionStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace servelab::http
