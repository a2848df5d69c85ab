#include "models/model_repository.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/atomic_file.h"
#include "models/mlp_model.h"
#include "models/safetensors.h"
#include "models/sha256.h"
#include "models/token_model.h"

namespace servelab::models {

namespace {

namespace fs = std::filesystem;

// True when `inner` is `outer` or below it; both canonical.
bool is_within(const fs::path& inner, const fs::path& outer) {
  const auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// The weights file, resolved through symlinks and confined to the model
// folder (model.toml's lexical check cannot see symlinks).
Result<fs::path> weights_path(const ModelConfig& c) {
  std::error_code ec;
  const fs::path dir = fs::canonical(c.dir, ec);
  if (ec) return make_error(fmt::format("model folder {}: {}", c.dir, ec.message()));
  const fs::path file = fs::canonical(dir / c.weights, ec);
  if (ec) return make_error(ec.message());
  if (!is_within(file, dir))
    return make_error(fmt::format("resolves to {}, outside the model folder", file.string()));
  if (!fs::is_regular_file(file, ec)) return make_error("not a regular file");
  return file;
}

Result<std::string> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error("read failed");
  return bytes;
}


// splitmix64: spreads (seed, index) into well-separated generator seeds.
uint64_t mix_seed(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [-a, a) from the raw engine output. std::*_distribution
// algorithms differ between standard libraries; this keeps the weight bytes
// identical everywhere for a given seed.
float uniform(std::mt19937_64& gen, float a) {
  const float u = static_cast<float>(gen() >> 40) * 0x1p-24f;  // [0, 1), 24 bits
  return (2.0f * u - 1.0f) * a;
}

std::vector<F32Tensor> make_mlp_weights(const std::vector<int>& dims, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<F32Tensor> tensors;
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    const int in = dims[l];
    const int out = dims[l + 1];
    // Variance 1/in (uniform on ±sqrt(3/in)) keeps each pre-activation's
    // variance near its input's, so activations stay bounded at any depth.
    const float a = std::sqrt(3.0f / static_cast<float>(in));
    F32Tensor w{fmt::format("layers.{}.weight", l), {out, in}, {}};
    w.values.resize(static_cast<size_t>(in) * static_cast<size_t>(out));
    for (float& v : w.values) v = uniform(gen, a);
    F32Tensor b{fmt::format("layers.{}.bias", l), {out}, {}};
    b.values.resize(static_cast<size_t>(out));
    for (float& v : b.values) v = uniform(gen, 0.1f);
    tensors.push_back(std::move(w));
    tensors.push_back(std::move(b));
  }
  return tensors;
}

}  // namespace

Result<std::shared_ptr<const Model>> load_model(const ModelConfig& config) {
  const auto fail = [&](std::string_view why) {
    return make_error(fmt::format("{}: weights file {}: {}", config.name, config.weights, why));
  };
  auto path = weights_path(config);
  if (!path) return fail(path.error().message);
  auto bytes = read_bytes(*path);
  if (!bytes) return fail(bytes.error().message);
  // Hash before parse() takes the bytes, report a parse error first: it
  // says more about a damaged file than a digest mismatch does.
  const std::string digest = config.sha256.empty() ? std::string() : sha256_hex(*bytes);
  auto st = Safetensors::parse(std::move(*bytes));
  if (!st) return fail(st.error().message);
  if (!config.sha256.empty() && digest != config.sha256)
    return fail(fmt::format("sha256 is {}, model.toml expects {}", digest, config.sha256));

  if (config.kind == "mlp") {
    auto m = MlpModel::create(config, *st);
    if (!m) return fail(m.error().message);
    return std::shared_ptr<const Model>(std::move(*m));
  }
  if (config.kind == "tokens") {
    auto m = TokenModel::create(config, *st);
    if (!m) return fail(m.error().message);
    return std::shared_ptr<const Model>(std::move(*m));
  }
  return make_error(fmt::format("{}: unknown kind '{}'", config.name, config.kind));
}

Result<ModelRepository> ModelRepository::open(const std::string& dir) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));
  if (!fs::is_directory(root, ec))
    return make_error(fmt::format("model repository {}: not a directory", dir));

  ModelRepository repo;
  repo.dir_ = root.string();
  fs::directory_iterator it(root, ec);
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path folder = it->path();
    const std::string name = folder.filename().string();
    // Hidden folders hold nothing of ours (editors, VCS, temp files).
    if (name.empty() || name.front() == '.' || !fs::is_directory(folder, ec) ||
        !fs::exists(folder / "model.toml", ec))
      continue;

    ModelEntry entry;
    entry.config.name = name;
    entry.config.dir = folder.string();
    const fs::path resolved = fs::canonical(folder, ec);
    if (ec || !is_within(resolved, root)) {
      entry.error = fmt::format("{}: model folder resolves outside the repository", name);
      repo.entries_.push_back(std::move(entry));
      continue;
    }
    auto config = read_model_config(folder.string());
    if (!config) {
      entry.error = config.error().message;
    } else {
      entry.config = std::move(*config);
      auto model = load_model(entry.config);
      if (model)
        entry.model = std::move(*model);
      else
        entry.error = model.error().message;
    }
    repo.entries_.push_back(std::move(entry));
  }
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));

  std::sort(repo.entries_.begin(), repo.entries_.end(),
            [](const ModelEntry& a, const ModelEntry& b) { return a.config.name < b.config.name; });
  return repo;
}

const ModelEntry* ModelRepository::find(std::string_view name) const {
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                                   [](const ModelEntry& e, std::string_view n) { return e.config.name < n; });
  return it != entries_.end() && it->config.name == name ? &*it : nullptr;
}

Status make_repository(const std::string& dir, const MakeOptions& options) {
  if (options.count < 0) return make_error(fmt::format("model count {} is negative", options.count));
  if (options.dims.size() < 2)
    return make_error("dims needs at least two widths (input and output)");
  for (const int d : options.dims)
    if (d <= 0) return make_error(fmt::format("dims: width {} is not positive", d));
  if (options.prefix.empty() || options.prefix.find('/') != std::string::npos ||
      options.prefix.front() == '.')
    return make_error(fmt::format("prefix '{}' is not a valid folder name", options.prefix));
  if (options.kind != "mlp" && options.kind != "tokens")
    return make_error(fmt::format("kind '{}' is not one models make writes (mlp, tokens)", options.kind));
  if (options.kind == "tokens" && options.hidden < 1)
    return make_error(fmt::format("hidden width {} is not positive", options.hidden));

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(fmt::format("cannot create {}: {}", dir, ec.message()));

  for (int i = 0; i < options.count; ++i) {
    const std::string name = fmt::format("{}-{}", options.prefix, i);
    const fs::path folder = fs::path(dir) / name;
    fs::create_directories(folder, ec);
    if (ec) return make_error(fmt::format("cannot create {}: {}", folder.string(), ec.message()));

    const uint64_t model_seed = mix_seed(options.seed, static_cast<uint64_t>(i));
    const std::string weights = serialize_safetensors(
        options.kind == "tokens" ? make_token_weights(options.hidden, model_seed)
                                 : make_mlp_weights(options.dims, model_seed),
        {{"generator", "servelab models make"},
         {"seed", std::to_string(options.seed)},
         {"index", std::to_string(i)}});
    if (auto s = write_file_atomically((folder / "model.safetensors").string(), weights); !s) return s;

    const toml::table table{{"name", name},
                            {"kind", options.kind},
                            {"weights", "model.safetensors"},
                            {"sha256", sha256_hex(weights)}};
    std::ostringstream text;
    text << "# Written by servelab models make (seed " << options.seed << ").\n" << table << "\n";
    if (auto s = write_file_atomically((folder / "model.toml").string(), text.str()); !s) return s;
  }
  return Ok{};
}

}  // namespace servelab::models
