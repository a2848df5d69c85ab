// Bearer-token authentication: the key's sources and errors, the constant-
// time match, and the router answering 401 (with WWW-Authenticate: Bearer)
// on the protected routes only, health probes always open.

#include "serve/api_key_auth.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <string>

#include "serve/router.h"
#include "serve_test_util.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

constexpr const char* kKey = "s3cret-Key_0123";

ApiKeyAuth auth_for(std::string protect, std::string key = kKey) {
  AuthOptions o;
  o.api_key = std::move(key);
  o.protect = std::move(protect);
  auto auth = ApiKeyAuth::make(o);
  EXPECT_TRUE(auth.ok()) << (auth.ok() ? "" : auth.error().message);
  return auth.ok() ? std::move(auth).value() : ApiKeyAuth();
}

TEST(ApiKeyAuth, NoKeyProtectsNothing) {
  const ApiKeyAuth auth = auth_for("all", "");
  EXPECT_FALSE(auth.enabled());
  for (size_t r = 0; r < kRouteCount; ++r) EXPECT_FALSE(auth.protects(static_cast<Route>(r)));
}

TEST(ApiKeyAuth, MatchesOnlyTheExactKey) {
  const ApiKeyAuth auth = auth_for("all");
  EXPECT_TRUE(auth.matches(kKey));
  EXPECT_FALSE(auth.matches(""));
  EXPECT_FALSE(auth.matches("s3cret-Key_012"));    // a prefix
  EXPECT_FALSE(auth.matches("s3cret-Key_01234"));  // longer
  EXPECT_FALSE(auth.matches("s3cret-Key_0124"));   // same length, last byte differs
  EXPECT_FALSE(auth.matches("S3cret-Key_0123"));   // case matters
}

TEST(ApiKeyAuth, AllProtectsEveryRouteButTheHealthProbes) {
  const ApiKeyAuth auth = auth_for("all");
  for (Route r : {Route::infer, Route::model_ready, Route::model_metadata, Route::metrics,
                  Route::other, Route::repository, Route::completions})
    EXPECT_TRUE(auth.protects(r)) << to_string(r);
  EXPECT_FALSE(auth.protects(Route::health_live));
  EXPECT_FALSE(auth.protects(Route::health_ready));
}

TEST(ApiKeyAuth, ASubsetProtectsOnlyItsGroups) {
  const ApiKeyAuth auth = auth_for("repository, metrics");
  EXPECT_TRUE(auth.protects(Route::repository));
  EXPECT_TRUE(auth.protects(Route::metrics));
  EXPECT_FALSE(auth.protects(Route::infer));
  EXPECT_FALSE(auth.protects(Route::completions));
  EXPECT_FALSE(auth.protects(Route::model_metadata));
}

TEST(ApiKeyAuth, ReadsTheKeyFromTheFirstLineOfAFile) {
  TempDir dir("api-key");
  const std::string path = (dir.path() / "key").string();
  std::ofstream(path) << kKey << "  \nsecond line\n";
  AuthOptions o;
  o.api_key_file = path;
  auto auth = ApiKeyAuth::make(o);
  ASSERT_TRUE(auth.ok()) << auth.error().message;
  EXPECT_TRUE(auth->matches(kKey));
}

TEST(ApiKeyAuth, BadOptionsAreErrorsThatNeverShowTheKey) {
  TempDir dir("api-key");
  AuthOptions both;
  both.api_key = kKey;
  both.api_key_file = (dir.path() / "key").string();
  auto a = ApiKeyAuth::make(both);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message.find(kKey), std::string::npos);

  AuthOptions missing;
  missing.api_key_file = (dir.path() / "absent").string();
  EXPECT_FALSE(ApiKeyAuth::make(missing).ok());

  const std::string empty = (dir.path() / "empty").string();
  std::ofstream(empty) << "\n";
  AuthOptions blank;
  blank.api_key_file = empty;
  EXPECT_FALSE(ApiKeyAuth::make(blank).ok());

  AuthOptions keyless;
  keyless.protect = "repository";
  auto k = ApiKeyAuth::make(keyless);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("protects nothing"), std::string::npos) << k.error().message;

  AuthOptions unknown;
  unknown.api_key = kKey;
  unknown.protect = "repository,everything";
  auto u = ApiKeyAuth::make(unknown);
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("'everything'"), std::string::npos) << u.error().message;
  EXPECT_EQ(u.error().message.find(kKey), std::string::npos);
}

TEST(ApiKeyAuth, LoopbackHostsAreTellable) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("192.168.1.10"));
  EXPECT_FALSE(is_loopback_host("example.org"));
}

// The router with a key: 401 and WWW-Authenticate without it or with a wrong
// one, the handler with it.
class AuthRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ok = [](http::Request&& request, const PathParams&, const Reply& reply) {
      reply(make_response(request, bhttp::status::ok, "ok", "text/plain"));
    };
    router_.add(bhttp::verb::get, "/v2/health/live", Route::health_live, ok);
    router_.add(bhttp::verb::post, "/v2/models/{name}/infer", Route::infer, ok);
    router_.add(bhttp::verb::post, "/v2/repository/index", Route::repository, ok);
    router_.add(bhttp::verb::get, "/metrics", Route::metrics, ok);
    router_.label_unmatched("/v2/repository", Route::repository);
  }
  http::Response handle(bhttp::verb method, std::string target, std::string authorization = {}) {
    http::Request request = make_request(method, std::move(target));
    if (!authorization.empty()) request.set(bhttp::field::authorization, authorization);
    std::promise<http::Response> answer;
    auto future = answer.get_future();
    router_.handle_async(std::move(request), Reply::Send([&answer](http::Response&& r) {
                           answer.set_value(std::move(r));
                         }));
    return future.get();
  }
  static void expect_401(const http::Response& res) {
    EXPECT_EQ(res.result_int(), 401u) << res.body();
    EXPECT_EQ(res[bhttp::field::www_authenticate].substr(0, 6), "Bearer");
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    const json::value v = json::parse(res.body());
    ASSERT_TRUE(v.is_object() && v.as_object().contains("error")) << res.body();
    EXPECT_EQ(res.body().find(kKey), std::string::npos);
  }

  ServerMetrics metrics_{{}};
  Router router_{metrics_};
};

TEST_F(AuthRouterTest, ProtectedRoutesNeedTheBearerKey) {
  const ApiKeyAuth auth = auth_for("all");
  router_.set_auth(&auth);
  const std::string right = std::string("Bearer ") + kKey;
  expect_401(handle(bhttp::verb::post, "/v2/models/m/infer"));
  expect_401(handle(bhttp::verb::post, "/v2/models/m/infer", "Bearer wrong"));
  expect_401(handle(bhttp::verb::post, "/v2/models/m/infer", std::string("Basic ") + kKey));
  expect_401(handle(bhttp::verb::post, "/v2/models/m/infer", "Bearer"));
  EXPECT_EQ(handle(bhttp::verb::post, "/v2/models/m/infer", right).result_int(), 200u);
  EXPECT_EQ(
      handle(bhttp::verb::post, "/v2/models/m/infer", std::string("bearer  ") + kKey).result_int(),
      200u);  // the scheme is case-insensitive
  // 404 and 405 are not told without the key.
  expect_401(handle(bhttp::verb::get, "/nowhere"));
  expect_401(handle(bhttp::verb::get, "/v2/models/m/infer"));
  EXPECT_EQ(handle(bhttp::verb::get, "/nowhere", right).result_int(), 404u);
  // The health probes stay open.
  EXPECT_EQ(handle(bhttp::verb::get, "/v2/health/live").result_int(), 200u);
  // Counted under their routes.
  EXPECT_EQ(metrics_.requests(Route::infer, 401), 5u);
  EXPECT_EQ(metrics_.requests(Route::infer, 200), 2u);
}

TEST_F(AuthRouterTest, ASubsetLeavesTheOtherRoutesOpen) {
  const ApiKeyAuth auth = auth_for("repository,metrics");
  router_.set_auth(&auth);
  EXPECT_EQ(handle(bhttp::verb::post, "/v2/models/m/infer").result_int(), 200u);
  expect_401(handle(bhttp::verb::post, "/v2/repository/index"));
  expect_401(handle(bhttp::verb::post, "/v2/repository/models/m/reload"));  // its family
  expect_401(handle(bhttp::verb::get, "/metrics", "Bearer nope"));
  EXPECT_EQ(handle(bhttp::verb::get, "/metrics", std::string("Bearer ") + kKey).result_int(), 200u);
  EXPECT_EQ(handle(bhttp::verb::get, "/nowhere").result_int(), 404u);
}

}  // namespace
}  // namespace servelab::serve
