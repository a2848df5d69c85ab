// Async model loading end to end: the real servelab-server with its model
// manager, the real generator spreading requests over models, and the
// `servelab run` toggle passing --async-loading on|off to the embedded server.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "fixture.h"
#include "load/curl_global.h"
#include "load/engine.h"
#include "load/plan.h"
#include "models/model_config.h"
#include "models/model_loader.h"
#include "report/result_json.h"
#include "runner/scenario_runner.h"
#include "support/wait_until.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Reply {
  long status = 0;
  std::string body;
};

// POST with libcurl's easy interface (the control plane only has GET).
Reply post(const std::string& url, const std::string& body) {
  EXPECT_TRUE(load::ensure_curl_global_init());
  Reply reply;
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) -> size_t {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OK) << url;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

std::string infer_body(int width) {
  std::string data;
  for (int i = 0; i < width; ++i) data += (i ? ",0.5" : "0.5");
  return R"({"inputs":[{"name":"input","shape":[1,)" + std::to_string(width) +
         R"(],"datatype":"FP32","data":[)" + data + "]}]}";
}

// Changes the last byte of a model's weights: same size, another sha256.
void tamper(const fs::path& model_dir) {
  std::fstream f(model_dir / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-1, std::ios::end);
  f.put('\x7f');
}

TEST(ModelLoading, TamperedModelAnswers503WithTheReasonWhileOthersServe) {
  TempDir dir;
  const std::string repo = make_models(dir, 2, {16, 16, 4});
  tamper(fs::path(repo) / "mlp-1");
  auto server = start_server(repo, {"--async-loading", "on"});
  const std::string base = server.base_url();

  const Reply bad = post(base + "/v2/models/mlp-1/infer", infer_body(16));
  EXPECT_EQ(bad.status, 503) << bad.body;
  EXPECT_NE(bad.body.find("sha256"), std::string::npos) << bad.body;
  const Reply good = post(base + "/v2/models/mlp-0/infer", infer_body(16));
  EXPECT_EQ(good.status, 200) << good.body;
  const Reply index = post(base + "/v2/repository/index", "");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.body.find(R"("name":"mlp-1","version":"1","state":"UNAVAILABLE")"),
            std::string::npos)
      << index.body;
  auto exit = server.stop();
  EXPECT_TRUE(exit.clean) << exit.description;
}

TEST(ModelLoading, ZipfSpreadCountsMatchTheServersPerModelMetrics) {
  TempDir dir;
  auto server = start_server(make_models(dir, 4, {16, 16, 4}), {"--async-loading", "on"});
  scenario::Scenario s = infer_scenario(server.base_url(), 1500ms, 4);
  scenario::RequestSpec& r = s.requests[0];
  r.model.clear();
  r.name = "infer";
  r.models = {"mlp-0", "mlp-1", "mlp-2", "mlp-3"};
  r.distribution = scenario::Distribution::zipf;
  r.zipf_exponent = 1.0;

  auto plan = runner::plan_run(s, server.base_url());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->requests.size(), 4u);
  const auto before = runner::scrape_metrics(server.base_url());
  std::atomic<bool> stop{false};
  auto stats = load::run(*plan, stop, {});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const auto after = runner::scrape_metrics(server.base_url());
  ASSERT_EQ(stats->mix.size(), 4u);
  EXPECT_EQ(stats->counters.error_total(), 0u);
  const double total = static_cast<double>(stats->counters.requests);
  ASSERT_GT(total, 200);
  const double h = 1.0 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4;
  for (size_t i = 0; i < 4; ++i) {
    const std::string model = "mlp-" + std::to_string(i);
    const std::string series = "servelab_inference_requests_total{model=\"" + model + "\"}";
    const double served = metric(after, series) - metric(before, series);
    const double sent = static_cast<double>(stats->mix[i].requests);
    EXPECT_EQ(stats->mix[i].name, "infer " + model);
    // Every completed request was computed; at most one in flight per
    // connection at the end was computed too.
    EXPECT_GE(served, sent) << model;
    EXPECT_LE(served, sent + 4) << model;
    // The shares follow Zipf (1/i over H_4), within sampling noise.
    EXPECT_NEAR(sent / total, 1.0 / static_cast<double>(i + 1) / h, 0.05) << model;
  }
  auto exit = server.stop();
  EXPECT_TRUE(exit.clean) << exit.description;
}

// `servelab run` with async_loading off then on, over 4 models with a
// memory budget for 2: sync mode loads inline (no request waits on a loader
// thread), async mode preloads and its cold requests wait for loader threads.
TEST(ModelLoading, AsyncLoadingToggleReachesTheEmbeddedServer) {
  TempDir dir;
  const std::string repo = make_models(dir, 4, {32, 32, 8});
  auto size =
      models::weights_file_size(*models::read_model_config((fs::path(repo) / "mlp-0").string()));
  ASSERT_TRUE(size.ok());
  const uint64_t budget = *size * 5 / 2;  // room for two models
  std::ofstream(dir.path() / "spread.toml")
      << "name = \"spread\"\n"
      << "[load]\nconnections = 4\nduration = \"1s\"\n"
      << "[server]\nmodel_repository = \"" << repo << "\"\nmodel_count = 4\n"
      << "dims = [32, 32, 8]\nmodel_memory_budget = " << budget << "\n"
      << "[[requests]]\nkind = \"infer\"\nmodel_count = 4\n";
  for (const bool async : {false, true}) {
    const fs::path out = dir.path() / (async ? "on" : "off");
    auto p = run_cli({"run", (dir.path() / "spread.toml").string(), "--quiet", "--out",
                      out.string(), "--results", (dir.path() / "results").string(), "--set",
                      std::string("toggles.async_loading=") + (async ? "true" : "false")});
    ASSERT_EQ(p.exit_code, 0) << p.err << p.out;
    auto record = report::read_result_file((out / "result.json").string());
    ASSERT_TRUE(record.ok()) << record.error().message;
    EXPECT_TRUE(record->inert_toggles.empty());
    EXPECT_EQ(record->stats.counters.error_total(), 0u);
    ASSERT_EQ(record->stats.mix.size(), 4u);
    const auto& d = record->server.metrics_delta;
    const double misses = metric(d, "servelab_model_cache_misses_total");
    const double waited = metric(d, "servelab_model_waited_requests_total");
    const double evictions = metric(d, "servelab_model_evictions_total");
    EXPECT_GT(misses, 0) << (async ? "on" : "off");
    EXPECT_GT(evictions, 0) << (async ? "on" : "off");  // 4 models, room for 2
    if (async) {
      EXPECT_GT(waited, 0);
    } else {
      EXPECT_EQ(waited, 0);
    }
    std::ifstream log(out / "server.log");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find(async ? "async loading on" : "async loading off"), std::string::npos)
        << text;
  }
}

}  // namespace
}  // namespace servelab::testing
