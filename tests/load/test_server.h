#pragma once
// An in-process servelab::http::HttpServer on an ephemeral loopback port for
// the engine and plan tests.

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <string>
#include <utility>

#include "http/http_server.h"

namespace servelab::load::testing {

namespace bhttp = boost::beast::http;

inline http::Response make_response(const http::Request& req, bhttp::status status,
                                    std::string body, std::string content_type = "text/plain") {
  http::Response res{status, req.version()};
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// Starts on construction; stop() + join() on destruction.
class TestServer {
 public:
  explicit TestServer(http::Handler handler, int threads = 2)
      : server_(config(threads), std::move(handler)) {
    auto st = server_.start();
    started_ = st.ok();
    if (!st) error_ = st.error().message;
  }
  ~TestServer() {
    server_.stop();
    server_.join();
  }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  http::HttpServer& server() { return server_; }

 private:
  static http::ServerConfig config(int threads) {
    http::ServerConfig c;
    c.threads = threads;
    return c;
  }
  http::HttpServer server_;
  bool started_ = false;
  std::string error_;
};

}  // namespace servelab::load::testing
