#pragma once
// One accepted connection of HttpServer (internal to lib/http). Reads
// requests one after another on the connection's strand, hands each to the
// handler with a Responder, writes the response when it comes (from any
// thread, posted back to the strand), and keeps the connection open while
// both sides want keep-alive (Beast example/http/server/async).

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/http_server.h"

namespace servelab::http {

class HttpSession;

// What every session of one server shares. Outlives all sessions: the server
// joins its threads before destroying it.
struct SessionContext {
  const ServerConfig& config;
  const AsyncHandler& handler;
  ConnectionStats& stats;
  // Called once from a session's constructor / destructor (any thread) so the
  // server can reach live sessions on stop(). register_session returns false
  // when the server is already stopping: the session then closes at once.
  std::function<bool(HttpSession*, std::weak_ptr<HttpSession>)> register_session;
  std::function<void(HttpSession*)> unregister_session;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket&& socket, SessionContext& context);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // REQUIRES: called once, right after construction through a shared_ptr.
  void run();
  // Server is stopping: close now if idle, else after the current response.
  // Any thread.
  void stop();
  // The handler's answer to the request being handled. Any thread.
  void respond(Response&& response);
  // The executor of this session's strand (Responder keeps its work count).
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

  // A streamed answer (http_stream.cpp): start_stream() sends the header,
  // stream_write() one piece of the body, on the strand. Any thread.
  void start_stream(ResponseHeader&& header);
  void stream_write(std::span<const char> data, bool last, BodyWriter::Done done);
  void stream_abort();
  // Responder::watch_client(): watches the socket while `request` is being
  // answered. Any thread.
  void watch_client(std::weak_ptr<Responder::State> request);

 private:
  enum class State { idle, reading, handling, writing, closing };

  void on_run(bool server_stopping);
  void wait_for_request();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void read_request();
  void on_read_header(boost::beast::error_code ec, std::size_t bytes);
  void on_continue_sent(boost::beast::error_code ec, std::size_t bytes);
  void read_body();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle_request();
  void on_response(Response&& response);
  void send_error(boost::beast::http::status status, std::string json_body);
  void write_response(bool keep_alive);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void on_stop();
  void close();
  void lingering_close();
  void on_drain(boost::beast::error_code ec, std::size_t bytes);
  struct StreamOut;  // http_stream.cpp
  void on_stream_header(boost::beast::error_code ec, std::size_t bytes);
  void do_stream_write(std::span<const char> data, bool last, BodyWriter::Done done);
  void on_stream_written(bool last, boost::beast::error_code ec, std::size_t bytes);
  // The client watch (strand only): a wait for readability of the socket
  // while an answer is produced; readable with no data is the client gone.
  void start_watch();
  void on_client_readable(boost::beast::error_code ec);
  void client_left();
  void stop_watch();

  boost::beast::tcp_stream stream_;
  SessionContext& context_;
  boost::beast::flat_buffer buffer_;  // reused across requests of this connection
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Response response_;
  boost::beast::http::response<boost::beast::http::empty_body> continue_;  // "100 Continue"
  State state_ = State::idle;
  bool stopping_ = false;  // server stop() reached this session (strand-only)
  bool registered_ = false;
  bool linger_ = false;      // an error response ends the connection with a lingering close
  bool keep_alive_ = false;  // of the request being handled
  unsigned version_ = 11;    // of the request being handled
  uint64_t responses_ = 0;   // answered on this connection (max_requests_per_connection)
  std::unique_ptr<StreamOut> stream_out_;    // while a streamed answer is being sent
  std::weak_ptr<Responder::State> watched_;  // the request whose client is watched
  bool watching_ = false;                    // a wait on the socket is pending
};

}  // namespace servelab::http
