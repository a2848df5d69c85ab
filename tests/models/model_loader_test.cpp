// load_model() and weights_file_size(): what a load does with a model's
// folder, over repositories written by make_repository.

#include "models/model_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "model_test_util.h"
#include "models/model_config.h"
#include "models/repository_maker.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

namespace fs = std::filesystem;
using servelab::testing::TempDir;
using test::slurp;
using test::small_models;
using test::write_file;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

ModelConfig config_of(const TempDir& repo, const std::string& name) {
  auto c = read_model_config((repo.path() / name).string());
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : ModelConfig{};
}

std::string load_error(const TempDir& repo, const std::string& name, const LoadCheck& check = {}) {
  auto m = load_model(config_of(repo, name), check);
  EXPECT_FALSE(m.ok()) << name;
  return m.ok() ? std::string() : m.error().message;
}

TEST(ModelLoader, MadeModelsLoadAndInfer) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  for (const char* name : {"mlp-0", "mlp-1"}) {
    auto model = load_model(config_of(dir, name));
    ASSERT_TRUE(model.ok()) << model.error().message;
    const Model& m = **model;
    EXPECT_EQ(m.config().name, name);
    EXPECT_EQ(m.input_width(), 8);
    EXPECT_EQ(m.output_width(), 4);
    const std::vector<float> x(16, 0.5f);
    std::vector<float> y(8, NAN);
    m.infer(x.data(), 2, y.data());
    for (float v : y) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_LT(std::abs(v), 100.0f) << "activations should stay bounded";
    }
    EXPECT_EQ(y[0], y[4]) << "identical rows give identical outputs";
  }
}

TEST(ModelLoader, CorruptWeightsFailWithTheParseError) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  fs::resize_file(dir.path() / "mlp-1" / "model.safetensors", 100);
  const std::string error = load_error(dir, "mlp-1");
  EXPECT_THAT(error, StartsWith("mlp-1: weights file model.safetensors: header length "));
  EXPECT_THAT(error, HasSubstr("exceeds file size 100"));
  EXPECT_TRUE(load_model(config_of(dir, "mlp-0")).ok());  // fails alone
}

TEST(ModelLoader, ChecksumMismatchFailsTheLoad) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  const fs::path weights = dir.path() / "mlp-0" / "model.safetensors";
  std::string bytes = slurp(weights);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x01);  // still a valid file
  write_file(weights, bytes);
  const ModelConfig config = config_of(dir, "mlp-0");
  const std::string error = load_error(dir, "mlp-0");
  EXPECT_THAT(error, StartsWith("mlp-0: weights file model.safetensors: sha256 is "));
  EXPECT_THAT(error, EndsWith("model.toml expects " + config.sha256));
  // Without a digest in model.toml the same bytes load.
  ModelConfig unchecked = config;
  unchecked.sha256.clear();
  EXPECT_TRUE(load_model(unchecked).ok());
}

TEST(ModelLoader, MissingWeightsFailTheLoadAndTheSize) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  fs::remove(dir.path() / "mlp-0" / "model.safetensors");
  EXPECT_THAT(load_error(dir, "mlp-0"),
              HasSubstr("mlp-0: weights file model.safetensors: No such file"));
  auto size = weights_file_size(config_of(dir, "mlp-0"));
  ASSERT_FALSE(size.ok());
  EXPECT_THAT(size.error().message,
              HasSubstr("mlp-0: weights file model.safetensors: No such file"));
}

TEST(ModelLoader, WeightsFileSizeIsTheFilesBytes) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  auto size = weights_file_size(config_of(dir, "mlp-0"));
  ASSERT_TRUE(size.ok()) << size.error().message;
  EXPECT_EQ(*size, fs::file_size(dir.path() / "mlp-0" / "model.safetensors"));
}

TEST(ModelLoader, RejectsSymlinkedWeightsOutsideTheFolder) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  // mlp-1's weights become a symlink to mlp-0's: valid bytes, wrong place.
  const fs::path link = dir.path() / "mlp-1" / "model.safetensors";
  fs::remove(link);
  fs::create_symlink(dir.path() / "mlp-0" / "model.safetensors", link);
  const std::string error = load_error(dir, "mlp-1");
  EXPECT_THAT(error, StartsWith("mlp-1: weights file model.safetensors: resolves to "));
  EXPECT_THAT(error, EndsWith("outside the model folder"));
  auto size = weights_file_size(config_of(dir, "mlp-1"));
  ASSERT_FALSE(size.ok());
  EXPECT_THAT(size.error().message, HasSubstr("outside the model folder"));
  EXPECT_TRUE(load_model(config_of(dir, "mlp-0")).ok());
}

TEST(ModelLoader, CheckAbandonsTheLoadWithItsReason) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  int calls = 0;
  const std::string error = load_error(dir, "mlp-0", [&]() -> std::optional<std::string> {
    ++calls;
    return std::string("load timed out");
  });
  EXPECT_EQ(error, "mlp-0: weights file model.safetensors: load timed out");
  EXPECT_EQ(calls, 1);  // the first check stops it

  // A check that never objects is asked between every step.
  calls = 0;
  auto model = load_model(config_of(dir, "mlp-0"), [&]() -> std::optional<std::string> {
    ++calls;
    return std::nullopt;
  });
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ(calls, 4);  // one read chunk (a small file), before hashing, parsing and building
}

// A self-consistent weights file of 1 TiB (sparse: no disk), bigger than
// this machine's memory: refused from its size, before any allocation.
TEST(ModelLoader, WeightsFileLargerThanMemoryFailsFromItsSizeWithoutThrowing) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  test::write_sparse_safetensors(dir.path() / "mlp-0" / "model.safetensors", uint64_t{1} << 19,
                                 uint64_t{1} << 19);
  Result<std::shared_ptr<const Model>> m = make_error("not loaded");
  EXPECT_NO_THROW(m = load_model(config_of(dir, "mlp-0")));
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message,
              StartsWith("mlp-0: weights file model.safetensors: file is 109951162"));
  EXPECT_THAT(m.error().message, HasSubstr("bytes a model may take"));
  EXPECT_TRUE(load_model(config_of(dir, "mlp-1")).ok());
}

// `truncate -s 64G model.safetensors`: zeros, so its header length is 0.
TEST(ModelLoader, Sparse64GiBFileOfZerosFailsOnItsHeaderWithoutThrowing) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  const fs::path weights = dir.path() / "mlp-0" / "model.safetensors";
  fs::resize_file(weights, 0);
  fs::resize_file(weights, uint64_t{64} << 30);
  Result<std::shared_ptr<const Model>> m = make_error("not loaded");
  // A limit above the file's size: the header check alone refuses it.
  EXPECT_NO_THROW(m = load_model(config_of(dir, "mlp-0"), {}, uint64_t{1} << 40));
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message, HasSubstr("header is not a JSON object"));
}

TEST(ModelLoader, FileTruncatedWhileReadingFailsCleanly) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  const fs::path weights = dir.path() / "mlp-0" / "model.safetensors";
  const uint64_t size = fs::file_size(weights);
  bool cut = false;
  const std::string error = load_error(dir, "mlp-0", [&]() -> std::optional<std::string> {
    if (!cut) fs::resize_file(weights, size / 2);  // after the header was validated
    cut = true;
    return std::nullopt;
  });
  EXPECT_THAT(error, HasSubstr("shrank while reading"));
}

}  // namespace
}  // namespace servelab::models
