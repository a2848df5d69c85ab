// The server-side toggles of a scenario reach the server that `servelab run`
// starts itself (target = "embedded"). The real CLI runs a short scenario
// with each toggle on and then off; what the server did is read from its own
// /metrics as the run recorded them (result.json: server.metrics_delta, the
// counters after the run minus before it). Each check fails if the toggle
// stopped reaching the server in either direction.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "fixture.h"

namespace servelab::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Infer requests on one small model, 8 connections: with batching on they
// all go through the model's batcher.
constexpr std::string_view kInferScenario = R"(name = "toggle-batching"
[load]
connections = 8
duration = "1s"
timeout = "5s"
[server]
dims = [32, 32, 8]
[[requests]]
kind = "infer"
model = "mlp-0"
)";

// Streamed completions from the tokens model the runner adds (tokens-0).
constexpr std::string_view kGenerateScenario = R"(name = "toggle-streaming"
[load]
connections = 4
duration = "1s"
timeout = "5s"
[server]
dims = [16, 16, 4]
[[requests]]
kind = "generate"
model = "tokens-0"
prompt = "Hello"
max_tokens = 16
stream = true
)";

struct EmbeddedRun {
  json::object result;  // result.json
  // server.metrics_delta summed over every label set of `series`.
  double delta(std::string_view series) const {
    double total = 0;
    const json::object& deltas = result.at("server").at("metrics_delta").as_object();
    for (const auto& kv : deltas) {
      const std::string_view key = kv.key();
      if (key == series ||
          (key.starts_with(series) && key.size() > series.size() && key[series.size()] == '{')) {
        total += kv.value().to_number<double>();
      }
    }
    return total;
  }
  double summary(std::string_view key) const {
    return result.at("summary").at(key).to_number<double>();
  }
};

// The result.json a run wrote into `out`.
EmbeddedRun read_run(const fs::path& out) {
  std::ifstream in(out / "result.json");
  std::stringstream text;
  text << in.rdbuf();
  EmbeddedRun run;
  boost::system::error_code ec;
  json::value parsed = json::parse(text.str(), ec);
  EXPECT_FALSE(ec) << "result.json: " << ec.message();
  if (!ec && parsed.is_object()) run.result = std::move(parsed.as_object());
  return run;
}

// `servelab run <scenario> --set toggles.<toggle>=<on>` against the embedded server.
EmbeddedRun run_embedded(const TempDir& dir, std::string_view scenario, const std::string& toggle,
                         bool on) {
  const fs::path file = dir.path() / (toggle + ".toml");
  std::ofstream(file) << scenario;
  const fs::path out = dir.path() / (toggle + (on ? "-on" : "-off"));
  const auto p = run_cli({"run", file.string(), "--quiet", "--out", out.string(), "--results",
                          (dir.path() / "results").string(), "--set",
                          "toggles." + toggle + "=" + (on ? "true" : "false")});
  EXPECT_EQ(p.exit_code, 0) << p.err << p.out;
  EmbeddedRun run = read_run(out);
  EXPECT_EQ(run.result.at("scenario").at("toggles").at(toggle).as_bool(), on);
  EXPECT_TRUE(run.result.at("server").at("embedded").as_bool());
  EXPECT_TRUE(run.result.at("inert_toggles").as_array().empty())
      << "an embedded server applies every toggle";
  return run;
}

TEST(EmbeddedServerToggles, BatchingOnAndOffReachTheServer) {
  TempDir dir("toggle-batching");
  const EmbeddedRun on = run_embedded(dir, kInferScenario, "batching", true);
  const double ok_on = on.summary("ok");
  EXPECT_GT(ok_on, 10.0);
  EXPECT_GE(on.delta("servelab_batch_requests_total"), ok_on)
      << "batching on: every infer goes through the batcher";
  EXPECT_GT(on.delta("servelab_batch_batches_total"), 0.0);

  const EmbeddedRun off = run_embedded(dir, kInferScenario, "batching", false);
  const double ok_off = off.summary("ok");
  EXPECT_GT(ok_off, 10.0);
  EXPECT_GE(off.delta("servelab_inference_requests_total"), ok_off);
  EXPECT_EQ(off.delta("servelab_batch_requests_total"), 0.0)
      << "batching off, yet the server batched";
  EXPECT_EQ(off.delta("servelab_batch_batches_total"), 0.0);
}

TEST(EmbeddedServerToggles, StreamingOnAndOffReachTheServer) {
  TempDir dir("toggle-streaming");
  const EmbeddedRun on = run_embedded(dir, kGenerateScenario, "streaming", true);
  const double answers_on =
      on.result.at("summary").at("generate").at("requests").to_number<double>();
  EXPECT_GT(answers_on, 5.0);
  EXPECT_EQ(on.summary("errors"), 0.0);
  // A stream is counted when the server starts it, before its first byte.
  EXPECT_GE(on.delta("servelab_streams_total"), answers_on)
      << "streaming on: every answer is a stream";

  const EmbeddedRun off = run_embedded(dir, kGenerateScenario, "streaming", false);
  const double answers_off =
      off.result.at("summary").at("generate").at("requests").to_number<double>();
  EXPECT_GT(answers_off, 5.0);
  EXPECT_EQ(off.summary("errors"), 0.0);
  EXPECT_GT(off.delta("servelab_completions_total"), 0.0);
  EXPECT_EQ(off.delta("servelab_streams_total"), 0.0) << "streaming off, yet the server streamed";
}

// [server] max_queue reaches the embedded server's --max-queue: a bound of 1
// under 16 connections sheds (503s the server counts), 0 never does.
TEST(EmbeddedServerSettings, MaxQueueReachesTheServer) {
  TempDir dir("max-queue");
  const fs::path file = dir.path() / "queue.toml";
  std::ofstream(file) << R"(name = "max-queue"
[load]
connections = 16
duration = "1s"
timeout = "5s"
[server]
dims = [256, 256, 256]
[[requests]]
kind = "infer"
model = "mlp-0"
)";
  auto shed = [&](int bound) {
    const std::string n = std::to_string(bound);
    const fs::path out = dir.path() / ("q" + n);
    std::string set = "server.max_queue=";
    set += n;  // appended, not `"..." + n`: that trips GCC 12's false -Wrestrict
    const auto p = run_cli({"run", file.string(), "--quiet", "--out", out.string(), "--results",
                            (dir.path() / "results").string(), "--set", set});
    // Shed requests are errors: the run itself still ends normally.
    EXPECT_TRUE(p.exit_code == 0 || p.exit_code == 1) << p.err << p.out;
    const EmbeddedRun run = read_run(out);
    EXPECT_EQ(run.result.at("scenario").at("server").at("max_queue").to_number<int>(), bound);
    return run.delta("servelab_requests_shed_total");
  };
  EXPECT_GT(shed(1), 0.0) << "max_queue = 1 under 16 connections, yet nothing was shed";
  EXPECT_EQ(shed(0), 0.0) << "max_queue = 0 is unbounded, yet requests were shed";
}

}  // namespace
}  // namespace servelab::testing
