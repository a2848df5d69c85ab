#include "models/mlp_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

namespace servelab::models {
namespace {

using ::testing::HasSubstr;

struct Dense {
  int in = 0;
  int out = 0;
  std::vector<float> weight;  // [out, in] row-major
  std::vector<float> bias;    // [out]
};

std::vector<Dense> random_layers(const std::vector<int>& dims, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<Dense> layers;
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    Dense d{dims[l], dims[l + 1], {}, {}};
    const float scale = 1.0f / std::sqrt(static_cast<float>(d.in));
    d.weight.resize(static_cast<size_t>(d.in * d.out));
    for (float& v : d.weight) v = dist(gen) * scale;
    d.bias.resize(static_cast<size_t>(d.out));
    for (float& v : d.bias) v = dist(gen) * 0.1f;
    layers.push_back(std::move(d));
  }
  return layers;
}

Safetensors to_safetensors(const std::vector<Dense>& layers) {
  std::vector<F32Tensor> tensors;
  for (size_t l = 0; l < layers.size(); ++l) {
    tensors.push_back({"layers." + std::to_string(l) + ".weight",
                       {layers[l].out, layers[l].in},
                       layers[l].weight});
    tensors.push_back({"layers." + std::to_string(l) + ".bias", {layers[l].out}, layers[l].bias});
  }
  return std::move(Safetensors::parse(serialize_safetensors(tensors))).value();
}

std::shared_ptr<const MlpModel> make_model(const std::vector<Dense>& layers) {
  ModelConfig config;
  config.name = "m";
  config.kind = "mlp";
  auto m = MlpModel::create(config, to_safetensors(layers));
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? *m : nullptr;
}

// The textbook triple loop in double precision.
std::vector<float> reference_forward(const std::vector<Dense>& layers, std::vector<float> x,
                                     int rows) {
  for (size_t l = 0; l < layers.size(); ++l) {
    const Dense& d = layers[l];
    std::vector<float> y(static_cast<size_t>(rows * d.out));
    for (int r = 0; r < rows; ++r) {
      for (int o = 0; o < d.out; ++o) {
        double acc = d.bias[static_cast<size_t>(o)];
        for (int i = 0; i < d.in; ++i)
          acc += static_cast<double>(x[static_cast<size_t>(r * d.in + i)]) *
                 static_cast<double>(d.weight[static_cast<size_t>(o * d.in + i)]);
        if (l + 1 < layers.size()) acc = std::max(acc, 0.0);
        y[static_cast<size_t>(r * d.out + o)] = static_cast<float>(acc);
      }
    }
    x = std::move(y);
  }
  return x;
}

std::vector<float> random_input(int rows, int width, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * width));
  for (float& v : x) v = dist(gen);
  return x;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * std::max(1.0f, std::abs(want[i]))) << "element " << i;
}

TEST(MlpModel, ForwardPassMatchesNaiveReference) {
  const auto layers = random_layers({37, 64, 19, 11}, 1);
  const auto model = make_model(layers);
  ASSERT_NE(model, nullptr);
  const int rows = 5;
  const auto x = random_input(rows, 37, 2);
  std::vector<float> y(static_cast<size_t>(rows * 11));
  model->infer(x.data(), rows, y.data());
  expect_close(y, reference_forward(layers, x, rows), 1e-4f);
}

TEST(MlpModel, ReluBetweenLayersButNotAfterLast) {
  // in → hidden: h = -x; hidden → out: y = h - 1. With x = 2 the hidden value
  // -2 is clamped to 0, and the output -1 stays negative.
  const std::vector<Dense> layers{{1, 1, {-1.0f}, {0.0f}}, {1, 1, {1.0f}, {-1.0f}}};
  const auto model = make_model(layers);
  ASSERT_NE(model, nullptr);
  const float x = 2.0f;
  float y = 0.0f;
  model->infer(&x, 1, &y);
  EXPECT_FLOAT_EQ(y, -1.0f);
}

TEST(MlpModel, BatchedInferenceEqualsRowByRow) {
  const auto layers = random_layers({64, 128, 32}, 3);
  const auto model = make_model(layers);
  ASSERT_NE(model, nullptr);
  const int rows = 8;
  const auto x = random_input(rows, 64, 4);
  std::vector<float> batched(static_cast<size_t>(rows * 32));
  model->infer(x.data(), rows, batched.data());
  std::vector<float> single(batched.size());
  for (int r = 0; r < rows; ++r) model->infer(x.data() + r * 64, 1, single.data() + r * 32);
  expect_close(batched, single, 1e-5f);
}

TEST(MlpModel, ConcurrentInferenceFromTwoThreadsIsCorrect) {
  const auto layers = random_layers({16, 24, 8}, 5);
  const auto model = make_model(layers);
  ASSERT_NE(model, nullptr);
  const auto x = random_input(4, 16, 6);
  const auto want = reference_forward(layers, x, 4);
  std::vector<float> a(want.size()), b(want.size());
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) model->infer(x.data(), 4, a.data());
  });
  for (int i = 0; i < 50; ++i) model->infer(x.data(), 4, b.data());
  t.join();
  expect_close(a, want, 1e-4f);
  expect_close(b, want, 1e-4f);
}

TEST(MlpModel, DescribesItsSignatureAndSize) {
  const auto model = make_model(random_layers({10, 20, 3}, 7));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->input_width(), 10);
  EXPECT_EQ(model->output_width(), 3);
  EXPECT_EQ(model->layer_count(), 2u);
  ASSERT_EQ(model->inputs().size(), 1u);
  EXPECT_EQ(model->inputs()[0].name, "input");
  EXPECT_EQ(model->inputs()[0].datatype, "FP32");
  EXPECT_EQ(model->inputs()[0].shape, (std::vector<int64_t>{-1, 10}));
  ASSERT_EQ(model->outputs().size(), 1u);
  EXPECT_EQ(model->outputs()[0].name, "output");
  EXPECT_EQ(model->outputs()[0].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(model->memory_bytes(), (10u * 20u + 20u + 20u * 3u + 3u) * sizeof(float));
}

std::string create_error(const std::vector<F32Tensor>& tensors) {
  auto st = Safetensors::parse(serialize_safetensors(tensors));
  EXPECT_TRUE(st.ok()) << st.error().message;
  if (!st.ok()) return {};
  auto m = MlpModel::create(ModelConfig{}, *st);
  EXPECT_FALSE(m.ok());
  return m.ok() ? std::string() : m.error().message;
}

TEST(MlpModel, RejectsInconsistentShapesNamingTheTensor) {
  const std::vector<float> w6(6), w8(8), b2(2), b3(3);
  EXPECT_THAT(
      create_error({{"layers.0.weight", {2, 3}, w6},
                    {"layers.0.bias", {2}, b2},
                    {"layers.1.weight", {2, 4}, w8},
                    {"layers.1.bias", {2}, b2}}),
      HasSubstr("tensor 'layers.1.weight' has shape [2, 4]: its input width 4 does not match "
                "layer 0's output width 2"));
  EXPECT_THAT(create_error({{"layers.0.weight", {2, 3}, w6}, {"layers.0.bias", {3}, b3}}),
              HasSubstr("tensor 'layers.0.bias' has shape [3], expected [2]"));
  EXPECT_THAT(create_error({{"layers.0.weight", {2, 3}, w6}}),
              HasSubstr("missing tensor 'layers.0.bias'"));
  EXPECT_THAT(create_error({{"weights", {6}, w6}}), HasSubstr("missing tensor 'layers.0.weight'"));
  EXPECT_THAT(create_error({{"layers.0.weight", {6}, w6}, {"layers.0.bias", {2}, b2}}),
              HasSubstr("tensor 'layers.0.weight' has shape [6], expected 2 positive dimensions"));
  EXPECT_THAT(create_error({{"layers.0.weight", {2, 3}, w6},
                            {"layers.0.bias", {2}, b2},
                            {"layers.2.weight", {2, 3}, w6}}),
              HasSubstr("unexpected tensor 'layers.2.weight'"));
}

}  // namespace
}  // namespace servelab::models
