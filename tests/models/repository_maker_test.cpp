// make_repository(): the repositories `servelab models make` and the
// runner's embedded server use.

#include "models/repository_maker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "model_test_util.h"
#include "models/model_config.h"
#include "models/model_loader.h"
#include "models/sha256.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

namespace fs = std::filesystem;
using servelab::testing::TempDir;
using test::slurp;
using test::small_models;
using ::testing::HasSubstr;

TEST(MakeRepository, SameSeedWritesTheSameFiles) {
  TempDir a, b, c;
  ASSERT_TRUE(make_repository(a.str(), small_models()).ok());
  ASSERT_TRUE(make_repository(b.str(), small_models()).ok());
  MakeOptions other = small_models();
  other.seed = 8;
  ASSERT_TRUE(make_repository(c.str(), other).ok());
  for (const char* name : {"mlp-0", "mlp-1"}) {
    for (const char* file : {"model.toml", "model.safetensors"}) {
      const std::string bytes = slurp(a.path() / name / file);
      EXPECT_FALSE(bytes.empty());
      EXPECT_EQ(bytes, slurp(b.path() / name / file)) << name << "/" << file;
    }
    EXPECT_NE(slurp(a.path() / name / "model.safetensors"),
              slurp(c.path() / name / "model.safetensors"));
  }
  // Models of one repository differ from each other.
  EXPECT_NE(slurp(a.path() / "mlp-0" / "model.safetensors"),
            slurp(a.path() / "mlp-1" / "model.safetensors"));
  // Overwriting leaves no temp files behind.
  ASSERT_TRUE(make_repository(a.str(), small_models()).ok());
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(a.path()))
    files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 4u);
}

// The weights are a function of (seed, index) alone, on every build and
// standard library: these digests were written by an earlier build.
TEST(MakeRepository, WeightsForASeedNeverChange) {
  TempDir mlp, tokens;
  ASSERT_TRUE(make_repository(mlp.str(), small_models()).ok());
  MakeOptions t;
  t.count = 2;
  t.kind = "tokens";
  t.hidden = 16;
  t.seed = 3;
  t.prefix = "tokens";
  ASSERT_TRUE(make_repository(tokens.str(), t).ok());
  const auto digest = [](const fs::path& folder) {
    return sha256_hex(slurp(folder / "model.safetensors"));
  };
  EXPECT_EQ(digest(mlp.path() / "mlp-0"),
            "26e97593652ce5f7850d6293632579e60f221ddbaeb74955d813c729078d1b4e");
  EXPECT_EQ(digest(mlp.path() / "mlp-1"),
            "27d43f679f9558f7c1feeb2e4877f982ccfc782d3c31018576203d80c503e0be");
  EXPECT_EQ(digest(tokens.path() / "tokens-0"),
            "33c74f7bcae86a9e7bcc42b5d953908d5bd7a70e3c340e3e5d3cf0ea05004ad6");
  EXPECT_EQ(digest(tokens.path() / "tokens-1"),
            "f07357fe477cfe7798f85efcdc8699087ff8118b680b8f0717c15a174920c3de");
}

TEST(MakeRepository, ModelTomlCarriesTheWeightsDigest) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  auto c = read_model_config((dir.path() / "mlp-0").string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->kind, "mlp");
  EXPECT_EQ(c->weights, "model.safetensors");
  EXPECT_EQ(c->sha256, sha256_hex(slurp(dir.path() / "mlp-0" / "model.safetensors")));
  // No manager key unless asked for: the manager's defaults apply.
  EXPECT_EQ(c->preload, Preload::eager);
  EXPECT_EQ(c->priority, 0);
  EXPECT_TRUE(c->depends_on.empty());
}

TEST(MakeRepository, WritesTheManagerKeysItIsGiven) {
  TempDir repo;
  MakeOptions o = small_models();
  o.count = 1;
  o.prefix = "dep";
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  o.prefix = "top";
  o.preload = "lazy";
  o.priority = 7;
  o.depends_on = {"dep-0"};
  o.load_timeout = "2s";
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  auto c = read_model_config((repo.path() / "top-0").string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->preload, Preload::lazy);
  EXPECT_EQ(c->priority, 7);
  EXPECT_EQ(c->depends_on, std::vector<std::string>{"dep-0"});
  EXPECT_EQ(c->load_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c->sha256.size(), 64u);
  EXPECT_TRUE(load_model(*c).ok());
}

TEST(MakeRepository, RejectsBadOptionsBeforeWritingAnything) {
  TempDir repo;
  const auto error = [&](MakeOptions o) {
    auto s = make_repository((repo.path() / "r").string(), o);
    EXPECT_FALSE(s.ok());
    return s.ok() ? std::string() : s.error().message;
  };
  MakeOptions o = small_models();
  o.preload = "sometimes";
  EXPECT_THAT(error(o), HasSubstr("preload 'sometimes' is not one of eager, lazy, none"));
  o = small_models();
  o.count = -1;
  EXPECT_THAT(error(o), HasSubstr("model count -1 is negative"));
  o = small_models();
  o.dims = {8};
  EXPECT_THAT(error(o), HasSubstr("dims needs at least two widths"));
  o.dims = {8, 0};
  EXPECT_THAT(error(o), HasSubstr("dims: width 0 is not positive"));
  o = small_models();
  o.prefix = "../up";
  EXPECT_THAT(error(o), HasSubstr("prefix '../up' is not a valid folder name"));
  o = small_models();
  o.kind = "cnn";
  EXPECT_THAT(error(o), HasSubstr("kind 'cnn' is not one models make writes (mlp, tokens)"));
  o = small_models();
  o.kind = "tokens";
  o.hidden = 0;
  EXPECT_THAT(error(o), HasSubstr("hidden width 0 is not positive"));
  EXPECT_FALSE(fs::exists(repo.path() / "r"));
}

}  // namespace
}  // namespace servelab::models
