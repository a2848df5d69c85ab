// Each infer model's input, fetched from the target's KServe v2 metadata
// before planning (runner/model_metadata.h).
#include "runner/model_metadata.h"

#include <gtest/gtest.h>

#include <atomic>

#include "load/test_server.h"
#include "runner/scenario_runner.h"

namespace servelab::runner {
namespace {

using load::testing::make_response;
using load::testing::TestServer;
namespace bhttp = boost::beast::http;

scenario::RequestSpec infer_spec(std::string model, int rows = 1) {
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::infer;
  r.model = std::move(model);
  r.rows = rows;
  return r;
}

// Serves KServe v2 metadata for model "m" (input "x", width 8) and counts
// metadata fetches.
class MetadataServer {
 public:
  MetadataServer()
      : server_([this](http::Request&& req) {
          if (req.method() == bhttp::verb::get && req.target() == "/v2/models/m") {
            fetches_.fetch_add(1);
            return make_response(
                req, bhttp::status::ok,
                R"({"name":"m","platform":"servelab_mlp","inputs":[{"name":"x","datatype":"FP32","shape":[-1,8]}],)"
                R"("outputs":[{"name":"y","datatype":"FP32","shape":[-1,2]}]})",
                "application/json");
          }
          return make_response(req, bhttp::status::not_found, R"({"error":"unknown model"})",
                               "application/json");
        }) {}
  TestServer& server() { return server_; }
  int fetches() const { return fetches_.load(); }

 private:
  std::atomic<int> fetches_{0};
  TestServer server_;
};

TEST(ModelMetadata, EachModelIsFetchedOnceAndGivesItsInput) {
  MetadataServer meta;
  ASSERT_TRUE(meta.server().started()) << meta.server().error();
  scenario::Scenario s;
  scenario::RequestSpec spread = infer_spec("");
  spread.models = {"m",
                   "m2"};  // only the first is asked: every model of a spread takes the same input
  s.requests = {infer_spec("m", 3), infer_spec("m", 1), spread};
  auto inputs = fetch_model_inputs(s, meta.server().base_url() + "/");
  ASSERT_TRUE(inputs.ok()) << inputs.error().message;
  EXPECT_EQ(meta.fetches(), 1);
  ASSERT_EQ(inputs->size(), 1u);
  EXPECT_EQ(inputs->at("m").name, "x");
  EXPECT_EQ(inputs->at("m").width, 8);
}

TEST(ModelMetadata, UnknownModelFailsNamingTheUrlAndStatus) {
  MetadataServer meta;
  ASSERT_TRUE(meta.server().started()) << meta.server().error();
  scenario::Scenario s;
  s.requests = {infer_spec("nope")};
  auto inputs = fetch_model_inputs(s, meta.server().base_url());
  ASSERT_FALSE(inputs.ok());
  EXPECT_NE(inputs.error().message.find("/v2/models/nope"), std::string::npos)
      << inputs.error().message;
  EXPECT_NE(inputs.error().message.find("404"), std::string::npos) << inputs.error().message;
}

TEST(ModelMetadata, AnHttpOnlyScenarioAsksTheTargetNothing) {
  scenario::Scenario s;
  s.requests = {scenario::RequestSpec{}};
  auto inputs = fetch_model_inputs(s, "http://127.0.0.1:1");  // nothing listens there
  ASSERT_TRUE(inputs.ok()) << inputs.error().message;
  EXPECT_TRUE(inputs->empty());
}

TEST(ModelMetadata, MalformedMetadataIsAnErrorSayingWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"{", "not JSON"},
      {R"({"inputs":[]})", "no \"inputs\" array"},
      {R"({"inputs":[{"name":"x"}]})", "non-empty \"shape\""},
      {R"({"inputs":[{"name":"x","datatype":"INT8","shape":[-1,8]}]})", "only FP32"},
      {R"({"inputs":[{"name":"x","shape":[-1,"8"]}]})", "must hold integers"},
      {R"({"inputs":[{"name":"x","shape":[0]}]})", "not positive"},
  };
  for (const auto& [body, expected] : cases) {
    auto in = parse_model_input("m", "http://h/v2/models/m", body);
    ASSERT_FALSE(in.ok()) << body;
    EXPECT_NE(in.error().message.find("model 'm' metadata from http://h/v2/models/m"),
              std::string::npos)
        << in.error().message;
    EXPECT_NE(in.error().message.find(expected), std::string::npos) << in.error().message;
  }
}

TEST(ModelMetadata, PlanRunBuildsInferBodiesOfTheFetchedWidth) {
  MetadataServer meta;
  ASSERT_TRUE(meta.server().started()) << meta.server().error();
  scenario::Scenario s;
  s.requests = {infer_spec("m", 2)};
  auto plan = plan_run(s, meta.server().base_url());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->requests.size(), 1u);
  EXPECT_NE(plan->requests[0].body.find(R"("shape":[2,8])"), std::string::npos)
      << plan->requests[0].body;
}

}  // namespace
}  // namespace servelab::runner
