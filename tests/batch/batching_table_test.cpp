// model.toml's [batching] table: per-model overrides of the batching knobs.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "models/model_config.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

using namespace std::chrono_literals;

Result<ModelConfig> read_with(const testing::TempDir& dir, const std::string& toml) {
  const auto model = dir.path() / "m";
  std::filesystem::create_directories(model);
  std::ofstream(model / "model.toml", std::ios::trunc) << "kind = \"mlp\"\n" << toml;
  return read_model_config(model.string());
}

TEST(BatchingTable, EveryKnobIsRead) {
  testing::TempDir dir("batching-table");
  auto c = read_with(dir, R"([batching]
max_batch_size = 64
max_queue_delay = "500us"
preferred_batch_sizes = [16, 32]
max_queue_size = 100
queue_timeout = "2s"
adaptive = true
target_batch_time = "4ms"
preserve_ordering = true
)");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const BatchingOverrides& b = c->batching;
  EXPECT_EQ(b.max_batch_size, 64);
  EXPECT_EQ(b.max_queue_delay, 500us);
  EXPECT_EQ(b.preferred_batch_sizes, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(b.max_queue_size, 100);
  EXPECT_EQ(b.queue_timeout, 2s);
  EXPECT_EQ(b.adaptive, true);
  EXPECT_EQ(b.target_batch_time, 4ms);
  EXPECT_EQ(b.preserve_ordering, true);
}

TEST(BatchingTable, AbsentKeysStayUnset) {
  testing::TempDir dir("batching-table");
  auto c = read_with(dir, "[batching]\nmax_batch_size = 8\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->batching.max_batch_size, 8);
  EXPECT_FALSE(c->batching.max_queue_delay);
  EXPECT_FALSE(c->batching.adaptive);
  auto none = read_with(dir, "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->batching.max_batch_size);
}

TEST(BatchingTable, BadValuesNameFileLineAndKey) {
  testing::TempDir dir("batching-table");
  auto unknown = read_with(dir, "[batching]\nmax_batch = 8\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(
      unknown.error().message.find(
          R"(model.toml:3:1: unknown key "max_batch" in [batching]; valid keys: max_batch_size,)"),
      std::string::npos)
      << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("max_batch_size"), std::string::npos);

  auto zero = read_with(dir, "[batching]\nmax_batch_size = 0\n");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(
      zero.error().message.find("batching.max_batch_size: expected an integer >= 1, got integer 0"),
      std::string::npos)
      << zero.error().message;

  auto delay = read_with(dir, "[batching]\nmax_queue_delay = 5\n");
  ASSERT_FALSE(delay.ok());
  EXPECT_NE(delay.error().message.find("expected a duration string"), std::string::npos)
      << delay.error().message;

  auto target = read_with(dir, "[batching]\ntarget_batch_time = \"0s\"\n");
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.error().message.find(
                R"(batching.target_batch_time: expected a duration > 0, got "0s")"),
            std::string::npos)
      << target.error().message;

  auto sizes = read_with(dir, "[batching]\npreferred_batch_sizes = [4, \"x\"]\n");
  ASSERT_FALSE(sizes.ok());
  EXPECT_NE(
      sizes.error().message.find(
          R"(batching.preferred_batch_sizes[1]: expected a row count, an integer >= 1, got string "x")"),
      std::string::npos);

  auto not_table = read_with(dir, "batching = 3\n");
  ASSERT_FALSE(not_table.ok());
  EXPECT_NE(not_table.error().message.find("expected a table"), std::string::npos);
}

}  // namespace
}  // namespace servelab::models
