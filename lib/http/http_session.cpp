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
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
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

// A request header refused before its body is read.
struct Refusal {
  bhttp::status status;
  std::string body;  // {"error": ...}
};

std::string error_json(std::string_view message) {
  std::string out = R"({"error":")";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;  // messages are ours: no control bytes
  }
  out += "\"}";
  return out;
}

// RFC 3986 uri-host [ ":" port ]: unreserved, pct-encoded, sub-delims, ':'
// and the brackets of an IP literal. Whitespace, '/', '@' and control bytes
// make a Host value invalid.
bool valid_host_value(std::string_view v) {
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~%!$&'()*+,;=:[]").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Host (RFC 9112 section 3.2): exactly one in an HTTP/1.1 request, at most
// one in an HTTP/1.0 one, with a valid value; else 400.
//
// Transfer-Encoding (RFC 9112 sections 6.1 and 6.3): the server decodes
// `chunked` only. Beast frames a request by chunked when it is the last
// coding and otherwise reads no body at all, which would parse the body as
// the next request, so the framing is settled here before the body is read:
//   - chunked not last, applied twice, an empty list, or any
//     Transfer-Encoding in an HTTP/1.0 request: the length cannot be
//     determined, 400 (section 6.3: "MUST respond with 400");
//   - chunked last after other codings (gzip, chunked): a coding the server
//     does not implement, 501 (section 6.1: "SHOULD respond with 501").
std::optional<Refusal> check_header(const bhttp::request_header<>& h) {
  const auto hosts = h.equal_range(bhttp::field::host);
  const auto host_count = std::distance(hosts.first, hosts.second);
  if (host_count > 1)
    return Refusal{bhttp::status::bad_request, error_json("more than one Host header")};
  if (host_count == 0 && h.version() >= 11)
    return Refusal{bhttp::status::bad_request,
                   error_json("HTTP/1.1 request without a Host header")};
  if (host_count == 1 && !valid_host_value(hosts.first->value()))
    return Refusal{bhttp::status::bad_request, error_json("invalid Host header value")};

  const auto codings = h.equal_range(bhttp::field::transfer_encoding);
  if (codings.first == codings.second) return std::nullopt;
  if (h.version() < 11) {
    return Refusal{bhttp::status::bad_request,
                   error_json("Transfer-Encoding in an HTTP/1.0 request")};
  }
  size_t chunked = 0;
  bool chunked_last = false;
  std::string_view unsupported;  // the first coding other than chunked
  for (auto it = codings.first; it != codings.second; ++it) {
    std::string_view list = it->value();
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      item = item.substr(0, item.find(';'));  // transfer parameters
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item.empty()) continue;  // "#" lists allow empty elements
      chunked_last = beast::iequals(item, "chunked");
      if (chunked_last) {
        ++chunked;
      } else if (unsupported.empty()) {
        unsupported = item;
      }
    }
  }
  if (!chunked_last || chunked > 1) {
    return Refusal{bhttp::status::bad_request,
                   error_json(chunked > 1 ? "Transfer-Encoding applies chunked more than once"
                                          : "Transfer-Encoding must end with chunked")};
  }
  if (!unsupported.empty()) {
    return Refusal{bhttp::status::not_implemented,
                   error_json("transfer coding '" + std::string(unsupported.substr(0, 64)) +
                              "' is not supported; send the body with Transfer-Encoding: "
                              "chunked alone")};
  }
  return std::nullopt;
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
  if (!ec) {
    if (auto refused = check_header(parser_->get())) {
      send_error(refused->status, std::move(refused->body));
      return;
    }
  }
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

void HttpSession::send_error(bhttp::status status, std::string json_body) {
  context_.stats.rejected.fetch_add(1, std::memory_order_relaxed);
  linger_ = true;
  response_ = Response(status, 11);
  response_.set(bhttp::field::content_type, "application/json");
  response_.body() = std::move(json_body);
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
