#pragma once
// Helpers for tests that talk HTTP to a server in the same process: a
// loopback HTTP/1.1 client whose every operation has a deadline, and a
// request builder. Tests never sleep: wait_until() waits on a condition.

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <string>

#include "http/http_server.h"
#include "support/wait_until.h"

namespace servelab::test {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using servelab::testing::wait_until;

// A synchronous-looking HTTP/1.1 client over loopback; each call runs its
// own io_context until the operation completes or its 5 s deadline expires.
class TestClient {
 public:
  beast::error_code connect(uint16_t port) {
    return run([&](auto handler) {
      stream_.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                            [handler](beast::error_code ec) mutable { handler(ec, 0); });
    });
  }
  beast::error_code send(http::Request& request) {
    request.set(bhttp::field::host, "127.0.0.1");
    request.prepare_payload();
    return run([&](auto handler) { bhttp::async_write(stream_, request, handler); });
  }
  beast::error_code send_raw(const std::string& bytes) {
    return run([&](auto handler) { asio::async_write(stream_, asio::buffer(bytes), handler); });
  }
  beast::error_code read(http::Response& response) {
    response = {};
    return run([&](auto handler) { bhttp::async_read(stream_, buffer_, response, handler); });
  }
  // One request, one response; fails the test on a transport error.
  http::Response roundtrip(http::Request request) {
    http::Response response;
    EXPECT_FALSE(send(request)) << "send";
    const beast::error_code ec = read(response);
    EXPECT_FALSE(ec) << "read: " << ec.message();
    return response;
  }
  // Reads until the server closes; returns the error that ended the read
  // (asio::error::eof for an orderly close).
  beast::error_code read_until_closed() {
    if (buffer_.size() > 0) return beast::error_code{};  // unexpected bytes: not closed
    char byte = 0;
    return run([&](auto handler) { stream_.async_read_some(asio::buffer(&byte, 1), handler); });
  }
  beast::tcp_stream& stream() { return stream_; }

 private:
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(5s);
    start([&result](beast::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
};

inline http::Request make_request(bhttp::verb method, std::string target, std::string body = {}) {
  http::Request request(method, std::move(target), 11);
  if (!body.empty()) {
    request.set(bhttp::field::content_type, "application/json");
    request.body() = std::move(body);
  }
  request.prepare_payload();
  return request;
}

}  // namespace servelab::test
