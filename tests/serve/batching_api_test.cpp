// InferenceApi with the batching toggle on: outputs equal the unbatched ones,
// the servelab_batch_* metrics say what happened, and the queue's bounds
// answer 503 with Retry-After.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/prometheus_text.h"
#include "serve/inference_api.h"
#include "serve_test_util.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

constexpr int kWidth = 16;

class BatchingApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("serve-batching");
    models::MakeOptions opts;
    opts.count = 2;
    opts.dims = {kWidth, 64, kWidth};
    ASSERT_TRUE(models::make_repository(dir_->str(), opts).ok());
    // mlp-1 overrides the server's max batch size.
    std::ofstream(dir_->path() / "mlp-1" / "model.toml", std::ios::app)
        << "\n[batching]\nmax_batch_size = 4\n";
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::string body(int seed, int rows = 1) {
    json::array data;
    for (int i = 0; i < rows * kWidth; ++i)
      data.emplace_back(static_cast<double>((seed * 31 + i * 7) % 13) * 0.125 - 0.75);
    json::object input{{"name", "input"}, {"datatype", "FP32"}, {"shape", {rows, kWidth}}};
    input["data"] = std::move(data);
    json::object b;
    b["inputs"] = json::array{std::move(input)};
    return json::serialize(b);
  }
  static http::Request infer(int seed, const std::string& model = "mlp-0") {
    return make_request(bhttp::verb::post, "/v2/models/" + model + "/infer", body(seed));
  }
  static std::vector<double> outputs(const http::Response& res) {
    std::vector<double> out;
    const json::value doc = json::parse(res.body());
    for (const json::value& v : doc.at("outputs").at(0).at("data").as_array())
      out.push_back(v.to_number<double>());
    return out;
  }
  static std::map<std::string, double> scrape(InferenceApi& api) {
    return parse_prometheus_text(api.handle(make_request(bhttp::verb::get, "/metrics")).body());
  }
  // Sends `n` infer requests at once and waits for every answer.
  static std::vector<http::Response> concurrent(InferenceApi& api, int n) {
    std::vector<std::promise<http::Response>> answers(static_cast<size_t>(n));
    std::vector<std::future<http::Response>> futures;
    for (auto& a : answers) futures.push_back(a.get_future());
    for (int i = 0; i < n; ++i) {
      api.handle_async(infer(i), [&answers, i](http::Response&& r) {
        answers[static_cast<size_t>(i)].set_value(std::move(r));
      });
    }
    std::vector<http::Response> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  static std::unique_ptr<TempDir> dir_;
};

std::unique_ptr<TempDir> BatchingApiTest::dir_;

ApiOptions batching_options() {
  ApiOptions o;
  o.batching = true;
  o.compute_threads = 1;
  o.batch.max_batch_size = 8;
  o.batch.max_queue_delay = std::chrono::milliseconds(5);
  return o;
}

TEST_F(BatchingApiTest, BatchedAndUnbatchedOutputsAreEqualWithinFloatTolerance) {
  constexpr int kRequests = 24;
  auto unbatched_models = open_manager(dir_->str());
  InferenceApi unbatched(*unbatched_models);
  auto batched_models = open_manager(dir_->str());
  InferenceApi batched(*batched_models, batching_options());
  const auto plain = concurrent(unbatched, kRequests);
  const auto grouped = concurrent(batched, kRequests);
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(plain[static_cast<size_t>(i)].result_int(), 200u)
        << plain[static_cast<size_t>(i)].body();
    ASSERT_EQ(grouped[static_cast<size_t>(i)].result_int(), 200u)
        << grouped[static_cast<size_t>(i)].body();
    const auto a = outputs(plain[static_cast<size_t>(i)]);
    const auto b = outputs(grouped[static_cast<size_t>(i)]);
    ASSERT_EQ(a.size(), static_cast<size_t>(kWidth));
    ASSERT_EQ(a.size(), b.size());
    // GEMM and GEMV kernels sum in different orders: equal within float tolerance.
    for (size_t k = 0; k < a.size(); ++k)
      EXPECT_NEAR(a[k], b[k], 1e-5 * (1 + std::abs(a[k]))) << "request " << i;
  }
  const auto m = scrape(batched);
  EXPECT_EQ(m.at(R"(servelab_batch_enabled{model="mlp-0"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_batch_requests_total{model="mlp-0"})"), kRequests);
  EXPECT_EQ(m.at(R"(servelab_batch_rows_total{model="mlp-0"})"), kRequests);
  EXPECT_EQ(m.at(R"(servelab_batch_size_sum{model="mlp-0"})"), kRequests);
  const double batches = m.at(R"(servelab_batch_batches_total{model="mlp-0"})");
  EXPECT_LT(batches, kRequests) << "24 requests sent at once must share batches";
  EXPECT_EQ(m.at(R"(servelab_batch_size_count{model="mlp-0"})"), batches);
  EXPECT_EQ(m.at(R"(servelab_batch_dispatches_total{model="mlp-0",trigger="size"})") +
                m.at(R"(servelab_batch_dispatches_total{model="mlp-0",trigger="delay"})"),
            batches);
  EXPECT_EQ(m.at(R"(servelab_batch_queue_delay_seconds_count{model="mlp-0"})"), kRequests);
  EXPECT_EQ(m.at(R"(servelab_inference_requests_total{model="mlp-0"})"), kRequests);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="infer",code="200"})"), kRequests);
  // Unbatched: the series exist and read 0.
  const auto u = scrape(unbatched);
  EXPECT_EQ(u.at(R"(servelab_batch_enabled{model="mlp-0"})"), 0);
  EXPECT_EQ(u.at(R"(servelab_batch_batches_total{model="mlp-0"})"), 0);
  EXPECT_EQ(u.at(R"(servelab_inference_requests_total{model="mlp-0"})"), kRequests);
}

TEST_F(BatchingApiTest, ModelTomlOverridesTheServersDefaults) {
  auto api_models = open_manager(dir_->str());
  InferenceApi api(*api_models, batching_options());
  ASSERT_NE(api.batch_config(0), nullptr);
  ASSERT_NE(api.batch_config(1), nullptr);
  EXPECT_EQ(api.batch_config(0)->max_batch_size, 8);
  EXPECT_EQ(api.batch_config(1)->max_batch_size, 4);
  EXPECT_EQ(api.batch_config(1)->max_queue_delay, std::chrono::milliseconds(5));  // not overridden
  EXPECT_EQ(api.batch_config(1)->max_in_flight, 1);  // = compute threads
  const auto m = scrape(api);
  EXPECT_EQ(m.at(R"(servelab_batch_size_limit{model="mlp-1"})"), 4);
  auto off_models = open_manager(dir_->str());
  InferenceApi off(*off_models);
  EXPECT_EQ(off.batch_config(0), nullptr);
}

TEST_F(BatchingApiTest, MalformedRequestIs400AndNeverReachesTheBatcher) {
  auto api_models = open_manager(dir_->str());
  InferenceApi api(*api_models, batching_options());
  http::Response res =
      api.handle(make_request(bhttp::verb::post, "/v2/models/mlp-0/infer", R"({"inputs":[]})"));
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(scrape(api).at(R"(servelab_batch_requests_total{model="mlp-0"})"), 0);
}

// One request waits in the queue (the delay is long, the batch not full).
ApiOptions one_waiting() {
  ApiOptions o = batching_options();
  o.batch.max_queue_size = 1;
  o.batch.max_queue_delay = std::chrono::seconds(30);
  return o;
}

TEST_F(BatchingApiTest, FullQueueAnswers503WithRetryAfterAndShutdownComputesTheQueued) {
  auto api_models = open_manager(dir_->str());
  InferenceApi api(*api_models, one_waiting());
  std::promise<http::Response> first;
  auto first_answer = first.get_future();
  api.handle_async(infer(1), [&first](http::Response&& r) { first.set_value(std::move(r)); });
  http::Response refused = api.handle(infer(2));
  EXPECT_EQ(refused.result_int(), 503u) << refused.body();
  EXPECT_EQ(refused[bhttp::field::retry_after], "1");
  EXPECT_NE(refused.body().find("batch queue is full"), std::string::npos) << refused.body();
  const auto m = scrape(api);
  EXPECT_EQ(m.at(R"(servelab_batch_rejections_total{model="mlp-0",reason="queue_full"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_batch_queue_depth{model="mlp-0"})"), 1);

  api.shutdown();  // the queued request is computed, not dropped
  ASSERT_EQ(first_answer.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  http::Response computed = first_answer.get();
  EXPECT_EQ(computed.result_int(), 200u) << computed.body();
  EXPECT_EQ(outputs(computed).size(), static_cast<size_t>(kWidth));
  EXPECT_EQ(scrape(api).at(R"(servelab_batch_dispatches_total{model="mlp-0",trigger="drain"})"), 1);

  http::Response late = api.handle(infer(3));
  EXPECT_EQ(late.result_int(), 503u);
  EXPECT_NE(late.body().find("shutting down"), std::string::npos);
}

TEST_F(BatchingApiTest, QueueTimeoutAnswers503WithRetryAfter) {
  ApiOptions o = one_waiting();
  o.batch.queue_timeout = std::chrono::milliseconds(1);
  auto api_models = open_manager(dir_->str());
  InferenceApi api(*api_models, o);
  http::Response res = api.handle(infer(1));  // answered by the batcher's timer thread
  EXPECT_EQ(res.result_int(), 503u) << res.body();
  EXPECT_EQ(res[bhttp::field::retry_after], "1");
  EXPECT_NE(res.body().find("queue timeout"), std::string::npos) << res.body();
  const auto m = scrape(api);
  EXPECT_EQ(m.at(R"(servelab_batch_rejections_total{model="mlp-0",reason="queue_timeout"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="infer",code="503"})"), 1);
}

TEST_F(BatchingApiTest, UnbatchedInferRunsOnTheComputePoolNotTheCallingThread) {
  ApiOptions o;
  o.compute_threads = 1;
  auto api_models = open_manager(dir_->str());
  InferenceApi api(*api_models, o);
  std::promise<std::thread::id> where;
  api.handle_async(infer(1),
                   [&where](http::Response&&) { where.set_value(std::this_thread::get_id()); });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
}

}  // namespace
}  // namespace servelab::serve
