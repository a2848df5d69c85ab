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

// Reads in chunks so that `check` can abandon a long read of a big file.
Result<std::string> read_bytes(const fs::path& path, const LoadCheck& check) {
  constexpr size_t kChunk = size_t{4} << 20;  // bytes between two checks
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open");
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return make_error(ec.message());
  std::string bytes(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    if (check) {
      if (auto why = check()) return make_error(*why);
    }
    const size_t n = std::min(kChunk, bytes.size() - done);
    in.read(bytes.data() + done, static_cast<std::streamsize>(n));
    if (static_cast<size_t>(in.gcount()) != n) return make_error("read failed (file shrank while reading?)");
    done += n;
  }
  if (in.peek() != std::char_traits<char>::eof()) return make_error("file grew while reading");
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

// The model manager's keys of MakeOptions, when set.
void add_manager_keys(toml::table& table, const MakeOptions& o) {
  if (!o.preload.empty()) table.insert("preload", o.preload);
  if (o.priority) table.insert("priority", *o.priority);
  if (!o.depends_on.empty()) {
    toml::array deps;
    for (const std::string& d : o.depends_on) deps.push_back(d);
    table.insert("depends_on", std::move(deps));
  }
  if (!o.load_timeout.empty()) table.insert("load_timeout", o.load_timeout);
}

}  // namespace

Result<std::shared_ptr<const Model>> load_model(const ModelConfig& config, const LoadCheck& check) {
  const auto fail = [&](std::string_view why) {
    return make_error(fmt::format("{}: weights file {}: {}", config.name, config.weights, why));
  };
  const auto stop = [&]() -> std::optional<std::string> { return check ? check() : std::nullopt; };
  auto path = weights_path(config);
  if (!path) return fail(path.error().message);
  auto bytes = read_bytes(*path, check);
  if (!bytes) return fail(bytes.error().message);
  if (auto why = stop()) return fail(*why);
  // Hash before parse() takes the bytes, report a parse error first: it
  // says more about a damaged file than a digest mismatch does.
  const std::string digest = config.sha256.empty() ? std::string() : sha256_hex(*bytes);
  if (auto why = stop()) return fail(*why);
  auto st = Safetensors::parse(std::move(*bytes));
  if (!st) return fail(st.error().message);
  if (!config.sha256.empty() && digest != config.sha256)
    return fail(fmt::format("sha256 is {}, model.toml expects {}", digest, config.sha256));
  if (auto why = stop()) return fail(*why);

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

Result<std::vector<ModelEntry>> scan_repository(const std::string& dir) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));
  if (!fs::is_directory(root, ec))
    return make_error(fmt::format("model repository {}: not a directory", dir));

  std::vector<ModelEntry> entries;
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
      entries.push_back(std::move(entry));
      continue;
    }
    auto config = read_model_config(folder.string());
    if (!config)
      entry.error = config.error().message;
    else
      entry.config = std::move(*config);
    entries.push_back(std::move(entry));
  }
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));

  std::sort(entries.begin(), entries.end(),
            [](const ModelEntry& a, const ModelEntry& b) { return a.config.name < b.config.name; });
  if (auto s = check_dependencies(entries); !s) return std::move(s).error();
  return entries;
}

Status check_dependencies(const std::vector<ModelEntry>& entries) {
  const auto index_of = [&](std::string_view name) -> int {
    const auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                     [](const ModelEntry& e, std::string_view n) { return e.config.name < n; });
    return it != entries.end() && it->config.name == name ? static_cast<int>(it - entries.begin()) : -1;
  };
  for (const ModelEntry& e : entries)
    for (const std::string& dep : e.config.depends_on)
      if (index_of(dep) < 0)
        return make_error(fmt::format("{}/model.toml: depends_on names unknown model '{}'", e.config.dir, dep));

  // Depth-first search with colours; the grey path is the stack, so a back
  // edge closes a cycle whose path is the stack from that model on.
  enum Colour : uint8_t { white, grey, black };
  std::vector<Colour> colour(entries.size(), white);
  std::vector<int> path;
  std::vector<size_t> next;  // per stack frame: index of the next dependency to visit
  for (size_t start = 0; start < entries.size(); ++start) {
    if (colour[start] != white) continue;
    path.assign(1, static_cast<int>(start));
    next.assign(1, 0);
    colour[start] = grey;
    while (!path.empty()) {
      const auto node = static_cast<size_t>(path.back());
      const auto& deps = entries[node].config.depends_on;
      if (next.back() == deps.size()) {
        colour[node] = black;
        path.pop_back();
        next.pop_back();
        continue;
      }
      const int d = index_of(deps[next.back()++]);
      const auto du = static_cast<size_t>(d);
      if (colour[du] == grey) {
        std::vector<std::string> names;
        const auto from = std::find(path.begin(), path.end(), d);
        for (auto p = from; p != path.end(); ++p) names.push_back(entries[static_cast<size_t>(*p)].config.name);
        names.push_back(entries[du].config.name);
        return make_error(fmt::format("dependency cycle in model repository: {}", fmt::join(names, " -> ")));
      }
      if (colour[du] == white) {
        colour[du] = grey;
        path.push_back(d);
        next.push_back(0);
      }
    }
  }
  return Ok{};
}

Result<uint64_t> weights_file_size(const ModelConfig& config) {
  auto path = weights_path(config);
  if (!path) return make_error(fmt::format("{}: weights file {}: {}", config.name, config.weights, path.error().message));
  std::error_code ec;
  const uintmax_t size = fs::file_size(*path, ec);
  if (ec) return make_error(fmt::format("{}: weights file {}: {}", config.name, config.weights, ec.message()));
  return static_cast<uint64_t>(size);
}

Result<ModelRepository> ModelRepository::open(const std::string& dir) {
  auto entries = scan_repository(dir);
  if (!entries) return std::move(entries).error();
  ModelRepository repo;
  std::error_code ec;
  repo.dir_ = fs::canonical(dir, ec).string();
  repo.entries_ = std::move(*entries);
  for (ModelEntry& entry : repo.entries_) {
    if (!entry.error.empty()) continue;
    auto model = load_model(entry.config);
    if (model)
      entry.model = std::move(*model);
    else
      entry.error = model.error().message;
  }
  return repo;
}

const ModelEntry* ModelRepository::find(std::string_view name) const {
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                                   [](const ModelEntry& e, std::string_view n) { return e.config.name < n; });
  return it != entries_.end() && it->config.name == name ? &*it : nullptr;
}

Status make_repository(const std::string& dir, const MakeOptions& options) {
  if (!options.preload.empty() && options.preload != "eager" && options.preload != "lazy" && options.preload != "none")
    return make_error(fmt::format("preload '{}' is not one of eager, lazy, none", options.preload));
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

    toml::table table{{"name", name},
                      {"kind", options.kind},
                      {"weights", "model.safetensors"},
                      {"sha256", sha256_hex(weights)}};
    add_manager_keys(table, options);
    std::ostringstream text;
    text << "# Written by servelab models make (seed " << options.seed << ").\n" << table << "\n";
    if (auto s = write_file_atomically((folder / "model.toml").string(), text.str()); !s) return s;
  }
  return Ok{};
}

}  // namespace servelab::models
