#include "http/http_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <chrono>
#include <exception>
#include <utility>

#include "http/http_stream.h"

namespace servelab::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

// Bytes asked for per read while waiting for a request or draining; the
// flat_buffer keeps this capacity for the life of the connection.
constexpr std::size_t kReadChunk = 16 * 1024;
// After an error response we read (and discard) what the client is still
// sending for at most this long, so closing with unread data does not reset
// the connection before the client has read our response (a lingering close).
constexpr std::chrono::milliseconds kLingerTimeout{2000};

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace

HttpSession::HttpSession(asio::ip::tcp::socket&& socket, SessionContext& context)
    : stream_(std::move(socket)), context_(context), continue_(bhttp::status::continue_, 11) {
  context_.stats.opened.fetch_add(1, std::memory_order_relaxed);
}

HttpSession::~HttpSession() {
  if (registered_) context_.unregister_session(this);
  context_.stats.closed.fetch_add(1, std::memory_order_relaxed);
}

void HttpSession::run() {
  const bool accepted = context_.register_session(this, weak_from_this());
  registered_ = accepted;
  asio::dispatch(stream_.get_executor(),
                 beast::bind_front_handler(&HttpSession::on_run, shared_from_this(), !accepted));
}

void HttpSession::stop() {
  asio::post(stream_.get_executor(),
             beast::bind_front_handler(&HttpSession::on_stop, shared_from_this()));
}

void HttpSession::on_run(bool server_stopping) {
  if (server_stopping) {
    stopping_ = true;
    close();
    return;
  }
  wait_for_request();
}

// The gap before the first byte of a request is the keep-alive idle time and
// gets idle_timeout; once bytes arrive, the whole request gets request_timeout.
void HttpSession::wait_for_request() {
  // stop() may have reached this strand before on_run(): never start idling
  // after it.
  if (stopping_) {
    close();
    return;
  }
  if (buffer_.size() > 0) {  // a pipelined request is already buffered
    read_request();
    return;
  }
  state_ = State::idle;
  stream_.expires_after(context_.config.idle_timeout);
  stream_.async_read_some(
      buffer_.prepare(kReadChunk),
      beast::bind_front_handler(&HttpSession::on_first_bytes, shared_from_this()));
}

void HttpSession::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec) {
    if (ec == beast::error::timeout)
      context_.stats.idle_timeouts.fetch_add(1, std::memory_order_relaxed);
    close();  // timeout (tcp_stream already closed the socket), EOF, stop() or reset
    return;
  }
  buffer_.commit(bytes);
  read_request();
}

void HttpSession::read_request() {
  state_ = State::reading;
  parser_.emplace();
  parser_->header_limit(context_.config.max_header_bytes);
  parser_->body_limit(context_.config.max_body_bytes);
  stream_.expires_after(context_.config.request_timeout);
  // The header first, so that a client waiting on "Expect: 100-continue"
  // (libcurl does for large POST bodies) gets its go-ahead before the body.
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      beast::bind_front_handler(&HttpSession::on_read_header, shared_from_this()));
}

void HttpSession::on_read_header(beast::error_code ec, std::size_t bytes) {
  if (ec || parser_->is_done()) {
    on_read(ec, bytes);
    return;
  }
  const auto& header = parser_->get();
  if (header.version() >= 11 && beast::iequals(header[bhttp::field::expect], "100-continue")) {
    bhttp::async_write(
        stream_, continue_,
        beast::bind_front_handler(&HttpSession::on_continue_sent, shared_from_this()));
    return;
  }
  read_body();
}

void HttpSession::on_continue_sent(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    close();
    return;
  }
  read_body();
}

void HttpSession::read_body() {
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t /*bytes*/) {
  if (!ec) {
    handle_request();
    return;
  }
  if (ec == bhttp::error::header_limit) {
    send_error(bhttp::status::request_header_fields_too_large,
               R"({"error":"request header fields too large"})");
  } else if (ec == bhttp::error::body_limit) {
    send_error(bhttp::status::payload_too_large, R"({"error":"request body too large"})");
  } else if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
             !is_parse_error(ec)) {
    close();  // the client went away, the request timed out, or a socket error
  } else {
    send_error(bhttp::status::bad_request, R"({"error":"malformed HTTP request"})");
  }
}

// The state behind a request's Responder copies. It holds the session and,
// through a work-tracking executor, keeps the io_context running until the
// answer is posted, so join() never returns with a response pending.
struct Responder::State {
  explicit State(std::shared_ptr<HttpSession> s)
      : session(std::move(s)),
        work(asio::prefer(session->executor(), asio::execution::outstanding_work.tracked)) {}
  ~State() {
    if (answered.exchange(true)) return;
    Response res(bhttp::status::internal_server_error, 11);
    res.set(bhttp::field::content_type, "application/json");
    res.body() = R"({"error":"internal server error"})";
    session->respond(std::move(res));
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  std::shared_ptr<HttpSession> session;
  asio::any_io_executor work;
  std::atomic<bool> answered{false};
  std::atomic<bool> client_gone{false};  // set by the session's client watch
};

void Responder::operator()(Response&& response) const {
  if (!state_ || state_->answered.exchange(true)) return;
  state_->session->respond(std::move(response));
  // Only the winner of `answered` touches these again: copies kept after the
  // answer must hold neither the session nor the server's threads.
  state_->session.reset();
  state_->work = asio::any_io_executor();
}

std::shared_ptr<BodyWriter> Responder::stream(ResponseHeader header) const {
  if (!state_ || state_->answered.exchange(true)) return nullptr;
  // Like operator(): the copies left behind hold neither session nor threads.
  return make_session_body_writer(std::move(state_->session), std::move(state_->work),
                                  std::move(header));
}

void Responder::watch_client() const {
  // Before the answer (REQUIRES), so `session` is still set and no other
  // thread resets it.
  if (state_ && state_->session) state_->session->watch_client(state_);
}

bool Responder::client_gone() const noexcept {
  return state_ && state_->client_gone.load(std::memory_order_acquire);
}

void HttpSession::watch_client(std::weak_ptr<Responder::State> request) {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), request = std::move(request)] {
    // Only while the request is handled: an answer already sent (or a
    // connection closing) has nothing left to stop.
    if (self->state_ != State::handling || self->watching_) return;
    self->watched_ = request;
    self->start_watch();
  });
}

void HttpSession::start_watch() {
  watching_ = true;
  stream_.socket().async_wait(
      asio::ip::tcp::socket::wait_read,
      beast::bind_front_handler(&HttpSession::on_client_readable, shared_from_this()));
}

void HttpSession::on_client_readable(beast::error_code ec) {
  watching_ = false;
  if (ec == asio::error::operation_aborted || watched_.expired()) return;  // stop_watch(), close
  if (!ec) {
    // Readable: bytes of a next (pipelined) request, or the end of the
    // stream. Peek, so that bytes stay for the next read.
    char byte = 0;
    const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {  // the client is still there (pipelining): stop watching
      watched_.reset();
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      start_watch();  // woken without anything to read
      return;
    }
  }
  client_left();  // EOF, reset or another socket error
}

void HttpSession::client_left() {
  if (auto request = watched_.lock()) request->client_gone.store(true, std::memory_order_release);
  watched_.reset();
  keep_alive_ = false;  // whatever is still sent ends the connection
  if (stream_out_ && !stream_out_->failed) {
    // A streamed body stops now, even one paused on a full buffer: the write
    // in flight fails, and with it the producer's stream.
    stream_out_->failed = true;
    state_ = State::closing;
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.cancel();
  }
}

void HttpSession::stop_watch() {
  watched_.reset();
  if (!watching_) return;
  // REQUIRES: no other operation on the socket is pending (the answer is
  // over): cancel() ends them all.
  beast::error_code ignored;
  stream_.socket().cancel(ignored);
}

void HttpSession::handle_request() {
  state_ = State::handling;
  Request request = parser_->release();
  keep_alive_ = request.keep_alive();
  version_ = request.version();
  context_.stats.requests.fetch_add(1, std::memory_order_relaxed);
  try {
    context_.handler(std::move(request),
                     Responder(std::make_shared<Responder::State>(shared_from_this())));
  } catch (const std::exception&) {
    // The Responder died unanswered during unwinding: the client gets 500.
  }
}

void HttpSession::respond(Response&& response) {
  asio::post(stream_.get_executor(),
             [self = shared_from_this(), res = std::move(response)]() mutable {
               self->on_response(std::move(res));
             });
}

void HttpSession::on_response(Response&& response) {
  stop_watch();
  response_ = std::move(response);
  response_.version(version_);
  bool keep_alive = keep_alive_ && !stopping_;
  const uint64_t limit = context_.config.max_requests_per_connection;
  if (++responses_ >= limit && limit > 0 && keep_alive) {
    keep_alive = false;  // "Connection: close" on the Nth response
    context_.stats.max_requests_closes.fetch_add(1, std::memory_order_relaxed);
  }
  write_response(keep_alive);
}

void HttpSession::send_error(bhttp::status status, const char* json_body) {
  context_.stats.rejected.fetch_add(1, std::memory_order_relaxed);
  linger_ = true;
  response_ = Response(status, 11);
  response_.set(bhttp::field::content_type, "application/json");
  response_.body() = json_body;
  write_response(false);
}

void HttpSession::write_response(bool keep_alive) {
  state_ = State::writing;
  response_.keep_alive(keep_alive);
  response_.prepare_payload();
  // A client that stops reading must not hold the connection forever.
  stream_.expires_after(context_.config.request_timeout);
  bhttp::async_write(
      stream_, response_,
      beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), keep_alive));
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t /*bytes*/) {
  response_ = Response();  // release the body now, not at the next request
  if (ec) {
    close();
    return;
  }
  if (linger_) {
    lingering_close();  // the rejected request was not read to its end
  } else if (!keep_alive || stopping_) {
    close();
  } else {
    wait_for_request();
  }
}

void HttpSession::on_stop() {
  stopping_ = true;
  // Idle (no byte of a request yet) or draining: nothing in flight, close now.
  // Reading a request that has begun, or writing: finish it, then close.
  if (state_ == State::idle || state_ == State::closing) stream_.cancel();
}

void HttpSession::close() {
  stop_watch();  // every caller runs after its own operation completed
  state_ = State::closing;
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  // The socket closes when the last handler holding this session returns.
}

void HttpSession::lingering_close() {
  close();
  if (stopping_) return;
  stream_.expires_after(
      std::min<std::chrono::milliseconds>(kLingerTimeout, context_.config.request_timeout));
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          beast::bind_front_handler(&HttpSession::on_drain, shared_from_this()));
}

void HttpSession::on_drain(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) return;  // EOF, timeout or stop(): done
  // The prepared area is never committed, so each read reuses it.
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          beast::bind_front_handler(&HttpSession::on_drain, shared_from_this()));
}

}  // namespace servelab::http
