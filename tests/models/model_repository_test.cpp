#include "models/model_repository.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace servelab::models {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using servelab::testing::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, std::string_view text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A model folder `name` under `root` with this model.toml text.
fs::path model_folder(const TempDir& root, const std::string& name, std::string_view toml) {
  const fs::path dir = root.path() / name;
  write(dir / "model.toml", toml);
  return dir;
}

std::string config_error(const fs::path& dir) {
  auto c = read_model_config(dir.string());
  EXPECT_FALSE(c.ok());
  return c.ok() ? std::string() : c.error().message;
}

const MakeOptions kSmall = [] {
  MakeOptions o;
  o.count = 2;
  o.dims = {8, 16, 4};
  o.seed = 7;
  o.prefix = "mlp";
  return o;
}();

TEST(ModelRepository, MakeRepositoryIsDeterministicFromSeed) {
  TempDir a, b, c;
  ASSERT_TRUE(make_repository(a.str(), kSmall).ok());
  ASSERT_TRUE(make_repository(b.str(), kSmall).ok());
  MakeOptions other = kSmall;
  other.seed = 8;
  ASSERT_TRUE(make_repository(c.str(), other).ok());
  for (const char* name : {"mlp-0", "mlp-1"}) {
    for (const char* file : {"model.toml", "model.safetensors"}) {
      const std::string bytes = slurp(a.path() / name / file);
      EXPECT_FALSE(bytes.empty());
      EXPECT_EQ(bytes, slurp(b.path() / name / file)) << name << "/" << file;
    }
    EXPECT_NE(slurp(a.path() / name / "model.safetensors"), slurp(c.path() / name / "model.safetensors"));
  }
  // Models of one repository differ from each other.
  EXPECT_NE(slurp(a.path() / "mlp-0" / "model.safetensors"), slurp(a.path() / "mlp-1" / "model.safetensors"));
  // Overwriting leaves no temp files behind.
  ASSERT_TRUE(make_repository(a.str(), kSmall).ok());
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(a.path())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 4u);
}

TEST(ModelRepository, MadeModelsOpenAndInfer) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), kSmall).ok());
  auto repo = ModelRepository::open(dir.str());
  ASSERT_TRUE(repo.ok()) << repo.error().message;
  ASSERT_EQ(repo->entries().size(), 2u);
  for (const char* name : {"mlp-0", "mlp-1"}) {
    const ModelEntry* e = repo->find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->error, "");
    ASSERT_NE(e->model, nullptr);
    EXPECT_EQ(e->config.kind, "mlp");
    EXPECT_EQ(e->config.sha256.size(), 64u);
    EXPECT_EQ(e->model->input_width(), 8);
    EXPECT_EQ(e->model->output_width(), 4);
    const std::vector<float> x(16, 0.5f);
    std::vector<float> y(8, NAN);
    e->model->infer(x.data(), 2, y.data());
    for (float v : y) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_LT(std::abs(v), 100.0f) << "activations should stay bounded";
    }
    EXPECT_EQ(y[0], y[4]) << "identical rows give identical outputs";
  }
  EXPECT_EQ(repo->find("mlp-9"), nullptr);
}

TEST(ModelRepository, CorruptModelFailsAloneWithClearError) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), kSmall).ok());
  fs::resize_file(dir.path() / "mlp-1" / "model.safetensors", 100);
  auto repo = ModelRepository::open(dir.str());
  ASSERT_TRUE(repo.ok()) << repo.error().message;
  const ModelEntry* bad = repo->find("mlp-1");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->model, nullptr);
  EXPECT_THAT(bad->error, HasSubstr("mlp-1: weights file model.safetensors: header length "));
  EXPECT_THAT(bad->error, HasSubstr("exceeds file size 100"));
  const ModelEntry* good = repo->find("mlp-0");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->error, "");
  EXPECT_NE(good->model, nullptr);
}

TEST(ModelRepository, ChecksumMismatchFailsTheLoad) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), kSmall).ok());
  const fs::path weights = dir.path() / "mlp-0" / "model.safetensors";
  std::string bytes = slurp(weights);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x01);  // still a valid file
  write(weights, bytes);
  auto repo = ModelRepository::open(dir.str());
  ASSERT_TRUE(repo.ok());
  EXPECT_THAT(repo->find("mlp-0")->error, HasSubstr("mlp-0: weights file model.safetensors: sha256 is "));
  EXPECT_THAT(repo->find("mlp-0")->error, HasSubstr("model.toml expects"));
  EXPECT_EQ(repo->find("mlp-1")->error, "");
}

TEST(ModelRepository, MissingWeightsAndBadConfigBecomeEntryErrors) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), kSmall).ok());
  fs::remove(dir.path() / "mlp-0" / "model.safetensors");
  model_folder(dir, "broken", "name = \"broken\"\nkind = \"mlp\"\ncolour = \"red\"\n");
  write(dir.path() / "notes" / "README", "not a model");      // no model.toml: skipped
  model_folder(dir, ".hidden", "garbage = = =");              // hidden: skipped
  auto repo = ModelRepository::open(dir.str());
  ASSERT_TRUE(repo.ok()) << repo.error().message;
  ASSERT_EQ(repo->entries().size(), 3u);
  EXPECT_EQ(repo->entries()[0].config.name, "broken");  // sorted by name
  EXPECT_THAT(repo->find("broken")->error, HasSubstr("model.toml:3:1: unknown key \"colour\" at the top level"));
  EXPECT_THAT(repo->find("mlp-0")->error, HasSubstr("mlp-0: weights file model.safetensors: No such file"));
  EXPECT_EQ(repo->find("mlp-1")->error, "");
}

TEST(ModelRepository, OpenFailsOnlyForUnreadableDirectory) {
  auto repo = ModelRepository::open("/nonexistent/servelab/models");
  ASSERT_FALSE(repo.ok());
  EXPECT_THAT(repo.error().message, HasSubstr("model repository /nonexistent/servelab/models"));
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
max_concurrency = 4
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
  EXPECT_EQ(c->max_concurrency, 4);
  EXPECT_EQ(c->load_timeout, std::chrono::seconds(90));
  EXPECT_EQ(c->dir, fs::canonical(folder).string());
}

TEST(ModelConfig, NameDefaultsToFolderAndMustMatchIt) {
  TempDir dir;
  auto c = read_model_config(model_folder(dir, "m2", "kind = \"mlp\"\n").string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "m2");
  EXPECT_THAT(config_error(model_folder(dir, "m3", "kind = \"mlp\"\nname = \"other\"\n")),
              HasSubstr("m3/model.toml:2:8: name: expected the model folder's name \"m3\", got \"other\""));
}

TEST(ModelConfig, RejectsWeightsPathsThatEscapeTheFolder) {
  TempDir dir;
  EXPECT_THAT(config_error(model_folder(dir, "a", "kind = \"mlp\"\nweights = \"../b/model.safetensors\"\n")),
              HasSubstr("a/model.toml:2:11: weights: expected a file path relative to the model folder that "
                        "stays inside it, got \"../b/model.safetensors\""));
  EXPECT_THAT(config_error(model_folder(dir, "b", "kind = \"mlp\"\nweights = \"sub/../../x\"\n")),
              HasSubstr("weights: expected a file path relative to the model folder that stays inside it, "
                        "got \"sub/../../x\""));
  EXPECT_THAT(config_error(model_folder(dir, "c", "kind = \"mlp\"\nweights = \"/etc/passwd\"\n")),
              HasSubstr("weights: expected a file path relative to the model folder that stays inside it, "
                        "got \"/etc/passwd\""));
}

TEST(ModelConfig, RejectsSymlinkedWeightsOutsideTheFolder) {
  TempDir dir;
  ASSERT_TRUE(make_repository(dir.str(), kSmall).ok());
  // mlp-1's weights become a symlink to mlp-0's: valid bytes, wrong place.
  const fs::path link = dir.path() / "mlp-1" / "model.safetensors";
  fs::remove(link);
  fs::create_symlink(dir.path() / "mlp-0" / "model.safetensors", link);
  auto repo = ModelRepository::open(dir.str());
  ASSERT_TRUE(repo.ok());
  EXPECT_THAT(repo->find("mlp-1")->error, HasSubstr("mlp-1: weights file model.safetensors: resolves to "));
  EXPECT_THAT(repo->find("mlp-1")->error, HasSubstr("outside the model folder"));
  EXPECT_EQ(repo->find("mlp-0")->error, "");
}

TEST(ModelConfig, ReportsBadValuesWithLocation) {
  TempDir dir;
  EXPECT_THAT(config_error(model_folder(dir, "p", "kind = \"mlp\"\npreload = \"sometimes\"\n")),
              HasSubstr(R"(p/model.toml:2:11: preload: expected one of "eager", "lazy", "none", got "sometimes")"));
  EXPECT_THAT(config_error(model_folder(dir, "k", "kind = \"cnn\"\n")),
              HasSubstr(R"(k/model.toml:1:8: kind: expected one of "mlp", "tokens", got "cnn")"));
  EXPECT_THAT(config_error(model_folder(dir, "i", "kind = \"mlp\"\npriority = \"high\"\n")),
              HasSubstr(R"(i/model.toml:2:12: priority: expected an integer, got string "high")"));
  EXPECT_THAT(config_error(model_folder(dir, "t", "kind = \"mlp\"\nload_timeout = \"soon\"\n")),
              HasSubstr("t/model.toml:2:16: load_timeout: "));
  EXPECT_THAT(config_error(model_folder(dir, "s", "kind = \"mlp\"\nsha256 = \"abc\"\n")),
              HasSubstr(R"(s/model.toml:2:10: sha256: expected 64 hexadecimal digits, got "abc")"));
  EXPECT_THAT(config_error(model_folder(dir, "x", "kind = \"mlp\"\nname = \n")), HasSubstr("x/model.toml:2:"));
  EXPECT_THAT(config_error(model_folder(dir, "n", "name = \"n\"\n")),
              HasSubstr(R"(n/model.toml:1:1: kind: missing required key; expected one of "mlp", "tokens")"));
}

TEST(ModelRepository, MakeWritesTheManagerKeysItIsGiven) {
  TempDir repo;
  MakeOptions o = kSmall;
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
  auto opened = ModelRepository::open(repo.str());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_NE(opened->find("top-0")->model, nullptr);

  o.preload = "sometimes";
  auto bad = make_repository(repo.str(), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("preload 'sometimes'"));
}

TEST(ModelRepository, OpenRejectsADependencyCycle) {
  TempDir repo;
  MakeOptions o = kSmall;
  o.count = 1;
  o.prefix = "a";
  o.depends_on = {"b-0"};
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  o.prefix = "b";
  o.depends_on = {"a-0"};
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
  auto opened = ModelRepository::open(repo.str());
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.error().message, HasSubstr("dependency cycle in model repository: a-0 -> b-0 -> a-0"));
}

}  // namespace
}  // namespace servelab::models
