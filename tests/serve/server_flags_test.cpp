// servelab-server's flags both ways: parsing server_args(c) gives c again,
// only --models gives ServerConfig{}, the toggle flags come from kToggles,
// and values CLI11 cannot check are refused with FlagError (exit status 2).

#include "serve/server_flags.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace servelab::serve {
namespace {

using namespace std::chrono_literals;

// Parses `args` (without the program name) as servelab-server does.
ServerConfig parse(const std::vector<std::string>& args) {
  CLI::App app;
  ServerConfig config;
  add_server_flags(app, config);
  std::vector<const char*> argv{"servelab-server"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return config;
}

// Every field that has a flag.
void expect_same_flagged_fields(const ServerConfig& a, const ServerConfig& b) {
  EXPECT_EQ(a.http.host, b.http.host);
  EXPECT_EQ(a.http.port, b.http.port);
  EXPECT_EQ(a.http.threads, b.http.threads);
  EXPECT_EQ(a.models_dir, b.models_dir);
  EXPECT_EQ(a.http.max_header_bytes, b.http.max_header_bytes);
  EXPECT_EQ(a.http.max_body_bytes, b.http.max_body_bytes);
  EXPECT_EQ(a.http.request_timeout, b.http.request_timeout);
  EXPECT_EQ(a.http.idle_timeout, b.http.idle_timeout);
  EXPECT_EQ(a.http.max_requests_per_connection, b.http.max_requests_per_connection);
  EXPECT_EQ(a.http.send_buffer_bytes, b.http.send_buffer_bytes);
  EXPECT_EQ(a.api.max_rows, b.api.max_rows);
  EXPECT_EQ(a.api.stall_every, b.api.stall_every);
  EXPECT_EQ(a.api.stall_for, b.api.stall_for);
  EXPECT_EQ(a.api.compute_threads, b.api.compute_threads);
  EXPECT_EQ(a.api.batching, b.api.batching);
  EXPECT_EQ(a.api.batch.max_batch_size, b.api.batch.max_batch_size);
  EXPECT_EQ(a.api.batch.max_queue_delay, b.api.batch.max_queue_delay);
  EXPECT_EQ(a.api.batch.preferred_batch_sizes, b.api.batch.preferred_batch_sizes);
  EXPECT_EQ(a.api.batch.max_queue_size, b.api.batch.max_queue_size);
  EXPECT_EQ(a.api.batch.queue_timeout, b.api.batch.queue_timeout);
  EXPECT_EQ(a.api.batch.adaptive, b.api.batch.adaptive);
  EXPECT_EQ(a.api.batch.target_batch_time, b.api.batch.target_batch_time);
  EXPECT_EQ(a.api.batch.preserve_ordering, b.api.batch.preserve_ordering);
  EXPECT_EQ(a.manager.async, b.manager.async);
  EXPECT_EQ(a.manager.memory_budget, b.manager.memory_budget);
  EXPECT_EQ(a.manager.max_concurrent_loads, b.manager.max_concurrent_loads);
  EXPECT_EQ(a.manager.wait_timeout, b.manager.wait_timeout);
  EXPECT_EQ(a.manager.prediction, b.manager.prediction);
  EXPECT_EQ(a.completions.streaming, b.completions.streaming);
  EXPECT_EQ(a.completions.gzip, b.completions.gzip);
  EXPECT_EQ(a.completions.stream.buffer_limit, b.completions.stream.buffer_limit);
  EXPECT_EQ(a.completions.stream.flush.mode, b.completions.stream.flush.mode);
  EXPECT_EQ(a.completions.stream.flush.max_bytes, b.completions.stream.flush.max_bytes);
  EXPECT_EQ(a.completions.stream.flush.max_delay, b.completions.stream.flush.max_delay);
  EXPECT_EQ(a.completions.max_tokens_limit, b.completions.max_tokens_limit);
  EXPECT_EQ(a.api.max_queue, b.api.max_queue);
  EXPECT_EQ(a.auth.api_key_file, b.auth.api_key_file);
  EXPECT_EQ(a.auth.protect, b.auth.protect);
  EXPECT_EQ(a.completions.max_prompt_tokens, b.completions.max_prompt_tokens);
  EXPECT_EQ(a.completions.max_completions, b.completions.max_completions);
}

// A config with every flagged field away from its default.
ServerConfig everything_changed() {
  ServerConfig c;
  c.http.host = "0.0.0.0";
  c.http.port = 8123;
  c.http.threads = c.http.threads + 3;
  c.models_dir = "/srv/models";
  c.http.max_header_bytes = 2048;
  c.http.max_body_bytes = 1 << 20;
  c.http.request_timeout = 1500ms;
  c.http.idle_timeout = 90s;
  c.http.max_requests_per_connection = 100;
  c.http.send_buffer_bytes = 64 * 1024;
  c.api.max_rows = 64;
  c.api.stall_every = 2s;
  c.api.stall_for = 250us;
  c.api.compute_threads = 3;
  c.api.batching = true;
  c.api.batch.max_batch_size = 16;
  c.api.batch.max_queue_delay = 750us;
  c.api.batch.preferred_batch_sizes = {4, 8, 16};
  c.api.batch.max_queue_size = 99;
  c.api.batch.queue_timeout = 0us;
  c.api.batch.adaptive = true;
  c.api.batch.target_batch_time = 3ms;
  c.api.batch.preserve_ordering = true;
  c.manager.async = false;
  c.manager.memory_budget = 512ULL << 20;
  c.manager.max_concurrent_loads = 5;
  c.manager.wait_timeout = 2500ms;
  c.manager.prediction = false;
  c.completions.streaming = false;
  c.completions.gzip = false;
  c.completions.stream.buffer_limit = 8192;
  c.completions.stream.flush.mode = stream::FlushPolicy::Mode::coalesce;
  c.completions.stream.flush.max_bytes = 1000;
  c.completions.stream.flush.max_delay = 1ms;
  c.completions.max_tokens_limit = 77;
  c.api.max_queue = 0;
  c.auth.api_key_file = "/etc/servelab/key";
  c.auth.protect = "repository,metrics";
  c.completions.max_prompt_tokens = 5000;
  c.completions.max_completions = 12;
  return c;
}

bool has(const std::vector<std::string>& args, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag && args[i + 1] == value) return true;
  return false;
}

TEST(ServerFlags, OnlyModelsGivesTheDefaultConfig) {
  ServerConfig expected;
  expected.models_dir = "/m";
  expect_same_flagged_fields(parse({"--models", "/m"}), expected);
}

TEST(ServerFlags, ParsingServerArgsGivesTheConfigBackWhenEveryFlagChanged) {
  const ServerConfig c = everything_changed();
  expect_same_flagged_fields(parse(server_args(c)), c);
}

TEST(ServerFlags, ParsingServerArgsGivesTheDefaultConfigBack) {
  ServerConfig c;
  c.models_dir = "/m";
  const auto args = server_args(c);
  expect_same_flagged_fields(parse(args), c);
  // Defaults are left out, except --models and the toggles.
  EXPECT_EQ(args.size(), 2 + 2 * 3u) << ::testing::PrintToString(args);
  EXPECT_TRUE(has(args, "--models", "/m"));
}

TEST(ServerFlags, AdmissionAndAuthFlagsParse) {
  const ServerConfig c = parse({"--models", "/m", "--max-queue", "8", "--api-key", "k3y",
                                "--protect", "repository,metrics"});
  EXPECT_EQ(c.api.max_queue, 8u);
  EXPECT_EQ(c.auth.api_key, "k3y");
  EXPECT_EQ(c.auth.protect, "repository,metrics");
  const ServerConfig defaults;
  EXPECT_EQ(defaults.api.max_queue, 512u);  // the documented default
  EXPECT_EQ(defaults.auth.protect, "all");
}

TEST(ServerFlags, ServerArgsNeverWritesTheApiKey) {
  ServerConfig c;
  c.models_dir = "/m";
  c.auth.api_key = "k3y-that-must-not-leak";
  for (const std::string& word : server_args(c)) {
    EXPECT_EQ(word.find("k3y"), std::string::npos) << word;
    EXPECT_NE(word, "--api-key");
  }
}

TEST(ServerFlags, EveryServerSideToggleIsAFlagFromTheToggleTable) {
  for (const ToggleInfo& t : kToggles) {
    for (bool on : {false, true}) {
      Toggles toggles;
      toggles.*(t.field) = on;
      ServerConfig c;
      c.models_dir = "/m";
      set_toggles(c, toggles);
      const auto args = server_args(c);
      if (t.side == ToggleSide::client) {
        EXPECT_TRUE(t.server_flag.empty()) << t.name;
        continue;
      }
      // Written both ways (a command line says what it measures), read back.
      EXPECT_TRUE(has(args, std::string(t.server_flag), on ? "on" : "off")) << t.name;
      ServerConfig back = parse(args);
      ServerConfig expected = c;
      expect_same_flagged_fields(back, expected);
    }
  }
  Toggles all{.pooling = true, .batching = true, .streaming = true, .async_loading = true};
  ServerConfig c;
  set_toggles(c, all);
  EXPECT_TRUE(c.api.batching);
  EXPECT_TRUE(c.completions.streaming);
  EXPECT_TRUE(c.manager.async);
  Toggles none{.pooling = false, .batching = false, .streaming = false, .async_loading = false};
  set_toggles(c, none);
  EXPECT_FALSE(c.api.batching);
  EXPECT_FALSE(c.completions.streaming);
  EXPECT_FALSE(c.manager.async);
}

TEST(ServerFlags, OneStallFlagWritesItsPartnerToo) {
  ServerConfig c;
  c.models_dir = "/m";
  c.api.stall_every = 1s;
  const auto args = server_args(c);
  EXPECT_TRUE(has(args, "--stall-every", "1s"));
  EXPECT_TRUE(has(args, "--stall-for", "0s"));
  expect_same_flagged_fields(parse(args), c);
}

TEST(ServerFlags, DurationsAndByteSizesParseIntoChronoTypesAndBytes) {
  const ServerConfig c = parse({"--models", "/m", "--request-timeout", "1m30s", "--max-queue-delay",
                                "250us", "--model-memory-budget", "1.5GiB", "--load-wait-timeout",
                                "500ms", "--preferred-batch-sizes", "2,,4"});
  EXPECT_EQ(c.http.request_timeout, 90s);
  EXPECT_EQ(c.api.batch.max_queue_delay, 250us);
  EXPECT_EQ(c.manager.memory_budget, 3ULL << 29);
  EXPECT_EQ(c.manager.wait_timeout, 500ms);
  EXPECT_EQ(c.api.batch.preferred_batch_sizes, (std::vector<int64_t>{2, 4}));
}

TEST(ServerFlags, ValuesThatDoNotParseAreFlagErrorsWithExitStatus2) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--queue-timeout", "soon"}, "--queue-timeout: expected a duration"},
      {{"--model-memory-budget", "12QB"}, "--model-memory-budget: "},
      {{"--load-wait-timeout", "0s"}, "--load-wait-timeout must be positive"},
      {{"--target-batch-time", "0s"}, "--target-batch-time must be positive"},
      {{"--preferred-batch-sizes", "4,x"}, "--preferred-batch-sizes: 'x' is not a row count"},
      {{"--stall-every", "1s"}, "--stall-every and --stall-for go together"},
      {{"--stall-for", "1s"}, "--stall-for and --stall-every go together"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"--models", "/m"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    try {
      parse(args);
      ADD_FAILURE() << "accepted: " << c.args[0];
    } catch (const FlagError& e) {
      EXPECT_EQ(e.get_exit_code(), kFlagErrorExitCode);
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
    }
  }
}

TEST(ServerFlags, CliElevenKeepsCheckingRangesAndChoices) {
  EXPECT_THROW(parse({"--models", "/m", "--threads", "0"}), CLI::ValidationError);
  EXPECT_THROW(parse({"--models", "/m", "--batching", "maybe"}), CLI::ValidationError);
  EXPECT_THROW(parse({"--models", "/m", "--stream-flush", "sometimes"}), CLI::ValidationError);
  EXPECT_THROW(parse({}), CLI::RequiredError);
}

}  // namespace
}  // namespace servelab::serve
