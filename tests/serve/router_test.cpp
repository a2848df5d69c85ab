// The route table: dispatch by method and pattern, the answers the router
// gives itself (404, 405, 500), and the count of every answer under its
// route label, over a bare Router and over the whole server.

#include "serve/router.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/prometheus_text.h"
#include "serve/reference_server.h"
#include "serve_test_util.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

// A router over metrics with no models; answers come back through handle().
class RouterTest : public ::testing::Test {
 protected:
  http::Response handle(bhttp::verb method, std::string target) {
    std::promise<http::Response> answer;
    auto future = answer.get_future();
    router_.handle_async(
        make_request(method, std::move(target)),
        Reply::Send([&answer](http::Response&& r) { answer.set_value(std::move(r)); }));
    return future.get();
  }
  // A handler answering 200 with "label:param=value" of the parameters it got.
  Router::Handler echo(std::string label) {
    return [label](http::Request&& request, const PathParams& params, const Reply& reply) {
      const std::string body = label + ":name=" + std::string(params.get("name")) +
                               ",version=" + std::string(params.get("version"));
      reply(make_response(request, bhttp::status::ok, body, "text/plain"));
    };
  }
  uint64_t count(Route route, unsigned status) const { return metrics_.requests(route, status); }

  ServerMetrics metrics_{{}};
  Router router_{metrics_};
};

TEST_F(RouterTest, DispatchesByMethodAndPatternAndHandsOverParameters) {
  router_.add(bhttp::verb::get, "/v2/models/{name}", Route::model_metadata, echo("metadata"));
  router_.add(bhttp::verb::get, "/v2/models/{name}/versions/{version}", Route::model_metadata,
              echo("versioned"));
  router_.add(bhttp::verb::post, "/v2/models/{name}/infer", Route::infer, echo("infer"));
  EXPECT_EQ(handle(bhttp::verb::get, "/v2/models/mlp-0").body(), "metadata:name=mlp-0,version=");
  EXPECT_EQ(handle(bhttp::verb::get, "/v2/models/mlp-0/versions/1").body(),
            "versioned:name=mlp-0,version=1");
  EXPECT_EQ(handle(bhttp::verb::post, "/v2/models/mlp-1/infer").body(),
            "infer:name=mlp-1,version=");
  EXPECT_EQ(count(Route::model_metadata, 200), 2u);
  EXPECT_EQ(count(Route::infer, 200), 1u);
  EXPECT_EQ(metrics_.in_flight(), 0);
}

TEST_F(RouterTest, QueryStringsAndEmptySegmentsDoNotChangeTheRoute) {
  router_.add(bhttp::verb::get, "/v2/health/live", Route::health_live, echo("live"));
  EXPECT_EQ(handle(bhttp::verb::get, "/v2/health/live?verbose=1").result_int(), 200u);
  EXPECT_EQ(handle(bhttp::verb::get, "//v2/health//live/").result_int(), 200u);
  EXPECT_EQ(count(Route::health_live, 200), 2u);
}

TEST_F(RouterTest, APathWithAnotherMethodIs405WithAllowCountedUnderItsRoute) {
  router_.add(bhttp::verb::post, "/v2/models/{name}/infer", Route::infer, echo("infer"));
  http::Response res = handle(bhttp::verb::get, "/v2/models/mlp-0/infer");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[bhttp::field::allow], "POST");
  EXPECT_EQ(json::parse(res.body()).at("error").as_string(), "method GET not allowed; use POST");
  EXPECT_EQ(count(Route::infer, 405), 1u);
}

TEST_F(RouterTest, AnUnknownPathIs404UnderOtherOrItsFamilysLabel) {
  router_.add(bhttp::verb::post, "/v2/repository/index", Route::repository, echo("index"));
  router_.label_unmatched("/v2/repository", Route::repository);
  http::Response res = handle(bhttp::verb::get, "/nowhere");
  EXPECT_EQ(res.result_int(), 404u);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(json::parse(res.body()).at("error").as_string(), "no such route");
  EXPECT_EQ(handle(bhttp::verb::post, "/v2/repository/models/mlp-0/reload").result_int(), 404u);
  EXPECT_EQ(handle(bhttp::verb::get, "/a/b/c/d/e/f/g/h/i/j").result_int(),
            404u);  // longer than any route
  EXPECT_EQ(count(Route::other, 404), 2u);
  EXPECT_EQ(count(Route::repository, 404), 1u);
}

TEST_F(RouterTest, AThrowingHandlerIsAnswered500AndCounted) {
  router_.add(
      bhttp::verb::get, "/metrics", Route::metrics,
      [](http::Request&&, const PathParams&, const Reply&) { throw std::runtime_error("boom"); });
  http::Response res = handle(bhttp::verb::get, "/metrics");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(), R"({"error":"internal error"})");
  EXPECT_EQ(count(Route::metrics, 500), 1u);
  EXPECT_EQ(metrics_.in_flight(), 0);
}

TEST_F(RouterTest, AnAnswerFromAnotherThreadIsCountedWhenItIsSent) {
  std::promise<Reply> later;
  auto held = later.get_future();
  router_.add(
      bhttp::verb::post, "/v2/repository/index", Route::repository,
      [&later](http::Request&&, const PathParams&, const Reply& reply) { later.set_value(reply); });
  std::promise<http::Response> answer;
  auto answered = answer.get_future();
  router_.handle_async(
      make_request(bhttp::verb::post, "/v2/repository/index"),
      Reply::Send([&answer](http::Response&& r) { answer.set_value(std::move(r)); }));
  EXPECT_EQ(metrics_.in_flight(), 1);
  EXPECT_EQ(count(Route::repository, 200), 0u);
  const Reply reply = held.get();
  std::thread([&reply] { reply(make_response(reply.to(), bhttp::status::ok, "{}")); }).join();
  EXPECT_EQ(answered.get().result_int(), 200u);
  EXPECT_EQ(count(Route::repository, 200), 1u);
  EXPECT_EQ(metrics_.in_flight(), 0);
}

// The whole server over sockets: one request on every route, then every
// route label is in servelab_http_requests_total with its status.
TEST(ServerRoutes, EveryRouteIsCountedInHttpRequestsTotalCompletionsIncluded) {
  TempDir dir("serve-routes");
  models::MakeOptions mlp;
  mlp.dims = {4, 8, 2};
  ASSERT_TRUE(models::make_repository(dir.str(), mlp).ok());
  models::MakeOptions tokens;
  tokens.kind = "tokens";
  tokens.prefix = "tokens";
  tokens.hidden = 32;
  ASSERT_TRUE(models::make_repository(dir.str(), tokens).ok());
  ServerConfig config;
  config.models_dir = dir.str();
  config.http.threads = 2;
  config.api.compute_threads = 1;
  auto server = ReferenceServer::open(config);
  ASSERT_TRUE(server.ok()) << server.error().message;
  ASSERT_TRUE((*server)->start().ok());

  TestClient client;
  ASSERT_FALSE(client.connect((*server)->port()));
  auto status = [&](bhttp::verb method, const std::string& target, std::string body = {}) {
    return client.roundtrip(make_request(method, target, std::move(body))).result_int();
  };
  ASSERT_TRUE(wait_until([&] { return status(bhttp::verb::get, "/v2/health/ready") == 200u; }));
  const std::string infer =
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  EXPECT_EQ(status(bhttp::verb::get, "/v2"), 200u);
  EXPECT_EQ(status(bhttp::verb::get, "/v2/health/live"), 200u);
  EXPECT_EQ(status(bhttp::verb::get, "/v2/models/mlp-0"), 200u);
  EXPECT_EQ(status(bhttp::verb::get, "/v2/models/mlp-0/versions/1/ready"), 200u);
  EXPECT_EQ(status(bhttp::verb::post, "/v2/models/mlp-0/infer", infer), 200u);
  EXPECT_EQ(status(bhttp::verb::post, "/v2/repository/index"), 200u);
  EXPECT_EQ(status(bhttp::verb::post, "/v2/repository/models/mlp-0/load"), 200u);
  EXPECT_EQ(status(bhttp::verb::post, "/v1/completions",
                   R"({"model":"tokens-0","prompt":"Hi","max_tokens":3})"),
            200u);
  EXPECT_EQ(status(bhttp::verb::post, "/v1/completions", R"({"model":"nope","prompt":"Hi"})"),
            404u);
  EXPECT_EQ(status(bhttp::verb::get, "/v1/completions"), 405u);
  EXPECT_EQ(status(bhttp::verb::get, "/nowhere"), 404u);
  EXPECT_EQ(status(bhttp::verb::get, "/metrics"), 200u);

  const auto m =
      parse_prometheus_text(client.roundtrip(make_request(bhttp::verb::get, "/metrics")).body());
  auto requests = [&](const std::string& route, int code) {
    const auto it = m.find("servelab_http_requests_total{route=\"" + route + "\",code=\"" +
                           std::to_string(code) + "\"}");
    return it == m.end() ? 0.0 : it->second;
  };
  EXPECT_EQ(requests("other", 200), 1);  // GET /v2
  EXPECT_EQ(requests("health_live", 200), 1);
  EXPECT_GE(requests("health_ready", 200), 1);
  EXPECT_EQ(requests("model_metadata", 200), 1);
  EXPECT_EQ(requests("model_ready", 200), 1);
  EXPECT_EQ(requests("infer", 200), 1);
  EXPECT_EQ(requests("repository", 200), 2);
  EXPECT_EQ(requests("completions", 200), 1);
  EXPECT_EQ(requests("completions", 404), 1);
  EXPECT_EQ(requests("completions", 405), 1);
  EXPECT_EQ(requests("other", 404), 1);
  EXPECT_EQ(requests("metrics", 200), 1);
  EXPECT_EQ(m.at("servelab_completions_rejected_total"), 2);
  EXPECT_EQ(m.at("servelab_http_requests_in_flight"), 1);  // this scrape
}

}  // namespace
}  // namespace servelab::serve
