// The `tokens` model kind: loading, stepping, sampling, the v2 view.

#include "models/token_model.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "models/model_loader.h"
#include "models/repository_maker.h"
#include "models/repository_scan.h"
#include "models/safetensors.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

std::shared_ptr<const TokenModel> make(int hidden, uint64_t seed, float end_bias = -6.0f) {
  auto tensors = make_token_weights(hidden, seed);
  for (auto& t : tensors)
    if (t.name == "output.bias") t.values[TokenModel::kEndToken] = end_bias;
  auto st = Safetensors::parse(serialize_safetensors(tensors));
  EXPECT_TRUE(st.ok());
  auto m = TokenModel::create({}, *st);
  EXPECT_TRUE(m.ok()) << (m ? "" : m.error().message);
  return *m;
}

std::string generate(const std::shared_ptr<const TokenModel>& m, std::string_view prompt,
                     float temperature, uint64_t seed, int n) {
  TokenGenerator g(m, prompt, temperature, seed);
  std::string out;
  for (int i = 0; i < n; ++i) {
    const uint8_t t = g.next();
    if (t == TokenModel::kEndToken) break;
    out += static_cast<char>(t);
  }
  return out;
}

TEST(TokenModel, LoadsMadeWeightsWithTheirHiddenWidth) {
  auto m = make(32, 1);
  EXPECT_EQ(m->hidden(), 32);
  EXPECT_EQ(m->input_width(), 1);
  EXPECT_EQ(m->output_width(), 256);
  EXPECT_EQ(m->memory_bytes(), (256 * 32 + 32 * 32 + 32 + 256 * 32 + 256) * sizeof(float));
}

TEST(TokenModel, RejectsAWrongShapeNamingTheTensor) {
  auto tensors = make_token_weights(16, 1);
  for (auto& t : tensors)
    if (t.name == "recurrent.weight") {
      t.shape = {16, 8};
      t.values.resize(128);
    }
  auto st = Safetensors::parse(serialize_safetensors(tensors));
  ASSERT_TRUE(st.ok());
  auto m = TokenModel::create({}, *st);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("recurrent.weight"), std::string::npos) << m.error().message;
}

TEST(TokenModel, RejectsAStrayTensor) {
  auto tensors = make_token_weights(8, 1);
  tensors.push_back({"extra", {1}, {0.0f}});
  auto st = Safetensors::parse(serialize_safetensors(tensors));
  auto m = TokenModel::create({}, *st);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("'extra'"), std::string::npos);
}

TEST(TokenModel, GreedyGenerationIsDeterministic) {
  auto m = make(64, 3);
  const std::string a = generate(m, "Hello", 0.0f, 1, 50);
  EXPECT_EQ(a.size(), 50u);
  EXPECT_EQ(a, generate(m, "Hello", 0.0f, 999, 50));  // greedy ignores the seed
}

TEST(TokenModel, SamplingIsDeterministicForASeedAndVariesAcrossSeeds) {
  auto m = make(64, 3);
  const std::string a = generate(m, "Hello", 1.0f, 7, 80);
  EXPECT_EQ(a, generate(m, "Hello", 1.0f, 7, 80));
  EXPECT_NE(a, generate(m, "Hello", 1.0f, 8, 80));
}

TEST(TokenModel, ThePromptChangesTheContinuation) {
  auto m = make(64, 3);
  EXPECT_NE(generate(m, "abc", 1.0f, 7, 40), generate(m, "xyz", 1.0f, 7, 40));
}

TEST(TokenModel, ProducesOnlyPrintableTextTokens) {
  auto m = make(32, 5);
  std::set<char> seen;
  for (const char c : generate(m, "", 2.0f, 11, 2000)) {
    EXPECT_TRUE(c == '\n' || (c >= 32 && c <= 126)) << static_cast<int>(c);
    seen.insert(c);
  }
  EXPECT_GT(seen.size(), 20u);  // temperature 2 spreads over many tokens
}

TEST(TokenModel, ALikelyEndTokenStopsTheCompletion) {
  auto m = make(16, 1, /*end_bias=*/100.0f);
  TokenGenerator g(m, "x", 0.0f, 1);
  EXPECT_EQ(g.next(), TokenModel::kEndToken);
  EXPECT_EQ(g.prompt_tokens(), 1);
}

TEST(TokenModel, APromptFedInChunksGivesTheSameTokensAsWhole) {
  auto m = make(32, 4);
  const std::string prompt = "Once upon a time, in a land far away";
  const std::string whole = generate(m, prompt, 1.0f, 7, 40);
  TokenGenerator g(m, 1.0f, 7);
  for (size_t at = 0; at < prompt.size(); at += 5) g.feed(std::string_view(prompt).substr(at, 5));
  EXPECT_EQ(g.prompt_tokens(), static_cast<int64_t>(prompt.size()));
  std::string chunked;
  for (int i = 0; i < 40; ++i) {
    const uint8_t t = g.next();
    if (t == TokenModel::kEndToken) break;
    chunked += static_cast<char>(t);
  }
  EXPECT_EQ(chunked, whole);
  // Nothing fed is the empty prompt, as with the whole-prompt constructor.
  TokenGenerator empty(m, 1.0f, 7);
  EXPECT_EQ(empty.next(), static_cast<uint8_t>(generate(m, "", 1.0f, 7, 1).at(0)));
  EXPECT_EQ(empty.prompt_tokens(), 1);
}

TEST(TokenModel, InferGivesTheLogitsOfOneStepFromTheZeroState) {
  auto m = make(32, 2);
  const std::vector<float> tokens = {65.0f, 10.0f, 200.0f};
  std::vector<float> out(3 * 256);
  m->infer(tokens.data(), 3, out.data());
  for (size_t r = 0; r < tokens.size(); ++r) {
    auto s = m->start(0);
    m->step(s, static_cast<uint8_t>(tokens[r]));
    for (size_t j = 0; j < 256; ++j)
      EXPECT_NEAR(out[r * 256 + j], s.logits[j], 1e-4f) << r << "," << j;
  }
}

TEST(TokenModel, MakeRepositoryWritesLoadableTokensModels) {
  testing::TempDir dir("tokens");
  MakeOptions o;
  o.kind = "tokens";
  o.prefix = "tokens";
  o.hidden = 24;
  o.count = 2;
  ASSERT_TRUE(make_repository(dir.str(), o).ok());
  auto entries = scan_repository(dir.str());
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  const ModelEntry& e = (*entries)[1];
  EXPECT_EQ(e.config.name, "tokens-1");
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.config.kind, "tokens");
  auto model = load_model(e.config);
  ASSERT_TRUE(model.ok()) << model.error().message;
  auto tm = std::dynamic_pointer_cast<const TokenModel>(*model);
  ASSERT_TRUE(tm);
  EXPECT_EQ(tm->hidden(), 24);
}

}  // namespace
}  // namespace servelab::models
