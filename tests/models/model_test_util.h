#pragma once
// Files and small repositories for the tests of lib/models.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "models/repository_maker.h"
#include "support/temp_dir.h"

namespace servelab::models::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& p, std::string_view text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A sparse safetensors file at `p` whose valid header declares one F32
// tensor "layers.0.weight" of shape [rows, cols], its data section a hole:
// a huge, self-consistent weights file that costs no disk.
inline void write_sparse_safetensors(const std::filesystem::path& p, uint64_t rows, uint64_t cols) {
  const uint64_t bytes = rows * cols * 4;
  std::string header = R"({"layers.0.weight":{"dtype":"F32","shape":[)" + std::to_string(rows) +
                       "," + std::to_string(cols) + R"(],"data_offsets":[0,)" +
                       std::to_string(bytes) + "]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t n = header.size();
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
  }
  std::filesystem::resize_file(p, 8 + n + bytes);
}

// A model folder `name` under `root` with this model.toml text (no weights).
inline std::filesystem::path model_folder(const servelab::testing::TempDir& root,
                                          const std::string& name, std::string_view toml) {
  const std::filesystem::path dir = root.path() / name;
  write_file(dir / "model.toml", toml);
  return dir;
}

// Two small mlp models, mlp-0 and mlp-1: 8 inputs, 16 hidden, 4 outputs.
inline MakeOptions small_models() {
  MakeOptions o;
  o.count = 2;
  o.dims = {8, 16, 4};
  o.seed = 7;
  o.prefix = "mlp";
  return o;
}

}  // namespace servelab::models::test
