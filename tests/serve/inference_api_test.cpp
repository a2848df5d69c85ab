// InferenceApi without sockets: request in, response out, for every route and
// every error status.

#include "serve/inference_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/prometheus_text.h"
#include "serve_test_util.h"

namespace servelab::serve {
namespace {

using namespace servelab::test;
namespace json = boost::json;

constexpr int kInputWidth = 8;
constexpr int kOutputWidth = 4;

// mlp-0 and mlp-1 load (8 → 16 → 4); broken-0 has garbage weights and fails.
class InferenceApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("serve-api");
    const std::string d = dir_->path().string();
    models::MakeOptions good;
    good.count = 2;
    good.dims = {kInputWidth, 16, kOutputWidth};
    ASSERT_TRUE(models::make_repository(d, good).ok());
    models::MakeOptions bad = good;
    bad.count = 1;
    bad.prefix = "broken";
    ASSERT_TRUE(models::make_repository(d, bad).ok());
    std::ofstream(dir_->path() / "broken-0" / "model.safetensors", std::ios::trunc)
        << "not safetensors";
  }
  static void TearDownTestSuite() { dir_.reset(); }

  http::Response call(bhttp::verb method, std::string target, std::string body = {}) {
    return api_.handle(make_request(method, std::move(target), std::move(body)));
  }
  static json::value body_of(const http::Response& res) { return json::parse(res.body()); }

  // Expects status `code` with {"error": "..."} containing `fragment`.
  void expect_error(const http::Response& res, unsigned code, const std::string& fragment) {
    EXPECT_EQ(res.result_int(), code) << res.body();
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    json::value v = body_of(res);
    ASSERT_TRUE(v.is_object() && v.as_object().contains("error")) << res.body();
    const std::string message(v.at("error").as_string());
    EXPECT_NE(message.find(fragment), std::string::npos) << "error was: " << message;
  }

  static std::vector<float> input_rows(int rows) {
    std::vector<float> in(static_cast<size_t>(rows * kInputWidth));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
    return in;
  }

  static std::string infer_body(int rows, const std::vector<float>& data, bool nested = false) {
    json::array d;
    if (nested) {
      for (int r = 0; r < rows; ++r) {
        json::array row;
        for (int c = 0; c < kInputWidth; ++c)
          row.emplace_back(data[static_cast<size_t>(r * kInputWidth + c)]);
        d.emplace_back(std::move(row));
      }
    } else {
      for (float f : data) d.emplace_back(f);
    }
    json::object input{{"name", "input"}, {"datatype", "FP32"}, {"shape", {rows, kInputWidth}}};
    input["data"] = std::move(d);
    json::object body;
    body["inputs"] = json::array{std::move(input)};
    return json::serialize(body);
  }

  // Replaces one key of the first input of a valid body.
  static std::string with_input(const std::string& key, json::value v) {
    json::value body = json::parse(infer_body(2, input_rows(2)));
    json::object& input = body.at("inputs").as_array()[0].as_object();
    if (v.is_null()) {
      input.erase(key);
    } else {
      input[key] = std::move(v);
    }
    return json::serialize(body);
  }

  std::vector<float> direct_infer(const std::vector<float>& in, int rows) {
    std::vector<float> out(static_cast<size_t>(rows * kOutputWidth));
    models::Acquired got;
    manager_->acquire("mlp-0", std::chrono::steady_clock::now() + 5s,
                      [&got](models::Acquired a) { got = std::move(a); });
    EXPECT_TRUE(got.ok()) << got.message;  // sync mode: loaded on this thread
    if (got.ok()) got.lease->infer(in.data(), rows, out.data());
    return out;
  }

  static void expect_outputs_equal(const http::Response& res, const std::vector<float>& expected,
                                   int rows) {
    ASSERT_EQ(res.result_int(), 200u) << res.body();
    json::value v = body_of(res);
    EXPECT_EQ(v.at("model_name").as_string(), "mlp-0");
    EXPECT_EQ(v.at("model_version").as_string(), "1");
    const json::object& out = v.at("outputs").as_array().at(0).as_object();
    EXPECT_EQ(out.at("name").as_string(), "output");
    EXPECT_EQ(out.at("datatype").as_string(), "FP32");
    EXPECT_EQ(json::serialize(out.at("shape")),
              "[" + std::to_string(rows) + "," + std::to_string(kOutputWidth) + "]");
    const json::array& data = out.at("data").as_array();
    ASSERT_EQ(data.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(static_cast<float>(data[i].to_number<double>()), expected[i]) << "element " << i;
    }
  }

  static std::unique_ptr<TempDir> dir_;
  std::unique_ptr<models::ModelManager> manager_ = open_manager(dir_->str());
  InferenceApi api_{*manager_};
};

std::unique_ptr<TempDir> InferenceApiTest::dir_;

TEST_F(InferenceApiTest, HealthLiveIsTrue) {
  http::Response res = call(bhttp::verb::get, "/v2/health/live");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(body_of(res), json::parse(R"({"live":true})"));
}

TEST_F(InferenceApiTest, HealthReadyIsTrueEvenWithAFailedModel) {
  http::Response res = call(bhttp::verb::get, "/v2/health/ready");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(body_of(res), json::parse(R"({"ready":true})"));
}

TEST_F(InferenceApiTest, HealthReadyIs503WhileDraining) {
  api_.set_draining(true);
  expect_error(call(bhttp::verb::get, "/v2/health/ready"), 503, "shutting down");
  EXPECT_EQ(call(bhttp::verb::get, "/v2/health/live").result_int(), 200u);
}

TEST_F(InferenceApiTest, ServerMetadataNamesTheServer) {
  http::Response res = call(bhttp::verb::get, "/v2");
  ASSERT_EQ(res.result_int(), 200u);
  json::value v = body_of(res);
  EXPECT_EQ(v.at("name").as_string(), "servelab-server");
  EXPECT_FALSE(v.at("version").as_string().empty());
  EXPECT_TRUE(v.at("extensions").as_array().empty());
}

TEST_F(InferenceApiTest, ModelMetadataDescribesInputsAndOutputs) {
  http::Response res = call(bhttp::verb::get, "/v2/models/mlp-1");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(body_of(res), json::parse(R"({"name":"mlp-1","versions":["1"],"platform":"servelab-mlp",
      "inputs":[{"name":"input","datatype":"FP32","shape":[-1,8]}],
      "outputs":[{"name":"output","datatype":"FP32","shape":[-1,4]}]})"));
  EXPECT_EQ(call(bhttp::verb::get, "/v2/models/mlp-1/versions/1").result_int(), 200u);
}

TEST_F(InferenceApiTest, ModelReadyReflectsTheStateWithoutLoading) {
  http::Response res = call(bhttp::verb::get, "/v2/models/mlp-0/ready");
  EXPECT_EQ(res.result_int(), 503u);  // sync mode: nothing loads before its first use
  EXPECT_EQ(body_of(res).at("state"), "unloaded");
  EXPECT_EQ(body_of(res).at("ready"), false);
  ASSERT_EQ(call(bhttp::verb::get, "/v2/models/mlp-0").result_int(), 200u);  // metadata loads it
  res = call(bhttp::verb::get, "/v2/models/mlp-0/ready");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(body_of(res), json::parse(R"({"name":"mlp-0","ready":true,"state":"ready"})"));
}

TEST_F(InferenceApiTest, FailedModelAnswers503WithItsLoadError) {
  http::Response first =
      call(bhttp::verb::post, "/v2/models/broken-0/infer", infer_body(1, input_rows(1)));
  expect_error(first, 503, "broken-0");
  const std::string reason(body_of(first).at("error").as_string());
  http::Response ready = call(bhttp::verb::get, "/v2/models/broken-0/ready");
  expect_error(ready, 503, "broken-0");
  EXPECT_EQ(body_of(ready).at("state"), "failed");
  EXPECT_FALSE(body_of(ready).at("reason").as_string().empty());
  expect_error(call(bhttp::verb::get, "/v2/models/broken-0"), 503, "broken-0");
  // The others keep serving.
  EXPECT_EQ(
      call(bhttp::verb::post, "/v2/models/mlp-0/infer", infer_body(1, input_rows(1))).result_int(),
      200u);
}

TEST_F(InferenceApiTest, UnknownModelIs404) {
  expect_error(call(bhttp::verb::get, "/v2/models/nope"), 404, "'nope' not found");
  expect_error(call(bhttp::verb::get, "/v2/models/nope/ready"), 404, "not found");
  expect_error(call(bhttp::verb::post, "/v2/models/nope/infer", "{}"), 404, "not found");
}

TEST_F(InferenceApiTest, UnknownVersionIs404) {
  expect_error(
      call(bhttp::verb::post, "/v2/models/mlp-0/versions/7/infer", infer_body(1, input_rows(1))),
      404, "no version '7'");
}

TEST_F(InferenceApiTest, UnknownRouteIs404) {
  expect_error(call(bhttp::verb::get, "/"), 404, "no such route");
  expect_error(call(bhttp::verb::get, "/v3/health/live"), 404, "no such route");
  expect_error(call(bhttp::verb::get, "/v2/models/mlp-0/explain"), 404, "no such route");
  expect_error(call(bhttp::verb::get, "/v2/models/mlp-0/ready/extra/a/b/c/d"), 404,
               "no such route");
}

TEST_F(InferenceApiTest, WrongMethodIs405WithAllow) {
  http::Response res = call(bhttp::verb::get, "/v2/models/mlp-0/infer");
  expect_error(res, 405, "use POST");
  EXPECT_EQ(res[bhttp::field::allow], "POST");
  res = call(bhttp::verb::post, "/v2/health/live");
  expect_error(res, 405, "use GET");
  EXPECT_EQ(res[bhttp::field::allow], "GET");
  EXPECT_EQ(call(bhttp::verb::delete_, "/metrics").result_int(), 405u);
}

TEST_F(InferenceApiTest, InferWithFlatDataEqualsTheModelsOwnForwardPass) {
  const std::vector<float> in = input_rows(3);
  http::Response res = call(bhttp::verb::post, "/v2/models/mlp-0/infer", infer_body(3, in));
  expect_outputs_equal(res, direct_infer(in, 3), 3);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
}

TEST_F(InferenceApiTest, InferWithNestedDataEqualsFlat) {
  const std::vector<float> in = input_rows(2);
  http::Response res =
      call(bhttp::verb::post, "/v2/models/mlp-0/infer", infer_body(2, in, /*nested=*/true));
  expect_outputs_equal(res, direct_infer(in, 2), 2);
}

TEST_F(InferenceApiTest, InferEchoesIdOnTheVersionedRoute) {
  json::value body = json::parse(infer_body(1, input_rows(1)));
  body.as_object()["id"] = "req-42";
  body.as_object()["outputs"] = json::array{json::object{{"name", "output"}}};
  http::Response res =
      call(bhttp::verb::post, "/v2/models/mlp-0/versions/1/infer", json::serialize(body));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(body_of(res).at("id").as_string(), "req-42");
}

TEST_F(InferenceApiTest, InferRejectsMalformedBodiesWith400) {
  const std::string url = "/v2/models/mlp-0/infer";
  expect_error(call(bhttp::verb::post, url, "{\"inputs\": ["), 400, "invalid JSON");
  expect_error(call(bhttp::verb::post, url, "[1,2]"), 400, "JSON object");
  expect_error(call(bhttp::verb::post, url, "{}"), 400, "missing 'inputs'");
  expect_error(call(bhttp::verb::post, url, R"({"inputs":[]})"), 400, "missing 'inputs'");
  expect_error(call(bhttp::verb::post, url, with_input("name", nullptr)), 400,
               "missing input 'name'");
  expect_error(call(bhttp::verb::post, url, with_input("name", "x")), 400, "unknown input 'x'");
  expect_error(call(bhttp::verb::post, url, with_input("shape", nullptr)), 400,
               "missing input 'shape'");
  expect_error(call(bhttp::verb::post, url, with_input("data", nullptr)), 400,
               "missing input 'data'");
  expect_error(call(bhttp::verb::post, url, with_input("datatype", nullptr)), 400,
               "missing input 'datatype'");
  expect_error(call(bhttp::verb::post, url, with_input("datatype", "INT32")), 400,
               "unsupported datatype 'INT32'");
  expect_error(call(bhttp::verb::post, url, with_input("shape", json::array{2, 8, 1})), 400,
               "two integers");
  expect_error(call(bhttp::verb::post, url, with_input("data", json::array{1, "x"})), 400,
               "is string");
}

TEST_F(InferenceApiTest, InferNamesExpectedAndActualShape) {
  const std::string url = "/v2/models/mlp-0/infer";
  expect_error(call(bhttp::verb::post, url, with_input("shape", json::array{2, 5})), 400,
               "input shape [2, 5] does not fit model 'mlp-0': expected [2, 8]");
  expect_error(call(bhttp::verb::post, url, with_input("shape", json::array{3, 8})), 400,
               "'data' has 16 elements, expected 24");
  expect_error(call(bhttp::verb::post, url, with_input("shape", json::array{0, 8})), 400,
               "between 1 and 4096, got 0");
  expect_error(call(bhttp::verb::post, url, with_input("shape", json::array{4097, 8})), 400,
               "between 1 and 4096, got 4097");
}

TEST_F(InferenceApiTest, InferRejectsRaggedNestedDataEvenWithTheRightTotalCount) {
  const std::string url = "/v2/models/mlp-0/infer";
  json::array nine, seven;
  for (int i = 0; i < 9; ++i) nine.emplace_back(0.5);
  for (int i = 0; i < 7; ++i) seven.emplace_back(0.5);
  // 9 + 7 = 16 = 2 x 8 numbers, but not two rows of 8.
  expect_error(call(bhttp::verb::post, url, with_input("data", json::array{nine, seven})), 400,
               "input 'input' 'data' row 0 has 9 elements, expected 8");
  json::array eight;
  for (int i = 0; i < 8; ++i) eight.emplace_back(0.5);
  expect_error(call(bhttp::verb::post, url, with_input("data", json::array{eight, 1, 2})), 400,
               "nested with 3 rows, expected 2");
  expect_error(call(bhttp::verb::post, url, with_input("data", json::array{eight, 1.0})), 400,
               "row 1 is double");
  // Deeper than the shape: [[[8 numbers]], [8 numbers]]. Built by hand:
  // json::array{eight} is a copy of `eight` for clang (a one-element braced
  // list of the same type), a nesting for GCC.
  json::array deeper;
  deeper.emplace_back(eight);
  expect_error(call(bhttp::verb::post, url, with_input("data", json::array{deeper, eight})), 400,
               "row 0 has 1 elements, expected 8");
  // Flat data must not hide a nested row either.
  json::array flat_then_row;
  for (int i = 0; i < 8; ++i) flat_then_row.emplace_back(0.5);
  flat_then_row.emplace_back(eight);
  expect_error(call(bhttp::verb::post, url, with_input("data", flat_then_row)), 400,
               "element 8 is array");
  // The right nesting is still served.
  EXPECT_EQ(
      call(bhttp::verb::post, url, with_input("data", json::array{eight, eight})).result_int(),
      200u);
}

TEST_F(InferenceApiTest, InferRejectsNonFiniteAndOutOfRangeValuesNamingTheInput) {
  const std::string url = "/v2/models/mlp-0/infer";
  // Written as text: 1e999 is a valid JSON number that reads as infinity.
  auto body_with = [&](const std::string& value) {
    std::string body = with_input("data", json::array{});
    std::string data = "[" + value;
    for (int i = 1; i < 16; ++i) data += ",0.5";
    data += "]";
    const size_t at = body.find("\"data\":[]");
    EXPECT_NE(at, std::string::npos) << body;
    body.replace(at, 9, "\"data\":" + data);
    return body;
  };
  for (const std::string bad : {"1e999", "-1e999", "1e39", "-3.5e38", "3.4028236e38"}) {
    expect_error(call(bhttp::verb::post, url, body_with(bad)), 400,
                 "input 'input' 'data' element 0 is ");
    expect_error(call(bhttp::verb::post, url, body_with(bad)), 400, "no finite FP32 value");
  }
  for (const std::string bad : {"\"NaN\"", "\"Infinity\"", "\"-inf\"", "null"}) {
    expect_error(call(bhttp::verb::post, url, body_with(bad)), 400,
                 "input 'input' 'data' element 0 is");
  }
  // Nested data names the row and column.
  std::string nested = with_input("data", json::array{});
  nested.replace(nested.find("\"data\":[]"), 9,
                 "\"data\":[[0,0,0,0,0,0,0,0],[0,0,0,1e999,0,0,0,0]]");
  expect_error(call(bhttp::verb::post, url, nested), 400, "element [1][3] is ");
  // The largest finite FP32 values, tiny ones (they round to 0) and large
  // integers are FP32 values.
  for (const std::string ok : {"3.4028235e38", "-3.4028234e38", "1e-50", "18446744073709551615"}) {
    EXPECT_EQ(call(bhttp::verb::post, url, body_with(ok)).result_int(), 200u) << ok;
  }
}

TEST_F(InferenceApiTest, InferRejectsUnknownRequestedOutput) {
  json::value body = json::parse(infer_body(1, input_rows(1)));
  body.as_object()["outputs"] = json::array{json::object{{"name", "logits"}}};
  expect_error(call(bhttp::verb::post, "/v2/models/mlp-0/infer", json::serialize(body)), 400,
               "unknown output 'logits'");
}

TEST_F(InferenceApiTest, MetricsCountRequestsByRouteCodeAndModel) {
  call(bhttp::verb::post, "/v2/models/mlp-0/infer", infer_body(3, input_rows(3)));
  call(bhttp::verb::post, "/v2/models/mlp-0/infer", infer_body(2, input_rows(2)));
  call(bhttp::verb::post, "/v2/models/mlp-0/infer", "{");
  call(bhttp::verb::post, "/v2/models/broken-0/infer", infer_body(1, input_rows(1)));  // load fails
  call(bhttp::verb::get, "/v2/models/broken-0/ready");
  call(bhttp::verb::get, "/v2/health/live");
  call(bhttp::verb::get, "/nowhere");

  http::Response res = call(bhttp::verb::get, "/metrics");
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  const auto m = parse_prometheus_text(res.body());
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="infer",code="200"})"), 2);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="infer",code="400"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="model_ready",code="503"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="infer",code="503"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="health_live",code="200"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_http_requests_total{route="other",code="404"})"), 1);
  EXPECT_EQ(m.at("servelab_http_requests_in_flight"), 1);  // this scrape
  EXPECT_EQ(m.at(R"(servelab_inference_requests_total{model="mlp-0"})"), 2);
  EXPECT_EQ(m.at(R"(servelab_inference_rows_total{model="mlp-0"})"), 5);
  EXPECT_EQ(m.at(R"(servelab_inference_requests_total{model="mlp-1"})"), 0);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_count{model="mlp-0"})"), 2);
  EXPECT_EQ(m.at(R"(servelab_inference_duration_seconds_bucket{model="mlp-0",le="+Inf"})"), 2);
  EXPECT_GT(m.at(R"(servelab_inference_duration_seconds_sum{model="mlp-0"})"), 0);
  EXPECT_EQ(m.at(R"(servelab_model_ready{model="mlp-0"})"), 1);
  EXPECT_EQ(m.at(R"(servelab_model_ready{model="broken-0"})"), 0);
  EXPECT_EQ(m.at("servelab_connections_opened_total"), 0);  // no server attached

  http::Response again = call(bhttp::verb::get, "/metrics");
  EXPECT_EQ(parse_prometheus_text(again.body())
                .at(R"(servelab_http_requests_total{route="metrics",code="200"})"),
            1);
}

TEST_F(InferenceApiTest, StallAidBlocksTheNextInferForStallFor) {
  ApiOptions options;
  options.stall_every = std::chrono::microseconds(1);
  options.stall_for = std::chrono::milliseconds(30);
  auto stalling_models = open_manager(dir_->str());
  InferenceApi stalling(*stalling_models, options);
  // Due one microsecond after construction: wait until it surely is.
  const auto due = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
  ASSERT_TRUE(wait_until([&] { return std::chrono::steady_clock::now() > due; }));
  const auto start = std::chrono::steady_clock::now();
  http::Response res = stalling.handle(
      make_request(bhttp::verb::post, "/v2/models/mlp-0/infer", infer_body(1, input_rows(1))));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, options.stall_for);
}

}  // namespace
}  // namespace servelab::serve
