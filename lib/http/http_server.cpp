#include "http/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/http_session.h"

namespace servelab::http {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// After a failed accept (e.g. EMFILE: out of file descriptors) wait this long
// before accepting again instead of spinning on the same error.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
}  // namespace

struct HttpServer::Impl {
  Impl(ServerConfig c, AsyncHandler h)
      : config(std::move(c)),
        handler(std::move(h)),
        ioc(config.threads > 0 ? config.threads : 1),
        acceptor(asio::make_strand(ioc)),
        retry_timer(acceptor.get_executor()),
        context{config, handler, stats,
                [this](HttpSession* s, std::weak_ptr<HttpSession> w) {
                  return add_session(s, std::move(w));
                },
                [this](HttpSession* s) { remove_session(s); }} {}

  bool add_session(HttpSession* session, std::weak_ptr<HttpSession> weak) {
    std::lock_guard lock(mu);
    if (stopping.load()) return false;
    sessions.emplace(session, std::move(weak));
    return true;
  }

  void remove_session(HttpSession* session) {
    std::lock_guard lock(mu);
    sessions.erase(session);
  }

  void do_accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [this](boost::system::error_code ec, tcp::socket socket) {
                            on_accept(ec, std::move(socket));
                          });
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;  // stop() closed it
    if (ec) {
      retry_timer.expires_after(kAcceptRetryDelay);
      retry_timer.async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) do_accept();
      });
      return;
    }
    boost::system::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);  // responses are small: don't wait for Nagle
    if (config.send_buffer_bytes > 0)
      socket.set_option(asio::socket_base::send_buffer_size(static_cast<int>(
                            std::min<uint64_t>(config.send_buffer_bytes, 1 << 30))),
                        opt_ec);
    std::make_shared<HttpSession>(std::move(socket), context)->run();
    do_accept();
  }

  ServerConfig config;
  AsyncHandler handler;
  ConnectionStats stats;
  asio::io_context ioc;
  tcp::acceptor acceptor;  // on its own strand: stop() may come from any thread
  asio::steady_timer retry_timer;
  SessionContext context;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards `sessions`; taken once per connection, never per request
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions;
};

HttpServer::HttpServer(ServerConfig config, Handler handler)
    : HttpServer(std::move(config),
                 AsyncHandler([handler = std::move(handler)](Request&& request, Responder respond) {
                   respond(handler(std::move(request)));
                 })) {}

HttpServer::HttpServer(ServerConfig config, AsyncHandler handler)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
  join();
}

Status HttpServer::start() {
  Impl& s = *impl_;
  if (s.started.exchange(true)) return make_error("HttpServer::start called twice");
  if (s.stopping.load()) return make_error("HttpServer::start after stop");

  const std::string where = s.config.host + ":" + std::to_string(s.config.port);
  boost::system::error_code ec;
  tcp::resolver resolver(s.ioc);
  auto results = resolver.resolve(s.config.host, std::to_string(s.config.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return make_error("cannot resolve listen address " + where + ": " +
                      (ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  if (s.acceptor.open(endpoint.protocol(), ec))
    return make_error("cannot open socket for " + where + ": " + ec.message());
  if (s.acceptor.set_option(asio::socket_base::reuse_address(true), ec)) {
    return make_error("cannot set SO_REUSEADDR on " + where + ": " + ec.message());
  }
  if (s.acceptor.bind(endpoint, ec))
    return make_error("cannot bind " + where + ": " + ec.message());
  if (s.acceptor.listen(s.config.backlog, ec))
    return make_error("cannot listen on " + where + ": " + ec.message());
  s.port = s.acceptor.local_endpoint(ec).port();
  if (ec) return make_error("cannot read the bound port of " + where + ": " + ec.message());

  s.do_accept();
  const int n = s.config.threads > 0 ? s.config.threads : 1;
  s.threads.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    s.threads.emplace_back([&s] {
      // Handlers catch their own errors; this keeps a thread serving if
      // something unexpected escapes anyway. run() returns when out of work.
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (...) {
        }
      }
    });
  }
  return Ok{};
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::stop() {
  Impl& s = *impl_;
  std::vector<std::shared_ptr<HttpSession>> live;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping.exchange(true)) return;
    live.reserve(s.sessions.size());
    for (auto& [ptr, weak] : s.sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  asio::post(s.acceptor.get_executor(), [&s] {
    boost::system::error_code ec;
    s.acceptor.close(ec);
    s.retry_timer.cancel();
  });
  for (auto& session : live) session->stop();
}

void HttpServer::join() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

const ConnectionStats& HttpServer::stats() const { return impl_->stats; }

}  // namespace servelab::http
