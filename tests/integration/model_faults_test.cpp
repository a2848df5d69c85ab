// Corrupt, oversized and swapped weights files against the real
// servelab-server, with --async-loading on and off: a bad model fails its
// own load (UNAVAILABLE with the reason, a logged FAILED line, an error
// answer naming it), never the server, a waiter or the shutdown.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "fixture.h"
#include "load/curl_global.h"
#include "models/model_test_util.h"
#include "models/repository_maker.h"
#include "runner/server_process.h"

namespace servelab::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Reply {
  long status = 0;
  std::string body;
  std::chrono::milliseconds took{0};
};

// One request with libcurl; bounded by `timeout` so that a wedged server
// fails the test instead of hanging it (status 0 then).
Reply call(const std::string& url, const char* method, const std::string& body = "",
           std::chrono::milliseconds timeout = 10s) {
  EXPECT_TRUE(load::ensure_curl_global_init());
  Reply reply;
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (std::string(method) == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) -> size_t {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  const auto start = Clock::now();
  const CURLcode rc = curl_easy_perform(curl);
  reply.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

Reply post(const std::string& url, const std::string& body = "") { return call(url, "POST", body); }

std::string infer_body(int width) {
  std::string data;
  for (int i = 0; i < width; ++i) data += (i ? ",0.5" : "0.5");
  return R"({"inputs":[{"name":"input","shape":[1,)" + std::to_string(width) +
         R"(],"datatype":"FP32","data":[)" + data + "]}]}";
}

// The repository index entry of `model`, e.g. {"name":"x",...,"reason":"..."}.
std::string index_entry(const std::string& base, const std::string& model) {
  const Reply index = post(base + "/v2/repository/index");
  EXPECT_EQ(index.status, 200) << index.body;
  const size_t at = index.body.find("\"name\":\"" + model + "\"");
  if (at == std::string::npos) return {};
  return index.body.substr(at, index.body.find('}', at) - at);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `truncate -s 64G`: a sparse file of zeros, no disk used.
void make_sparse_zeros(const fs::path& p, uint64_t bytes) {
  fs::resize_file(p, 0);
  fs::resize_file(p, bytes);
}

// The reason a 64 GiB file of zeros is refused: its size on a machine with
// less memory, else its header (a length prefix of 0).
bool gives_the_64gib_reason(const std::string& text) {
  return text.find("model.safetensors: file is 68719476736 bytes, more than") !=
             std::string::npos ||
         text.find("model.safetensors: header is not a JSON object") != std::string::npos;
}

// SIGTERM, and the server must be gone well before the fixture's SIGKILL.
void stops_promptly(runner::ServerProcess& server) {
  const auto start = Clock::now();
  auto exit = server.stop();
  EXPECT_TRUE(exit.clean) << exit.description;
  EXPECT_LT(Clock::now() - start, 5s) << exit.description;
}

class ModelFaults : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(AsyncLoading, ModelFaults, ::testing::Values("on", "off"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string("async_") + p.param;
                         });

// A good model and a 64 GiB sparse model.safetensors: the server keeps
// serving; the huge model fails its own load, every request for it is
// answered at once with the reason, and SIGTERM stops the server.
TEST_P(ModelFaults, Sparse64GiBWeightsFailOnlyTheirModel) {
  TempDir dir;
  const std::string repo = make_models(dir, 1, {16, 16, 4});
  models::MakeOptions huge;
  huge.prefix = "huge";
  huge.dims = {16, 16, 4};
  ASSERT_TRUE(models::make_repository(repo, huge).ok());
  make_sparse_zeros(fs::path(repo) / "huge-0" / "model.safetensors", uint64_t{64} << 30);
  const std::string log = (dir.path() / "server.log").string();
  auto server = start_server(repo, {"--async-loading", GetParam()}, log);
  const std::string base = server.base_url();

  for (int i = 0; i < 3; ++i) {  // the first one may trigger the load; none may wait
    const Reply bad = post(base + "/v2/models/huge-0/infer", infer_body(16));
    EXPECT_EQ(bad.status, 503) << bad.body;
    EXPECT_NE(bad.body.find("\"error\""), std::string::npos) << bad.body;
    EXPECT_NE(bad.body.find("huge-0"), std::string::npos) << bad.body;
    EXPECT_TRUE(gives_the_64gib_reason(bad.body)) << bad.body;
    EXPECT_LT(bad.took, 5s);
  }
  const Reply load = post(base + "/v2/repository/models/huge-0/load", "{}");
  EXPECT_EQ(load.status, 503) << load.body;
  EXPECT_NE(load.body.find("huge-0"), std::string::npos) << load.body;
  EXPECT_TRUE(gives_the_64gib_reason(load.body)) << load.body;

  const std::string entry = index_entry(base, "huge-0");
  EXPECT_NE(entry.find("\"state\":\"UNAVAILABLE\""), std::string::npos) << entry;
  EXPECT_TRUE(gives_the_64gib_reason(entry)) << entry;
  EXPECT_EQ(call(base + "/v2/health/ready", "GET").status, 200);
  const Reply good = post(base + "/v2/models/mlp-0/infer", infer_body(16));
  EXPECT_EQ(good.status, 200) << good.body;
  EXPECT_NE(index_entry(base, "mlp-0").find("\"state\":\"READY\""), std::string::npos);

  stops_promptly(server);
  EXPECT_NE(slurp(log).find("model huge-0: FAILED:"), std::string::npos) << slurp(log);
}

// The weights file of a model that scanned fine is truncated, then swapped
// for a self-consistent 1 TiB sparse file, then for garbage, after the
// server started: each load fails cleanly while the other model serves, and
// the restored file loads again.
TEST_P(ModelFaults, WeightsTruncatedOrReplacedAfterStartFailTheLoadUntilFixed) {
  TempDir dir;
  const std::string repo = make_models(dir, 2, {16, 16, 4});
  const fs::path weights = fs::path(repo) / "mlp-1" / "model.safetensors";
  const fs::path saved = dir.path() / "saved.safetensors";
  fs::copy_file(weights, saved);
  auto server = start_server(repo, {"--async-loading", GetParam()});
  const std::string base = server.base_url();
  const std::string load_url = base + "/v2/repository/models/mlp-1/load";
  ASSERT_EQ(post(base + "/v2/repository/models/mlp-1/unload", "{}").status, 200);

  const uint64_t size = fs::file_size(saved);
  fs::resize_file(weights, size / 2);
  Reply load = post(load_url, "{}");
  EXPECT_EQ(load.status, 503) << load.body;
  EXPECT_NE(load.body.find("mlp-1"), std::string::npos) << load.body;

  models::test::write_sparse_safetensors(weights, uint64_t{1} << 19, uint64_t{1} << 19);  // 1 TiB
  load = post(load_url, "{}");
  EXPECT_EQ(load.status, 503) << load.body;
  EXPECT_NE(load.body.find("bytes a model may take"), std::string::npos) << load.body;
  const Reply infer = post(base + "/v2/models/mlp-1/infer", infer_body(16));
  EXPECT_EQ(infer.status, 503) << infer.body;
  EXPECT_NE(index_entry(base, "mlp-1").find("\"state\":\"UNAVAILABLE\""), std::string::npos);

  std::ofstream(weights, std::ios::binary | std::ios::trunc) << std::string(4096, '\x5a');
  load = post(load_url, "{}");
  EXPECT_EQ(load.status, 503) << load.body;
  EXPECT_NE(load.body.find("header length"), std::string::npos) << load.body;

  EXPECT_EQ(call(base + "/v2/health/ready", "GET").status, 200);
  EXPECT_EQ(post(base + "/v2/models/mlp-0/infer", infer_body(16)).status, 200);

  fs::copy_file(saved, weights, fs::copy_options::overwrite_existing);
  load = post(load_url, "{}");
  EXPECT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(post(base + "/v2/models/mlp-1/infer", infer_body(16)).status, 200);
  EXPECT_NE(index_entry(base, "mlp-1").find("\"state\":\"READY\""), std::string::npos);
  stops_promptly(server);
}

}  // namespace
}  // namespace servelab::testing
