#include "load/http1_request.h"

#include <gtest/gtest.h>

namespace servelab::load {
namespace {

std::string wire(const PreparedRequest& r, bool pooling = true) {
  auto url = parse_http_url(r.url);
  EXPECT_TRUE(url) << r.url;
  return url ? serialize_http1_request(r, *url, pooling) : std::string();
}

PreparedRequest request(std::string method, std::string url) {
  PreparedRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

TEST(Http1Request, PostCarriesContentLengthAndBody) {
  PreparedRequest r = request("POST", "http://127.0.0.1:8080/post?x=1#frag");
  r.headers = {"X-A: b"};
  r.body = "hello";
  EXPECT_EQ(wire(r),
            "POST /post?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: b\r\nContent-Length: "
            "5\r\n\r\nhello");
}

TEST(Http1Request, PoolingOffAsksTheServerToClose) {
  EXPECT_EQ(wire(request("GET", "http://localhost"), false),
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

TEST(Http1Request, GetWithoutBodyHasNoContentLength) {
  EXPECT_EQ(wire(request("GET", "http://h:9/x")), "GET /x HTTP/1.1\r\nHost: h:9\r\n\r\n");
}

TEST(Http1Request, EmptyPutAndPatchStillSayContentLengthZero) {
  for (const char* m : {"POST", "PUT", "PATCH"}) {
    EXPECT_EQ(wire(request(m, "http://h/")),
              std::string(m) + " / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  }
  EXPECT_EQ(wire(request("DELETE", "http://h/")), "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(Http1Request, Ipv6HostIsBracketed) {
  EXPECT_EQ(wire(request("GET", "http://[::1]:9/a")), "GET /a HTTP/1.1\r\nHost: [::1]:9\r\n\r\n");
}

TEST(Http1Request, TheRequestsOwnHeadersWinInAnyCase) {
  PreparedRequest r = request("POST", "http://h:1/");
  r.headers = {"host: other", "content-length: 3", "CONNECTION: keep-alive"};
  r.body = "abc";
  EXPECT_EQ(
      wire(r, false),
      "POST / HTTP/1.1\r\nhost: other\r\ncontent-length: 3\r\nCONNECTION: keep-alive\r\n\r\nabc");
}

}  // namespace
}  // namespace servelab::load
