// Scenario keys of infer requests spread over several models
// (models / model_count, distribution, zipf_exponent, weights) and the
// embedded server's model manager knobs ([server] model_memory_budget,
// max_concurrent_loads, prediction, load_wait_timeout).

#include <gtest/gtest.h>

#include <string>

#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

using namespace std::chrono_literals;

Result<Scenario> parse(std::string_view text) { return parse_scenario_text(text, "test.toml"); }

std::string error_of(std::string_view text) {
  Result<Scenario> r = parse(text);
  EXPECT_FALSE(r.ok()) << "parsed but should not have:\n" << text;
  return r.ok() ? std::string() : r.error().message;
}

std::string with_request(std::string_view keys) {
  return "name = \"t\"\n[[requests]]\nkind = \"infer\"\n" + std::string(keys);
}

TEST(ModelSpread, ModelsListWithZipf) {
  auto r = parse(with_request(
      "models = [\"a\", \"b\", \"c\"]\ndistribution = \"zipf\"\nzipf_exponent = 1.2\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const RequestSpec& q = r->requests[0];
  EXPECT_EQ(q.models, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(q.model.empty());
  EXPECT_EQ(q.distribution, Distribution::zipf);
  EXPECT_DOUBLE_EQ(q.zipf_exponent, 1.2);
  EXPECT_EQ(q.name, "infer");
}

TEST(ModelSpread, ModelCountNamesTheEmbeddedRepositorysModels) {
  auto r = parse(with_request("model_count = 3\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->requests[0].models, (std::vector<std::string>{"mlp-0", "mlp-1", "mlp-2"}));
  EXPECT_EQ(r->requests[0].distribution, Distribution::uniform);
}

TEST(ModelSpread, WeightsImplyTheWeightsDistribution) {
  auto r = parse(with_request("models = [\"a\", \"b\"]\nweights = [3, 0.5]\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->requests[0].distribution, Distribution::weights);
  EXPECT_EQ(r->requests[0].model_weights, (std::vector<double>{3, 0.5}));
}

TEST(ModelSpread, ErrorsAreLocatedAndSayWhatWasExpected) {
  EXPECT_EQ(error_of(with_request("model = \"a\"\nmodels = [\"b\"]\n")),
            "test.toml:4:9: requests[0].model: give either model or models, not both");
  EXPECT_EQ(error_of(with_request("models = [\"a\"]\nmodel_count = 2\n")),
            "test.toml:5:15: requests[0].model_count: give either models = [...] or model_count, "
            "not both");
  EXPECT_EQ(error_of(with_request("models = [\"a\", \"a\"]\n")),
            "test.toml:4:16: requests[0].models[1]: model \"a\" is listed twice");
  EXPECT_EQ(error_of(with_request("models = [\"a\", \"b\"]\nweights = [1]\n")),
            "test.toml:5:11: requests[0].weights: expected one weight per model (2), got 1");
  EXPECT_EQ(error_of(with_request("models = [\"a\"]\nzipf_exponent = 2\n")),
            "test.toml:5:17: requests[0].zipf_exponent: only applies to distribution = \"zipf\"");
  EXPECT_EQ(error_of(with_request("model = \"a\"\ndistribution = \"zipf\"\n")),
            "test.toml:5:16: requests[0].distribution: only applies to a request spread over "
            "several models "
            "(models = [...] or model_count)");
  const std::string e = error_of(with_request("models = [\"a\"]\ndistribution = \"pareto\"\n"));
  EXPECT_NE(e.find("test.toml:5:16: requests[0].distribution"), std::string::npos) << e;
  EXPECT_NE(e.find("zipf"), std::string::npos) << e;
  const std::string missing =
      error_of(with_request("models = [\"a\"]\ndistribution = \"weights\"\n"));
  EXPECT_NE(missing.find("requests[0].weights"), std::string::npos) << missing;
  EXPECT_NE(error_of(with_request("rows = 1\n")).find("models = [...]"), std::string::npos);
  EXPECT_NE(error_of("name = \"t\"\n[[requests]]\nkind = \"http\"\nmodels = [\"a\"]\n")
                .find("only applies to kind"),
            std::string::npos);
}

TEST(ServerManagerKeys, AreReadWithTheirUnits) {
  auto r = parse(
      with_request("model = \"m\"\n") +
      "[server]\nmodel_memory_budget = \"512MiB\"\nmax_concurrent_loads = 3\nprediction = false\n"
      "load_wait_timeout = \"2s\"\nmax_queue = 64\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.model_memory_budget, 512ull << 20);
  EXPECT_EQ(r->server.max_concurrent_loads, 3);
  EXPECT_FALSE(r->server.prediction);
  EXPECT_EQ(r->server.load_wait_timeout, 2s);
  EXPECT_EQ(r->server.max_queue, 64);
  auto bytes = parse(with_request("model = \"m\"\n") + "[server]\nmodel_memory_budget = 1000\n");
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  EXPECT_EQ(bytes->server.model_memory_budget, 1000u);
  const std::string e =
      error_of(with_request("model = \"m\"\n") + "[server]\nmodel_memory_budget = \"lots\"\n");
  EXPECT_NE(e.find("test.toml:6:23: server.model_memory_budget: expected a byte size"),
            std::string::npos)
      << e;
  EXPECT_EQ(bytes->server.max_queue, 512) << "the server's own default";
  EXPECT_NE(error_of(with_request("model = \"m\"\n") + "[server]\nmax_queue = -1\n")
                .find("server.max_queue"),
            std::string::npos);
  EXPECT_NE(error_of(with_request("model = \"m\"\n") + "[server]\nmax_concurrent_loads = 0\n")
                .find("max_concurrent_loads"),
            std::string::npos);
}

}  // namespace
}  // namespace servelab::scenario
