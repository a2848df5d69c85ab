#include "load/plan.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace servelab::load {
namespace {

namespace json = boost::json;

scenario::RequestSpec http_spec(std::string url, double weight = 1.0) {
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::http;
  r.url = std::move(url);
  r.weight = weight;
  return r;
}

scenario::RequestSpec infer_spec(std::string model, int rows, uint64_t seed) {
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::infer;
  r.model = std::move(model);
  r.rows = rows;
  r.seed = seed;
  return r;
}

// Model "m" takes input "x" of width 8 (as its v2 metadata says).
const ModelInputs kInputs = {{"m", {"x", 8}}};

TEST(Plan, InferBodyHasTheModelsInputShape) {
  scenario::Scenario s;
  s.requests = {infer_spec("m", 3, 7), infer_spec("m", 1, 7)};
  auto plan = make_plan(s, "http://127.0.0.1:8080", kInputs);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->requests.size(), 2u);

  const PreparedRequest& r = plan->requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://127.0.0.1:8080/v2/models/m/infer");
  EXPECT_EQ(r.name, "infer m");
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers.front(), "Content-Type: application/json");

  const json::value body = json::parse(r.body);
  const json::object& in0 = body.at("inputs").as_array().at(0).as_object();
  EXPECT_EQ(in0.at("name").as_string(), "x");
  EXPECT_EQ(in0.at("datatype").as_string(), "FP32");
  EXPECT_EQ(json::value_to<std::vector<int64_t>>(in0.at("shape")), (std::vector<int64_t>{3, 8}));
  const json::array& data = in0.at("data").as_array();
  ASSERT_EQ(data.size(), 24u);
  for (const json::value& v : data) {
    ASSERT_TRUE(v.is_double() || v.is_int64());
    const double d = v.to_number<double>();
    EXPECT_GE(d, -2.0);
    EXPECT_LT(d, 2.0);
  }
  // One row with the same seed is the first row of the three.
  const json::value one = json::parse(plan->requests[1].body);
  const json::array& data1 = one.at("inputs").as_array().at(0).at("data").as_array();
  ASSERT_EQ(data1.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(data1[i], data[i]);
}

TEST(Plan, InferDataIsDeterministicFromTheSeed) {
  scenario::Scenario s;
  s.requests = {infer_spec("m", 2, 1), infer_spec("m", 2, 1), infer_spec("m", 2, 2)};
  auto plan = make_plan(s, "http://127.0.0.1:8080", kInputs);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->requests[0].body, plan->requests[1].body);
  EXPECT_NE(plan->requests[0].body, plan->requests[2].body);
}

TEST(Plan, InferWithoutTheModelsInputFailsNamingTheModel) {
  scenario::Scenario s;
  s.requests = {infer_spec("nope", 1, 1)};
  auto plan = make_plan(s, "http://127.0.0.1:8080", kInputs);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message.find("'nope'"), std::string::npos) << plan.error().message;
}

TEST(Plan, ModelsNeedingInputAreEachInferModelOnceAndASpreadsFirst) {
  scenario::Scenario s;
  scenario::RequestSpec spread = infer_spec("", 1, 1);
  spread.models = {"b", "c"};
  s.requests = {infer_spec("a", 1, 1), http_spec("/x"), spread, infer_spec("a", 2, 1),
                infer_spec("b", 1, 1)};
  EXPECT_EQ(models_needing_input(s), (std::vector<std::string>{"a", "b"}));
}

TEST(Plan, WeightedMixHasNormalizedCumulativeWeights) {
  scenario::Scenario s;
  s.requests = {http_spec("/a", 1), http_spec("/b", 3), http_spec("/c", 4)};
  auto plan = make_plan(s, "http://127.0.0.1:1");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->cumulative_weights.size(), 3u);
  EXPECT_DOUBLE_EQ(plan->cumulative_weights[0], 0.125);
  EXPECT_DOUBLE_EQ(plan->cumulative_weights[1], 0.5);
  EXPECT_DOUBLE_EQ(plan->cumulative_weights[2], 1.0);
  EXPECT_EQ(pick_request(plan->cumulative_weights, 0.0), 0u);
  EXPECT_EQ(pick_request(plan->cumulative_weights, 0.124), 0u);
  EXPECT_EQ(pick_request(plan->cumulative_weights, 0.125), 1u);
  EXPECT_EQ(pick_request(plan->cumulative_weights, 0.49), 1u);
  EXPECT_EQ(pick_request(plan->cumulative_weights, 0.9999), 2u);
}

TEST(Plan, NonPositiveWeightIsAnError) {
  scenario::Scenario s;
  s.requests = {http_spec("/a", 0)};
  EXPECT_FALSE(make_plan(s, "http://127.0.0.1:1").ok());
}

TEST(Plan, RelativeUrlsResolveAgainstTheBaseUrl) {
  scenario::Scenario s;
  auto with_headers = http_spec("/a?x=1");
  with_headers.method = "PUT";
  with_headers.headers = {{"X-Test", "1"}, {"Accept", "text/plain"}};
  with_headers.body = "payload";
  s.requests = {with_headers, http_spec("b"), http_spec("http://127.0.0.2:9/c"), http_spec("")};
  auto plan = make_plan(s, "http://127.0.0.1:8080/");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->base_url, "http://127.0.0.1:8080");
  EXPECT_EQ(plan->requests[0].url, "http://127.0.0.1:8080/a?x=1");
  EXPECT_EQ(plan->requests[0].method, "PUT");
  EXPECT_EQ(plan->requests[0].body, "payload");
  EXPECT_EQ(plan->requests[0].headers,
            (std::vector<std::string>{"X-Test: 1", "Accept: text/plain"}));
  EXPECT_EQ(plan->requests[1].url, "http://127.0.0.1:8080/b");
  EXPECT_EQ(plan->requests[2].url, "http://127.0.0.2:9/c");
  EXPECT_EQ(plan->requests[3].url, "http://127.0.0.1:8080/");
  EXPECT_EQ(plan->requests[1].name, "http b");
}

scenario::RequestSpec spread_spec(std::vector<std::string> models, scenario::Distribution d) {
  scenario::RequestSpec r = infer_spec("", 1, 1);
  r.name = "infer";
  r.models = std::move(models);
  r.distribution = d;
  return r;
}

TEST(Plan, SpreadRequestBecomesOnePreparedRequestPerModelWithZipfShares) {
  scenario::Scenario s;
  auto spread = spread_spec({"m", "m2", "m3", "m4"}, scenario::Distribution::zipf);
  spread.zipf_exponent = 1.0;
  spread.weight = 2;
  s.requests = {spread, http_spec("/other", 2)};
  auto plan = make_plan(s, "http://127.0.0.1:8080", kInputs);  // the input of the first model only
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->requests.size(), 5u);
  const double h = 1.0 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4;
  for (size_t i = 0; i < 4; ++i) {
    const PreparedRequest& r = plan->requests[i];
    const std::string model = i == 0 ? "m" : "m" + std::to_string(i + 1);
    EXPECT_EQ(r.name, "infer " + model);
    EXPECT_EQ(r.url, "http://127.0.0.1:8080/v2/models/" + model + "/infer");
    EXPECT_NEAR(r.weight, 2.0 * (1.0 / static_cast<double>(i + 1)) / h, 1e-12) << model;
    EXPECT_EQ(r.body, plan->requests[0].body);
  }
  // The spread keeps its request's share of the mix: half.
  EXPECT_NEAR(plan->cumulative_weights[3], 0.5, 1e-12);
}

TEST(Plan, SpreadWeightsAreUniformZipfOrExplicitAndSumToOne) {
  auto uniform = spread_weights(spread_spec({"a", "b", "c", "d"}, scenario::Distribution::uniform));
  ASSERT_TRUE(uniform.ok());
  EXPECT_EQ(*uniform, (std::vector<double>{0.25, 0.25, 0.25, 0.25}));
  auto zipf_spec = spread_spec({"a", "b", "c"}, scenario::Distribution::zipf);
  zipf_spec.zipf_exponent = 2;
  auto zipf = spread_weights(zipf_spec);
  ASSERT_TRUE(zipf.ok());
  const double h = 1.0 + 0.25 + 1.0 / 9;
  EXPECT_NEAR((*zipf)[0], 1.0 / h, 1e-12);
  EXPECT_NEAR((*zipf)[1], 0.25 / h, 1e-12);
  EXPECT_NEAR((*zipf)[2], 1.0 / 9 / h, 1e-12);
  auto explicit_spec = spread_spec({"a", "b"}, scenario::Distribution::weights);
  explicit_spec.model_weights = {3, 1};
  EXPECT_EQ(*spread_weights(explicit_spec), (std::vector<double>{0.75, 0.25}));
  explicit_spec.model_weights = {0, 0};
  EXPECT_FALSE(spread_weights(explicit_spec).ok());
  explicit_spec.model_weights = {1};
  EXPECT_FALSE(spread_weights(explicit_spec).ok());
}

}  // namespace
}  // namespace servelab::load
