#include "load/http_url.h"

#include <gtest/gtest.h>

namespace servelab::load {
namespace {

TEST(HttpUrl, SplitsHostPortAndOriginFormTarget) {
  auto u = parse_http_url("http://127.0.0.1:8080/post?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->path, "/post?x=1");  // the fragment is never sent
}

TEST(HttpUrl, DefaultsToPort80AndRootPath) {
  auto u = parse_http_url("http://localhost");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->path, "/");
  EXPECT_EQ(parse_http_url("http://h#frag")->path, "/");
}

TEST(HttpUrl, AQueryWithoutAPathGetsTheRoot) {
  auto u = parse_http_url("http://h:9?a=b");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "9");
  EXPECT_EQ(u->path, "/?a=b");
}

TEST(HttpUrl, SchemeIsCaseInsensitive) {
  auto u = parse_http_url("HTTP://Example.com/A");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "Example.com");
  EXPECT_EQ(u->path, "/A");
}

TEST(HttpUrl, ParsesBracketedIpv6) {
  auto u = parse_http_url("http://[::1]:9/a");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9");
  EXPECT_EQ(u->path, "/a");
  auto bare = parse_http_url("http://[fe80::1]/");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->host, "fe80::1");
  EXPECT_EQ(bare->port, "80");
}

TEST(HttpUrl, RejectsOtherSchemesUserinfoAndBadPorts) {
  EXPECT_FALSE(parse_http_url("https://127.0.0.1/"));
  EXPECT_FALSE(parse_http_url("ftp://h/"));
  EXPECT_FALSE(parse_http_url("/relative"));
  EXPECT_FALSE(parse_http_url("http:/"));
  EXPECT_FALSE(parse_http_url("http://"));
  EXPECT_FALSE(parse_http_url("http:///path"));
  EXPECT_FALSE(parse_http_url("http://user@host/"));
  EXPECT_FALSE(parse_http_url("http://host:abc/"));
  EXPECT_FALSE(parse_http_url("http://host:/"));
  EXPECT_FALSE(parse_http_url("http://:80/"));
  EXPECT_FALSE(parse_http_url("http://[::1/"));
  EXPECT_FALSE(parse_http_url("http://[::1]x/"));
  EXPECT_FALSE(parse_http_url("http://[::1]:/"));
}

TEST(HttpUrl, AuthorityOmitsPort80AndBracketsIpv6) {
  EXPECT_EQ(parse_http_url("http://localhost/")->authority(), "localhost");
  EXPECT_EQ(parse_http_url("http://localhost:8080/")->authority(), "localhost:8080");
  EXPECT_EQ(parse_http_url("http://[::1]/")->authority(), "[::1]");
  EXPECT_EQ(parse_http_url("http://[::1]:9/")->authority(), "[::1]:9");
}

}  // namespace
}  // namespace servelab::load
