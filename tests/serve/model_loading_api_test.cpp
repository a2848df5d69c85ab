// InferenceApi over the model manager: the repository API, model states on
// the ready routes, requests waiting for a loading model (async) or loading
// it inline (sync), failed loads answering 503 while the others serve, and
// the manager's series in /metrics.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/prometheus_text.h"
#include "serve/inference_api.h"
#include "serve_test_util.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

constexpr int kWidth = 8;

class ModelLoadingApiTest : public ::testing::Test {
 protected:
  // mlp-0, mlp-1; top-0 depends on base-0; tampered-0's weights do not match
  // the sha256 in its model.toml.
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("serve-loading");
    const std::string d = dir_->str();
    models::MakeOptions make;
    make.count = 2;
    make.dims = {kWidth, 16, 4};
    ASSERT_TRUE(models::make_repository(d, make).ok());
    for (const char* prefix : {"base", "top", "tampered"}) {
      make.count = 1;
      make.prefix = prefix;
      ASSERT_TRUE(models::make_repository(d, make).ok());
    }
    std::ofstream(dir_->path() / "top-0" / "model.toml", std::ios::app)
        << "depends_on = [\"base-0\"]\n";
    std::fstream weights(dir_->path() / "tampered-0" / "model.safetensors",
                         std::ios::in | std::ios::out | std::ios::binary);
    weights.seekp(-1, std::ios::end);
    weights.put('\x7f');  // one byte of the last weight changed: same size, another sha256
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static models::ManagerOptions async_options(LoadGate* gate) {
    models::ManagerOptions o;
    o.async = true;
    o.prediction = false;  // nothing loads unless a test asks
    if (gate)
      o.on_load_start = [gate](const std::string& name, const std::atomic<bool>& abandon) {
        gate->hold(name, abandon);
      };
    return o;
  }
  static ApiOptions api_options(bool async, std::chrono::milliseconds wait = 5s) {
    ApiOptions o;
    o.async_loading = async;
    o.load_wait_timeout = wait;
    o.compute_threads = 1;
    return o;
  }

  static std::string infer_body() {
    json::array data;
    for (int i = 0; i < kWidth; ++i) data.emplace_back(0.25 * i);
    json::object input{{"name", "input"}, {"datatype", "FP32"}, {"shape", {1, kWidth}}};
    input["data"] = std::move(data);
    json::object body;
    body["inputs"] = json::array{std::move(input)};
    return json::serialize(body);
  }
  static http::Response call(InferenceApi& api, bhttp::verb method, std::string target,
                             std::string body = {}) {
    return api.handle(make_request(method, std::move(target), std::move(body)));
  }
  static http::Response infer(InferenceApi& api, const std::string& model) {
    return call(api, bhttp::verb::post, "/v2/models/" + model + "/infer", infer_body());
  }
  static std::future<http::Response> infer_async(InferenceApi& api, const std::string& model) {
    auto answer = std::make_shared<std::promise<http::Response>>();
    auto future = answer->get_future();
    api.handle_async(
        make_request(bhttp::verb::post, "/v2/models/" + model + "/infer", infer_body()),
        [answer](http::Response&& r) { answer->set_value(std::move(r)); });
    return future;
  }
  static json::value body_of(const http::Response& res) { return json::parse(res.body()); }
  static std::string error_of(const http::Response& res) {
    const json::value v = body_of(res);
    return v.is_object() && v.as_object().contains("error") ? std::string(v.at("error").as_string())
                                                            : "";
  }
  static std::map<std::string, double> scrape(InferenceApi& api) {
    return parse_prometheus_text(call(api, bhttp::verb::get, "/metrics").body());
  }
  static std::string state_of(InferenceApi& api, const std::string& model) {
    return std::string(body_of(call(api, bhttp::verb::get, "/v2/models/" + model + "/ready"))
                           .at("state")
                           .as_string());
  }

  static std::unique_ptr<TempDir> dir_;
};

std::unique_ptr<TempDir> ModelLoadingApiTest::dir_;

TEST_F(ModelLoadingApiTest, RepositoryIndexListsEveryModelWithItsState) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  ASSERT_EQ(infer(api, "mlp-0").result_int(), 200u);

  http::Response res = call(api, bhttp::verb::post, "/v2/repository/index");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  const json::value doc = body_of(res);
  const json::array& index = doc.as_array();
  ASSERT_EQ(index.size(), 5u) << res.body();
  EXPECT_EQ(index[0].at("name"), "base-0");
  EXPECT_EQ(index[1], json::parse(R"({"name":"mlp-0","version":"1","state":"READY","reason":""})"));
  EXPECT_EQ(
      index[2],
      json::parse(R"({"name":"mlp-1","version":"1","state":"UNAVAILABLE","reason":"unloaded"})"));

  res = call(api, bhttp::verb::post, "/v2/repository/index", R"({"ready":true})");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  ASSERT_EQ(body_of(res).as_array().size(), 1u) << res.body();
  EXPECT_EQ(body_of(res).as_array()[0].at("name"), "mlp-0");
}

TEST_F(ModelLoadingApiTest, RepositoryLoadThenUnloadThenReloadOnUse) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  http::Response res = call(api, bhttp::verb::post, "/v2/repository/models/mlp-1/load");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(call(api, bhttp::verb::get, "/v2/models/mlp-1/ready").result_int(), 200u);

  res = call(api, bhttp::verb::post, "/v2/repository/models/mlp-1/unload");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  ASSERT_TRUE(wait_until([&] { return state_of(api, "mlp-1") == "unloaded"; }))
      << state_of(api, "mlp-1");
  EXPECT_EQ(call(api, bhttp::verb::get, "/v2/models/mlp-1/ready").result_int(), 503u);

  EXPECT_EQ(infer(api, "mlp-1").result_int(), 200u);  // loads again on use
  const auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_model_loads_total"), 2);
  EXPECT_EQ(m.at("servelab_model_unloads_total"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="repository",code="200"})"), 2);
}

TEST_F(ModelLoadingApiTest, UnloadIsRefusedWhileDependentsAreLoaded) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  ASSERT_EQ(call(api, bhttp::verb::post, "/v2/repository/models/top-0/load").result_int(), 200u);
  EXPECT_EQ(state_of(api, "base-0"), "ready");  // its dependency loaded first

  http::Response refused = call(api, bhttp::verb::post, "/v2/repository/models/base-0/unload");
  EXPECT_EQ(refused.result_int(), 409u) << refused.body();
  EXPECT_NE(error_of(refused).find("top-0"), std::string::npos) << refused.body();
  EXPECT_EQ(state_of(api, "base-0"), "ready");

  http::Response forced = call(api, bhttp::verb::post, "/v2/repository/models/base-0/unload",
                               R"({"parameters":{"unload_dependents":true}})");
  EXPECT_EQ(forced.result_int(), 200u) << forced.body();
  ASSERT_TRUE(wait_until([&] {
    return state_of(api, "top-0") == "unloaded" && state_of(api, "base-0") == "unloaded";
  })) << state_of(api, "top-0")
      << " " << state_of(api, "base-0");
}

TEST_F(ModelLoadingApiTest, TamperedModelAnswers503WithTheReasonWhileOthersServe) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  http::Response res = infer(api, "tampered-0");
  EXPECT_EQ(res.result_int(), 503u) << res.body();
  EXPECT_NE(error_of(res).find("sha256"), std::string::npos) << res.body();
  EXPECT_NE(error_of(res).find("tampered-0"), std::string::npos) << res.body();

  http::Response ready = call(api, bhttp::verb::get, "/v2/models/tampered-0/ready");
  EXPECT_EQ(ready.result_int(), 503u);
  EXPECT_EQ(body_of(ready).at("state"), "failed");
  EXPECT_NE(std::string(body_of(ready).at("reason").as_string()).find("sha256"), std::string::npos)
      << ready.body();

  const json::array index =
      body_of(call(api, bhttp::verb::post, "/v2/repository/index")).as_array();
  EXPECT_EQ(index[3].at("name"), "tampered-0");
  EXPECT_EQ(index[3].at("state"), "UNAVAILABLE");
  EXPECT_NE(std::string(index[3].at("reason").as_string()).find("sha256"), std::string::npos);

  EXPECT_EQ(infer(api, "mlp-0").result_int(), 200u);
  http::Response load = call(api, bhttp::verb::post, "/v2/repository/models/tampered-0/load");
  EXPECT_EQ(load.result_int(), 503u) << load.body();
  EXPECT_GE(scrape(api).at("servelab_model_load_failures_total"), 1);
}

TEST_F(ModelLoadingApiTest, RepositoryRoutesRejectBadRequests) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  http::Response res = call(api, bhttp::verb::get, "/v2/repository/index");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[bhttp::field::allow], "POST");
  EXPECT_EQ(call(api, bhttp::verb::post, "/v2/repository/models/nope/load").result_int(), 404u);
  EXPECT_EQ(call(api, bhttp::verb::post, "/v2/repository/models/nope/unload").result_int(), 404u);
  EXPECT_EQ(call(api, bhttp::verb::post, "/v2/repository/models/mlp-0/reload").result_int(), 404u);
  EXPECT_EQ(call(api, bhttp::verb::post, "/v2/repository/index", "{").result_int(), 400u);
  EXPECT_EQ(call(api, bhttp::verb::post, "/v2/repository/index", R"({"ready":"yes"})").result_int(),
            400u);
  res = call(api, bhttp::verb::post, "/v2/repository/models/mlp-0/unload",
             R"({"parameters":{"unload_dependents":1}})");
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_NE(error_of(res).find("unload_dependents"), std::string::npos) << res.body();
  res = call(api, bhttp::verb::post, "/v2/repository/models/mlp-0/load",
             R"({"parameters":{"config":"{}"}})");
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_NE(error_of(res).find("config"), std::string::npos) << res.body();
}

TEST_F(ModelLoadingApiTest, InferWaitsForALoadingModelWhileReadyModelsServe) {
  LoadGate gate({"mlp-1"});
  auto manager = open_manager(dir_->str(), async_options(&gate));
  InferenceApi api(*manager, api_options(true));
  ASSERT_EQ(infer(api, "mlp-0").result_int(), 200u);  // ready before mlp-1's load starts

  auto waiting = infer_async(api, "mlp-1");
  ASSERT_TRUE(wait_until([&] { return gate.held() == 1; }));
  EXPECT_EQ(state_of(api, "mlp-1"), "loading");
  EXPECT_EQ(waiting.wait_for(0s), std::future_status::timeout);
  // A ready model is not delayed by another model's load.
  EXPECT_EQ(infer(api, "mlp-0").result_int(), 200u);
  EXPECT_EQ(scrape(api).at("servelab_model_loads_running"), 1);

  gate.open();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  http::Response res = waiting.get();
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(body_of(res).at("model_name"), "mlp-1");
  const auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_model_async_loading"), 1);
  EXPECT_EQ(m.at("servelab_model_waited_requests_total"), 2);  // mlp-0's first request waited too
  EXPECT_EQ(m.at(R"(servelab_inference_requests_total{model="mlp-1"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_model_state{model="mlp-1",state="ready"})"), 1);
}

// Admission control (V2Api, --max-queue): a request waiting for its model
// holds one place, so a held load makes the bound easy to fill.
TEST_F(ModelLoadingApiTest, InferPastMaxQueueIsShedAtOnceWith503AndRetryAfter) {
  LoadGate gate({"mlp-1"});
  auto manager = open_manager(dir_->str(), async_options(&gate));
  ApiOptions options = api_options(true);
  options.max_queue = 2;
  InferenceApi api(*manager, options);
  auto first = infer_async(api, "mlp-1");
  auto second = infer_async(api, "mlp-1");
  ASSERT_TRUE(wait_until([&] { return gate.held() == 1; }));
  // Both places are taken: the next infer requests are answered at once,
  // whatever their model, while other routes still serve.
  for (const char* model : {"mlp-1", "mlp-0", "mlp-0"}) {
    const http::Response res = infer(api, model);
    EXPECT_EQ(res.result_int(), 503u) << res.body();
    EXPECT_EQ(res[bhttp::field::retry_after], "1");
    EXPECT_NE(error_of(res).find("--max-queue"), std::string::npos) << res.body();
  }
  EXPECT_EQ(call(api, bhttp::verb::get, "/v2/health/live").result_int(), 200u);
  auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_requests_shed_total"), 3);
  EXPECT_EQ(m.at("servelab_infer_admitted"), 2);
  EXPECT_EQ(m.at("servelab_infer_max_queue"), 2);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="infer",code="503"})"), 3);

  gate.open();
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(first.get().result_int(), 200u);
  EXPECT_EQ(second.get().result_int(), 200u);
  // The places are given back with the answers.
  ASSERT_TRUE(wait_until([&] { return scrape(api).at("servelab_infer_admitted") == 0; }));
  EXPECT_EQ(infer(api, "mlp-0").result_int(), 200u);
  EXPECT_EQ(scrape(api).at("servelab_requests_shed_total"), 3);
}

TEST_F(ModelLoadingApiTest, MaxQueueZeroIsUnbounded) {
  LoadGate gate({"mlp-1"});
  auto manager = open_manager(dir_->str(), async_options(&gate));
  ApiOptions options = api_options(true);
  options.max_queue = 0;
  InferenceApi api(*manager, options);
  std::vector<std::future<http::Response>> waiting;
  for (int i = 0; i < 20; ++i) waiting.push_back(infer_async(api, "mlp-1"));
  ASSERT_TRUE(wait_until([&] { return gate.held() == 1; }));
  EXPECT_EQ(infer(api, "mlp-0").result_int(), 200u);
  gate.open();
  for (auto& w : waiting) {
    ASSERT_EQ(w.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(w.get().result_int(), 200u);
  }
  EXPECT_EQ(scrape(api).at("servelab_requests_shed_total"), 0);
}

TEST_F(ModelLoadingApiTest, WaitDeadlinePassesWith503AndRetryAfter) {
  LoadGate gate({"mlp-1"});
  auto manager = open_manager(dir_->str(), async_options(&gate));
  InferenceApi api(*manager, api_options(true, 50ms));
  http::Response res = infer(api, "mlp-1");
  EXPECT_EQ(res.result_int(), 503u) << res.body();
  EXPECT_EQ(res[bhttp::field::retry_after], "1");
  EXPECT_NE(error_of(res).find("mlp-1"), std::string::npos) << res.body();
  EXPECT_EQ(scrape(api).at("servelab_model_wait_timeouts_total"), 1);
  gate.open();
}

TEST_F(ModelLoadingApiTest, HealthReadyWaitsForTheEagerSet) {
  LoadGate gate({"mlp-0"});
  auto manager = open_manager(dir_->str(), async_options(&gate));
  InferenceApi api(*manager, api_options(true));
  manager->start();  // every model here is eager (the default)
  ASSERT_TRUE(wait_until([&] { return gate.held() == 1; }));
  http::Response res = call(api, bhttp::verb::get, "/v2/health/ready");
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_NE(error_of(res).find("loading"), std::string::npos) << res.body();
  gate.open();
  // Ready once every eager model is ready or failed (tampered-0 fails).
  ASSERT_TRUE(wait_until(
      [&] { return call(api, bhttp::verb::get, "/v2/health/ready").result_int() == 200u; }, 10s));
  const auto m = scrape(api);
  EXPECT_GE(m.at("servelab_model_preloads_total"), 4);
  EXPECT_EQ(m.at(R"(servelab_model_state{model="tampered-0",state="failed"})"), 1);
}

TEST_F(ModelLoadingApiTest, SyncModeLoadsInlineWithoutPreloading) {
  auto manager = open_manager(dir_->str());
  InferenceApi api(*manager, api_options(false));
  EXPECT_EQ(call(api, bhttp::verb::get, "/v2/health/ready").result_int(),
            200u);  // nothing eager in sync mode
  // The first request loads its model on the calling thread.
  EXPECT_EQ(infer(api, "mlp-0").result_int(), 200u);
  EXPECT_EQ(infer(api, "mlp-0").result_int(), 200u);
  const auto m = scrape(api);
  EXPECT_EQ(m.at("servelab_model_async_loading"), 0);
  EXPECT_EQ(m.at("servelab_model_preloads_total"), 0);
  EXPECT_EQ(m.at("servelab_model_waited_requests_total"), 0);
  EXPECT_EQ(m.at("servelab_model_cache_misses_total"), 1);
  EXPECT_EQ(m.at("servelab_model_cache_hits_total"), 1);
  EXPECT_EQ(m.at("servelab_model_loads_total"), 1);
  EXPECT_EQ(m.at("servelab_model_load_duration_seconds_count"), 1);
}

}  // namespace
}  // namespace servelab::serve
