// ReferenceServer: the whole servelab-server path over loopback sockets.

#include "serve/reference_server.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <string>

#include "common/prometheus_text.h"
#include "serve_test_util.h"
#include "support/wait_until.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

TEST(ReferenceServer, ServesInferOverHttpAndStopsOnRequest) {
  TempDir dir("serve-ref");
  models::MakeOptions make;
  make.dims = {4, 8, 2};
  ASSERT_TRUE(models::make_repository(dir.path().string(), make).ok());

  ServerConfig config;
  config.models_dir = dir.path().string();
  config.http.threads = 2;
  auto server = ReferenceServer::open(config);
  ASSERT_TRUE(server.ok()) << server.error().message;
  ASSERT_TRUE((*server)->start().ok());
  auto running = std::async(std::launch::async, [&] { (*server)->run_until_stopped(); });

  TestClient client;
  ASSERT_FALSE(client.connect((*server)->port()));
  // Ready answers 503 until the eager preload (async loading, on by default)
  // has finished; it must turn 200 within the deadline.
  EXPECT_TRUE(servelab::testing::wait_until([&] {
    return client.roundtrip(make_request(bhttp::verb::get, "/v2/health/ready")).result_int() ==
           200u;
  }));
  http::Response res = client.roundtrip(make_request(
      bhttp::verb::post, "/v2/models/mlp-0/infer",
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})"));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(json::parse(res.body()).at("outputs").at(0).at("data").as_array().size(), 2u);

  const auto m =
      parse_prometheus_text(client.roundtrip(make_request(bhttp::verb::get, "/metrics")).body());
  EXPECT_EQ(m.at("servelab_connections_opened_total"), 1);
  EXPECT_EQ(m.at("servelab_connections_active"), 1);
  EXPECT_EQ(m.at(R"(servelab_inference_requests_total{model="mlp-0"})"), 1);

  (*server)->request_stop();
  ASSERT_EQ(running.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
}

TEST(ReferenceServer, MissingRepositoryIsAnError) {
  ServerConfig config;
  config.models_dir = "/nonexistent/servelab/models";
  auto server = ReferenceServer::open(config);
  EXPECT_FALSE(server.ok());
}

TEST(ReferenceServer, ListenUrlPutsAnIpv6AddressInBrackets) {
  EXPECT_EQ(listen_url("127.0.0.1", 8080), "http://127.0.0.1:8080");
  EXPECT_EQ(listen_url("::1", 8080), "http://[::1]:8080");
  EXPECT_EQ(listen_url("fe80::1%lo", 9), "http://[fe80::1%lo]:9");
  EXPECT_EQ(listen_url("localhost", 1), "http://localhost:1");
}

TEST(ReferenceServer, AnUnreadableApiKeyFileIsAStartupError) {
  ServerConfig config;
  config.models_dir = "/nonexistent-servelab-models";
  config.auth.api_key_file = "/nonexistent-servelab-key";
  auto server = ReferenceServer::open(config);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message.find("--api-key-file"), std::string::npos)
      << server.error().message;
}

}  // namespace
}  // namespace servelab::serve
