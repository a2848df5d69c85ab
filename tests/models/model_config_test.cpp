#include "models/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "model_test_util.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

namespace fs = std::filesystem;
using servelab::testing::TempDir;
using test::model_folder;
using ::testing::HasSubstr;

std::string config_error(const fs::path& dir) {
  auto c = read_model_config(dir.string());
  EXPECT_FALSE(c.ok());
  return c.ok() ? std::string() : c.error().message;
}

TEST(ModelConfig, ReadsEveryKey) {
  TempDir dir;
  const auto folder = model_folder(dir, "m1", R"(
name = "m1"
kind = "mlp"
weights = "./weights/w.safetensors"
sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
depends_on = ["base", "tok"]
priority = 5
preload = "lazy"
load_timeout = "1m30s"
)");
  auto c = read_model_config(folder.string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "m1");
  EXPECT_EQ(c->kind, "mlp");
  EXPECT_EQ(c->weights, "./weights/w.safetensors");
  EXPECT_EQ(c->sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_EQ(c->depends_on, (std::vector<std::string>{"base", "tok"}));
  EXPECT_EQ(c->priority, 5);
  EXPECT_EQ(c->preload, Preload::lazy);
  EXPECT_EQ(c->load_timeout, std::chrono::seconds(90));
  EXPECT_EQ(c->dir, fs::canonical(folder).string());
}

TEST(ModelConfig, DefaultsApplyToUnsetKeys) {
  TempDir dir;
  auto c = read_model_config(model_folder(dir, "m", "kind = \"tokens\"\n").string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->weights, "model.safetensors");
  EXPECT_EQ(c->sha256, "");
  EXPECT_TRUE(c->depends_on.empty());
  EXPECT_EQ(c->priority, 0);
  EXPECT_EQ(c->preload, Preload::eager);
  EXPECT_EQ(c->load_timeout, std::chrono::seconds(30));
}

TEST(ModelConfig, NameDefaultsToFolderAndMustMatchIt) {
  TempDir dir;
  auto c = read_model_config(model_folder(dir, "m2", "kind = \"mlp\"\n").string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "m2");
  EXPECT_THAT(
      config_error(model_folder(dir, "m3", "kind = \"mlp\"\nname = \"other\"\n")),
      HasSubstr(R"(m3/model.toml:2:8: name: expected the model folder's name "m3", got "other")"));
}

TEST(ModelConfig, RejectsWeightsPathsThatEscapeTheFolder) {
  TempDir dir;
  EXPECT_THAT(
      config_error(
          model_folder(dir, "a", "kind = \"mlp\"\nweights = \"../b/model.safetensors\"\n")),
      HasSubstr(
          "a/model.toml:2:11: weights: expected a file path relative to the model folder that "
          "stays inside it, got \"../b/model.safetensors\""));
  EXPECT_THAT(
      config_error(model_folder(dir, "b", "kind = \"mlp\"\nweights = \"sub/../../x\"\n")),
      HasSubstr("weights: expected a file path relative to the model folder that stays inside it, "
                "got \"sub/../../x\""));
  EXPECT_THAT(
      config_error(model_folder(dir, "c", "kind = \"mlp\"\nweights = \"/etc/passwd\"\n")),
      HasSubstr("weights: expected a file path relative to the model folder that stays inside it, "
                "got \"/etc/passwd\""));
}

TEST(ModelConfig, ReportsBadValuesWithLocation) {
  TempDir dir;
  EXPECT_THAT(
      config_error(model_folder(dir, "p", "kind = \"mlp\"\npreload = \"sometimes\"\n")),
      HasSubstr(
          R"(p/model.toml:2:11: preload: expected one of "eager", "lazy", "none", got "sometimes")"));
  EXPECT_THAT(config_error(model_folder(dir, "k", "kind = \"cnn\"\n")),
              HasSubstr(R"(k/model.toml:1:8: kind: expected one of "mlp", "tokens", got "cnn")"));
  EXPECT_THAT(config_error(model_folder(dir, "i", "kind = \"mlp\"\npriority = \"high\"\n")),
              HasSubstr(R"(i/model.toml:2:12: priority: expected an integer, got string "high")"));
  EXPECT_THAT(config_error(model_folder(dir, "t", "kind = \"mlp\"\nload_timeout = \"soon\"\n")),
              HasSubstr("t/model.toml:2:16: load_timeout: "));
  EXPECT_THAT(config_error(model_folder(dir, "s", "kind = \"mlp\"\nsha256 = \"abc\"\n")),
              HasSubstr(R"(s/model.toml:2:10: sha256: expected 64 hexadecimal digits, got "abc")"));
  EXPECT_THAT(config_error(model_folder(dir, "x", "kind = \"mlp\"\nname = \n")),
              HasSubstr("x/model.toml:2:"));
  EXPECT_THAT(
      config_error(model_folder(dir, "n", "name = \"n\"\n")),
      HasSubstr(
          R"(n/model.toml:1:1: kind: missing required key; expected one of "mlp", "tokens")"));
}

TEST(ModelConfig, RejectsAnUnknownKeyListingTheValidOnes) {
  TempDir dir;
  const std::string error =
      config_error(model_folder(dir, "u", "kind = \"mlp\"\ncolour = \"red\"\n"));
  EXPECT_THAT(
      error,
      HasSubstr(
          "u/model.toml:2:1: unknown key \"colour\" at the top level; valid keys: name, kind, "
          "weights, sha256, depends_on, priority, preload, load_timeout, batching"));
}

// A key that promises a limit the server does not enforce is refused by
// name (docs/MODELS.md, "model.toml keys"), not silently accepted.
TEST(ModelConfig, RejectsMaxConcurrencyNamingWhatToDo) {
  TempDir dir;
  EXPECT_THAT(
      config_error(model_folder(dir, "c", "kind = \"mlp\"\nmax_concurrency = 4\n")),
      HasSubstr("c/model.toml:2:19: max_concurrency: is not supported: the server has no per-model "
                "request limit (remove the key)"));
}

// The text entry point (what the model.toml fuzz target calls) reads the
// same keys and names the given source in its errors.
TEST(ModelConfig, ParsesTextNamingTheGivenSource) {
  auto c = parse_model_config("kind = \"tokens\"\npriority = 3\n", "/r/tok/model.toml", "/r/tok");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "tok");
  EXPECT_EQ(c->kind, "tokens");
  EXPECT_EQ(c->priority, 3);
  EXPECT_EQ(c->dir, "/r/tok");
  auto bad = parse_model_config("kind = \"mlp\"\npriority = \"x\"\n", "/r/m/model.toml", "/r/m");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("/r/m/model.toml:2:"));
  auto syntax = parse_model_config("kind = = 1", "/r/m/model.toml", "/r/m");
  ASSERT_FALSE(syntax.ok());
  EXPECT_THAT(syntax.error().message, HasSubstr("/r/m/model.toml:1:"));
}

TEST(ModelConfig, MissingFileNamesIt) {
  TempDir dir;
  fs::create_directories(dir.path() / "empty");
  EXPECT_THAT(config_error(dir.path() / "empty"), HasSubstr("model.toml: cannot open"));
}

}  // namespace
}  // namespace servelab::models
