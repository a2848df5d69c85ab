#include "load/native_worker.h"

#include <gtest/gtest.h>

namespace servelab::load {
namespace {

TEST(NativeRequest, PostCarriesContentLengthAndBody) {
  PreparedRequest r;
  r.method = "POST";
  r.url = "http://127.0.0.1:8080/post?x=1#frag";
  r.headers = {"X-A: b"};
  r.body = "hello";
  auto t = parse_http_url(r.url);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "8080");
  EXPECT_EQ(t->path, "/post?x=1");
  EXPECT_EQ(serialize_request(r, *t, true),
            "POST /post?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: b\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(NativeRequest, PoolingOffAsksTheServerToClose) {
  PreparedRequest r;
  r.method = "GET";
  r.url = "http://localhost";
  auto t = parse_http_url(r.url);
  ASSERT_TRUE(t);
  EXPECT_EQ(serialize_request(r, *t, false), "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

TEST(NativeRequest, ParsesIpv6AndRejectsOtherSchemes) {
  auto t = parse_http_url("http://[::1]:9/a");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, "9");
  EXPECT_FALSE(parse_http_url("https://127.0.0.1/"));
  EXPECT_FALSE(parse_http_url("http://user@host/"));
  EXPECT_FALSE(parse_http_url("http://host:abc/"));
}

TEST(NativeRequest, RefusesHttpsAndSeveralOrigins) {
  Plan plan;
  plan.requests.resize(2);
  plan.requests[0].url = "http://127.0.0.1:1/";
  plan.requests[1].url = "http://127.0.0.1:1/x";
  EXPECT_FALSE(native_unsupported(plan));
  plan.requests[1].url = "http://127.0.0.1:2/x";
  ASSERT_TRUE(native_unsupported(plan));
  EXPECT_NE(native_unsupported(plan)->find("host:port"), std::string::npos);
  plan.requests[1].url = "https://127.0.0.1:1/x";
  ASSERT_TRUE(native_unsupported(plan));
  EXPECT_NE(native_unsupported(plan)->find("https"), std::string::npos);
}

}  // namespace
}  // namespace servelab::load
