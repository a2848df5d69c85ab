#include "load/native_transport.h"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "load/http1_request.h"
#include "load/http_url.h"

namespace servelab::load {
namespace {

namespace bhttp = boost::beast::http;

// One connection's receive buffer. A response's header must fit (Beast's
// header limit is 8 KiB); body bytes are consumed as they arrive, so only a
// header or a chunk header is ever kept across reads. 16 KiB x 1,000
// connections = 16 MB.
constexpr size_t kBufSize = 16 * 1024;
constexpr uint32_t kEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

// ErrorClass as an int for done(); -1 = a response arrived.
constexpr int kResponse = -1;
int as_int(ErrorClass e) { return static_cast<int>(e); }

}  // namespace

// Counts the response and keeps its status; stores nothing. Re-emplaced in
// place (std::optional) for every response: no allocation.
class NativeTransport::Parser final : public bhttp::basic_parser<false> {
 public:
  explicit Parser(bool head) {
    skip(head);               // a HEAD response announces a body it does not send
    body_limit(boost::none);  // bodies are counted, not stored: no limit needed
  }
  int status = 0;

 private:
  void on_request_impl(bhttp::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::beast::error_code&) override {}
  void on_response_impl(int code, boost::beast::string_view, int,
                        boost::beast::error_code&) override {
    status = code;
  }
  void on_field_impl(bhttp::field, boost::beast::string_view, boost::beast::string_view,
                     boost::beast::error_code&) override {}
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::beast::error_code&) override {}
  size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                            boost::beast::error_code&) override {
    return body.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {}
};

struct NativeTransport::Conn {
  enum class State : uint8_t { idle, connecting, sending, receiving, failed };
  int fd = -1;
  State state = State::idle;
  bool busy = false;
  bool reused = false;   // this transfer began on a kept-alive connection
  bool retried = false;  // ...and was already resent once on a fresh one
  uint32_t mix = 0;
  int error = 0;          // State::failed: the ErrorClass to report
  size_t out_off = 0;     // bytes of wire_[mix] sent
  uint32_t connects = 0;  // connections opened for this transfer
  uint64_t bytes_in = 0;
  Clock::time_point deadline{};
  std::unique_ptr<char[]> buf;
  size_t have = 0;  // bytes in buf not yet consumed by the parser
  std::optional<Parser> parser;
};

NativeTransport::NativeTransport(const Plan& plan, int index, int threads, int slots,
                                 ProgressSlot& progress)
    : LoopCore(plan, index, threads, slots, progress),
      conns_(static_cast<size_t>(slots)),
      tracker_(timeline_seconds(plan.load)) {
  tracker_.set_max(static_cast<uint64_t>(slots));
}

NativeTransport::~NativeTransport() { cleanup_transport(); }

Status NativeTransport::setup_transport() {
  wire_.clear();
  head_.clear();
  std::optional<HttpUrl> origin;  // every request's (native_unsupported() checked)
  for (const PreparedRequest& r : plan_.requests) {
    auto url = parse_http_url(r.url);
    if (!url)
      return make_error(fmt::format("engine \"native\": {} is not a plain http:// URL", r.url));
    wire_.push_back(serialize_http1_request(r, *url, plan_.toggles.pooling));
    head_.push_back(r.method == "HEAD" ? 1 : 0);
    if (!origin) origin = std::move(url);
  }
  if (!origin) return make_error("engine \"native\": the plan has no requests");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(origin->host.c_str(), origin->port.c_str(), &hints, &res);
      rc != 0 || !res) {
    return make_error(fmt::format("engine \"native\": cannot resolve {}:{}: {}", origin->host,
                                  origin->port, gai_strerror(rc)));
  }
  std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
  addr_len_ = res->ai_addrlen;
  freeaddrinfo(res);

  for (Conn& c : conns_) c.buf = std::make_unique<char[]>(kBufSize);
  failed_.reserve(conns_.size());
  failed_now_.reserve(conns_.size());
  return Ok{};
}

void NativeTransport::cleanup_transport() noexcept {
  for (Conn& c : conns_) {
    close_conn(c);
    c.busy = false;
  }
}

void NativeTransport::close_conn(Conn& c) noexcept {
  if (c.fd >= 0) {
    close(c.fd);  // close(2) also takes it out of the epoll set
    tracker_.closed(now());
  }
  c.fd = -1;
  c.have = 0;
  c.state = Conn::State::idle;
}

bool NativeTransport::connect(Conn& c) noexcept {
  close_conn(c);
  ++c.connects;
  const int fd = socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    c.error = as_int(ErrorClass::connect);
    return false;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    c.error = as_int(ErrorClass::connect);
    return false;
  }
  // Registered once for the connection's life, edge-triggered: no
  // epoll_ctl per request. data: the slot, and the fd to drop stale events.
  epoll_event ev{};
  ev.events = kEvents;
  const auto idx = static_cast<uint64_t>(&c - conns_.data());
  ev.data.u64 = (static_cast<uint64_t>(static_cast<uint32_t>(fd)) << 32) | idx;
  if (epoll_ctl(epfd(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    c.error = as_int(ErrorClass::connect);
    return false;
  }
  c.fd = fd;
  tracker_.opened(now());
  c.state = Conn::State::connecting;  // EPOLLOUT says when it is done
  return true;
}

void NativeTransport::begin(uint32_t idx, uint32_t mix, long timeout_ms) noexcept {
  Conn& c = conns_[idx];
  c.busy = true;
  c.mix = mix;
  c.out_off = 0;
  c.connects = 0;
  c.bytes_in = 0;
  c.retried = false;
  c.deadline = now() + std::chrono::milliseconds(timeout_ms);
  scan_at_ = std::min(scan_at_, c.deadline);
  reset_parser(c);
  if (c.fd >= 0 && plan_.toggles.pooling) {
    c.reused = true;
    c.state = Conn::State::sending;
    send_request(c);
    return;
  }
  c.reused = false;
  if (!connect(c)) {
    // Reported from on_turn, never from here: a synchronous completion
    // would start the next request from inside this call (recursion).
    c.state = Conn::State::failed;
    failed_.push_back(idx);
  }
}

void NativeTransport::reset_parser(Conn& c) noexcept {
  c.parser.emplace(head_[c.mix] != 0);  // in place: no allocation
  c.parser->header_limit(static_cast<uint32_t>(kBufSize / 2));
}

void NativeTransport::send_request(Conn& c) noexcept {
  const std::string& w = wire_[c.mix];
  while (c.out_off < w.size()) {
    const ssize_t n = ::send(c.fd, w.data() + c.out_off, w.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT resumes
    // The peer is gone: a kept-alive connection it had closed is retried.
    if (!retry_fresh(c)) done(c, as_int(ErrorClass::protocol));
    return;
  }
  c.state = Conn::State::receiving;
}

bool NativeTransport::retry_fresh(Conn& c) noexcept {
  if (!c.reused || c.retried || c.bytes_in > 0) return false;
  c.retried = true;
  c.reused = false;
  c.out_off = 0;
  reset_parser(c);
  if (!connect(c)) {
    done(c, as_int(ErrorClass::connect));
  }
  return true;
}

void NativeTransport::receive(Conn& c, bool peer_closed) noexcept {
  for (;;) {
    const size_t space = kBufSize - c.have;
    const ssize_t n = ::recv(c.fd, c.buf.get() + c.have, space, 0);
    if (n > 0) {
      c.have += static_cast<size_t>(n);
      c.bytes_in += static_cast<uint64_t>(n);
      size_t used = 0;
      boost::beast::error_code ec;
      while (used < c.have && !c.parser->is_done()) {
        const size_t k =
            c.parser->put(boost::asio::const_buffer(c.buf.get() + used, c.have - used), ec);
        used += k;
        if (ec == bhttp::error::need_more) {
          ec = {};
          break;
        }
        if (ec) {
          done(c, as_int(ErrorClass::protocol));
          return;
        }
        if (k == 0) break;
      }
      if (c.parser->is_done()) {
        // Bytes past the response (we never pipeline) are not ours: the
        // connection is not reused then.
        const bool keep = plan_.toggles.pooling && c.parser->keep_alive() && used == c.have;
        c.have = 0;
        if (!keep) close_conn(c);
        done(c, kResponse);
        return;
      }
      if (used > 0 && used < c.have) std::memmove(c.buf.get(), c.buf.get() + used, c.have - used);
      c.have -= used;
      if (c.have == kBufSize) {  // a header larger than the buffer
        done(c, as_int(ErrorClass::protocol));
        return;
      }
      // Edge-triggered: a short read emptied the socket; the next byte
      // brings a new event. A full read may have left more, and an end of
      // stream that arrived with the data brings no new edge: read it now.
      if (static_cast<size_t>(n) < space && !peer_closed) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or an error (reset).
    if (n == 0 && c.parser->is_header_done() && c.parser->need_eof()) {
      boost::beast::error_code ec;
      c.parser->put_eof(ec);  // a body delimited by the end of the connection
      if (!ec && c.parser->is_done()) {
        close_conn(c);
        done(c, kResponse);
        return;
      }
    }
    if (retry_fresh(c)) return;
    done(c, as_int(ErrorClass::protocol));
    return;
  }
}

void NativeTransport::done(Conn& c, int error_class) noexcept {
  const Clock::time_point at = event_time();  // the response's last byte was just parsed
  const auto idx = static_cast<uint32_t>(&c - conns_.data());
  Sample s;
  s.status = c.parser && c.parser->is_header_done() ? c.parser->status : 0;
  if (error_class == kResponse) {
    s.failed = classify(0, s.status, &s.error);
  } else {
    s.failed = true;
    s.error = static_cast<ErrorClass>(error_class);
    close_conn(c);  // a failed transfer leaves nothing reusable
  }
  s.bytes_in = c.bytes_in;
  s.bytes_out = c.out_off;
  s.connects = c.connects;
  c.busy = false;
  if (c.state != Conn::State::idle) c.state = Conn::State::idle;
  finish(idx, s, s.failed && s.error == ErrorClass::connect, at);
}

void NativeTransport::on_event(const epoll_event& ev) noexcept {
  const auto idx = static_cast<uint32_t>(ev.data.u64 & 0xffffffffu);
  const auto fd = static_cast<int>(ev.data.u64 >> 32);
  if (idx >= conns_.size()) return;
  Conn& c = conns_[idx];
  if (c.fd != fd) return;  // an event of a connection closed in this turn
  if (!c.busy) {
    // An idle kept-alive connection: the server closed it (or sent bytes
    // nobody asked for). Either way it is not reusable.
    if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close_conn(c);
    return;
  }
  switch (c.state) {
    case Conn::State::connecting: {
      if (!(ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (ev.events & (EPOLLERR | EPOLLHUP))) {
        done(c, as_int(ErrorClass::connect));
        return;
      }
      c.state = Conn::State::sending;
      send_request(c);
      return;
    }
    case Conn::State::sending:
      if (ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) send_request(c);
      // A server may answer (an error) before it read the whole request.
      if (c.busy && c.state == Conn::State::sending && (ev.events & EPOLLIN)) {
        c.state = Conn::State::receiving;
        receive(c, (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
      }
      return;
    case Conn::State::receiving:
      if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        receive(c, (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
      }
      return;
    case Conn::State::idle:
    case Conn::State::failed:
      return;
  }
}

void NativeTransport::on_turn() noexcept {
  // Connections that failed inside begin(): finish() may begin (and fail)
  // them again, into the other list; they are reported on the next call.
  if (!failed_.empty()) {
    failed_now_.swap(failed_);
    for (const uint32_t idx : failed_now_) {
      Conn& c = conns_[idx];
      if (c.busy && c.state == Conn::State::failed) done(c, c.error);
    }
    failed_now_.clear();
  }
  if (now() >= scan_at_) expire();
}

void NativeTransport::expire() noexcept {
  scan_at_ = Clock::time_point::max();
  for (Conn& c : conns_) {
    if (!c.busy || c.state == Conn::State::failed) continue;
    if (c.deadline <= now()) {
      done(c, as_int(ErrorClass::timeout));  // may begin it again (lowering scan_at_)
    } else {
      scan_at_ = std::min(scan_at_, c.deadline);
    }
  }
}

}  // namespace servelab::load
