#pragma once
// Deterministic random numbers for the weights `servelab models make` writes
// (make_mlp_weights, make_token_weights) and for token sampling. Fixed
// algorithms: std::*_distribution differ between standard libraries, these
// give the same bytes everywhere for a given seed.

#include <cstdint>
#include <random>

namespace servelab::models {

// Output `index` (from 0) of the splitmix64 sequence (Vigna) that starts at
// `seed`: spreads consecutive seeds or indices into well-separated values.
constexpr uint64_t splitmix64(uint64_t seed, uint64_t index = 0) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [-a, a), from 24 bits of the generator's raw output.
inline float uniform_weight(std::mt19937_64& gen, float a) {
  const float u = static_cast<float>(gen() >> 40) * 0x1p-24f;  // [0, 1)
  return (2.0f * u - 1.0f) * a;
}

}  // namespace servelab::models
