#include "pool/curl_pool.h"

#include <gtest/gtest.h>

namespace servelab::pool {
namespace {

using namespace std::chrono_literals;

TEST(CurlPoolSettings, MaxDefaultsToConnectionsAndSplitsLikeConnections) {
  scenario::Scenario s;
  s.pool.min = 5;
  const auto t0 = thread_settings(s, "http://127.0.0.1:80/", 10, 3, 0);
  const auto t2 = thread_settings(s, "http://127.0.0.1:80/", 10, 3, 2);
  EXPECT_EQ(t0.max, 4u);  // 10 = 4 + 3 + 3
  EXPECT_EQ(t2.max, 3u);
  EXPECT_EQ(t0.min, 2u);  // 5 = 2 + 2 + 1
  EXPECT_EQ(t2.min, 1u);
  EXPECT_EQ(t0.health_check_url, "http://127.0.0.1:80/v2/health/live");
  EXPECT_FALSE(t0.https);
}

TEST(CurlPoolSettings, ExplicitMaxWinsAndEveryThreadGetsAtLeastOne) {
  scenario::Scenario s;
  s.pool.max = 2;
  EXPECT_EQ(thread_settings(s, "http://h", 100, 1, 0).max, 2u);
  EXPECT_EQ(thread_settings(s, "http://h", 100, 4, 3).max, 1u);
}

TEST(CurlPoolSettings, DurationsBecomeWholeSecondsAndHttpsIsSeen) {
  scenario::Scenario s;
  s.pool.idle_timeout = 5s;
  s.pool.max_age = 600s;
  s.http.http2 = true;
  s.tls.insecure = true;
  const auto t = thread_settings(s, "https://localhost:8443", 1, 1, 0);
  EXPECT_EQ(t.idle_timeout_s, 5);
  EXPECT_EQ(t.max_age_s, 600);
  EXPECT_TRUE(t.https);
  EXPECT_TRUE(t.http2);
  EXPECT_TRUE(t.tls_insecure);
}

TEST(CurlPool, ConnectFailuresAreTheTransfersThatNeverGotAConnection) {
  EXPECT_TRUE(is_connect_failure(CURLE_COULDNT_CONNECT));
  EXPECT_TRUE(is_connect_failure(CURLE_SSL_CONNECT_ERROR));
  EXPECT_FALSE(is_connect_failure(CURLE_OK));
  EXPECT_FALSE(is_connect_failure(CURLE_GOT_NOTHING));
  EXPECT_FALSE(is_connect_failure(CURLE_OPERATION_TIMEDOUT));
}

TEST(CurlPool, OwnsOnlyItsCheckHandles) {
  CurlPoolSettings st;
  st.max = 2;
  st.health_check_interval = 1s;
  st.health_check_url = "http://127.0.0.1:1/";
  CurlPool pool(st, 1);
  CURLM* multi = curl_multi_init();
  ASSERT_NE(multi, nullptr);
  ASSERT_TRUE(pool.setup(multi, nullptr, nullptr, nullptr).ok());
  int other = 0;
  EXPECT_FALSE(pool.owns(&other));
  EXPECT_NE(pool.next_check(), CurlPool::Clock::time_point::max());
  pool.remove_all();
  curl_multi_cleanup(multi);
}

}  // namespace
}  // namespace servelab::pool
