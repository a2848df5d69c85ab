// scan_repository(): what ModelManager::open() reads of a repository before
// any weights.

#include "models/repository_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "model_test_util.h"
#include "models/repository_maker.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

namespace fs = std::filesystem;
using servelab::testing::TempDir;
using test::model_folder;
using test::small_models;
using test::write_file;
using ::testing::HasSubstr;

TEST(RepositoryScan, ReadsEveryModelTomlSortedByName) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  auto entries = scan_repository(dir.str());
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const ModelEntry& e = (*entries)[i];
    EXPECT_EQ(e.config.name, "mlp-" + std::to_string(i));
    EXPECT_EQ(e.error, "");
    EXPECT_EQ(e.config.kind, "mlp");
    EXPECT_EQ(e.config.sha256.size(), 64u);
    EXPECT_EQ(e.config.dir, (fs::canonical(dir.path()) / e.config.name).string());
  }
}

TEST(RepositoryScan, ReadsNoWeights) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  fs::remove(dir.path() / "mlp-0" / "model.safetensors");
  fs::resize_file(dir.path() / "mlp-1" / "model.safetensors",
                  12);  // corrupt: only a load would see it
  auto entries = scan_repository(dir.str());
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  for (const ModelEntry& e : *entries) EXPECT_EQ(e.error, "") << e.config.name;
}

TEST(RepositoryScan, BadModelTomlIsThatEntrysErrorAndOtherFoldersAreSkipped) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), small_models()).ok());
  model_folder(dir, "broken", "name = \"broken\"\nkind = \"mlp\"\ncolour = \"red\"\n");
  write_file(dir.path() / "notes" / "README", "not a model");  // no model.toml: skipped
  model_folder(dir, ".hidden", "garbage = = =");               // hidden: skipped
  write_file(dir.path() / "model.toml",
             "kind = \"mlp\"\n");  // a file at the top: not a model folder
  auto entries = scan_repository(dir.str());
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 3u);
  const ModelEntry& broken = (*entries)[0];  // sorted by name
  EXPECT_EQ(broken.config.name, "broken");
  EXPECT_EQ(broken.config.dir, (fs::canonical(dir.path()) / "broken").string());
  EXPECT_THAT(broken.error,
              HasSubstr("broken/model.toml:3:1: unknown key \"colour\" at the top level"));
  EXPECT_EQ((*entries)[1].error, "");
  EXPECT_EQ((*entries)[2].error, "");
}

TEST(RepositoryScan, ModelFolderLinkedFromOutsideIsThatEntrysError) {
  TempDir dir, elsewhere;
  ASSERT_TRUE(make_repository(elsewhere.str(), small_models()).ok());
  fs::create_directory_symlink(elsewhere.path() / "mlp-0", dir.path() / "mlp-0");
  auto entries = scan_repository(dir.str());
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].error, "mlp-0: model folder resolves outside the repository");
}

TEST(RepositoryScan, FailsOnlyForAnUnreadableDirectory) {
  auto entries = scan_repository("/nonexistent/servelab/models");
  ASSERT_FALSE(entries.ok());
  EXPECT_THAT(entries.error().message, HasSubstr("model repository /nonexistent/servelab/models"));
  TempDir dir;
  write_file(dir.path() / "file", "x");
  auto file = scan_repository((dir.path() / "file").string());
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.error().message, HasSubstr("not a directory"));
  auto empty = scan_repository(dir.str());
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->empty());
}

TEST(RepositoryScan, RejectsADependencyCycleWithItsPath) {
  TempDir repo;
  MakeOptions o = small_models();
  o.count = 1;
  o.prefix = "a";
  o.depends_on = {"b-0"};
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  o.prefix = "b";
  o.depends_on = {"a-0"};
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  auto scanned = scan_repository(repo.str());
  ASSERT_FALSE(scanned.ok());
  EXPECT_THAT(scanned.error().message,
              HasSubstr("dependency cycle in model repository: a-0 -> b-0 -> a-0"));
}

TEST(RepositoryScan, RejectsADependencyOnAnUnknownModel) {
  TempDir repo;
  MakeOptions o = small_models();
  o.count = 1;
  o.depends_on = {"ghost"};
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  auto scanned = scan_repository(repo.str());
  ASSERT_FALSE(scanned.ok());
  EXPECT_THAT(scanned.error().message,
              HasSubstr("mlp-0/model.toml: depends_on names unknown model 'ghost'"));
}

}  // namespace
}  // namespace servelab::models
