#include "models/model_loader.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "models/mlp_model.h"
#include "models/path_within.h"
#include "models/safetensors.h"
#include "models/sha256.h"
#include "models/token_model.h"

namespace servelab::models {

namespace {

namespace fs = std::filesystem;

// The weights file, resolved through symlinks and confined to the model
// folder (model.toml's lexical check cannot see symlinks).
Result<fs::path> weights_path(const ModelConfig& c) {
  std::error_code ec;
  const fs::path dir = fs::canonical(c.dir, ec);
  if (ec) return make_error(fmt::format("model folder {}: {}", c.dir, ec.message()));
  const fs::path file = fs::canonical(dir / c.weights, ec);
  if (ec) return make_error(ec.message());
  if (!path_within(file, dir))
    return make_error(fmt::format("resolves to {}, outside the model folder", file.string()));
  if (!fs::is_regular_file(file, ec)) return make_error("not a regular file");
  return file;
}

// The first number in `path` (a /proc or cgroup file), 0 when absent or "max".
uint64_t read_number(const char* path, std::string_view field = {}) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!field.empty() && !std::string_view(line).starts_with(field)) continue;
    const size_t digit = line.find_first_of("0123456789");
    if (digit == std::string::npos) return 0;
    return std::strtoull(line.c_str() + digit, nullptr, 10);
  }
  return 0;
}

// The bound on a weights file when the server has no memory budget: half of
// the memory this process can still take (MemAvailable, and the cgroup's
// memory.max less memory.current when a limit is set), since the file's
// bytes and the parsed model coexist while it loads. A bigger file is never
// read, so it fails its load instead of bringing in the OOM killer, which a
// bad_alloc handler cannot see (Linux overcommits). 0: unknown, no bound.
uint64_t available_memory_bytes() {
  uint64_t avail = read_number("/proc/meminfo", "MemAvailable:") * 1024;  // kB
  const uint64_t limit = read_number("/sys/fs/cgroup/memory.max");
  const uint64_t used = read_number("/sys/fs/cgroup/memory.current");
  if (limit > 0) {
    const uint64_t room = limit > used ? limit - used : 1;
    avail = avail == 0 ? room : std::min(avail, room);
  }
  if (avail == 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return 0;
    avail = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
  }
  return std::max<uint64_t>(avail / 2, 1);
}

Error weights_error(const ModelConfig& config, std::string_view why) {
  return make_error(fmt::format("{}: weights file {}: {}", config.name, config.weights, why));
}

// The model of `kind` built from parsed weights, with its creation error.
template <class M>
Result<std::shared_ptr<const Model>> build(const ModelConfig& config, const Safetensors& st) {
  auto m = M::create(config, st);
  if (!m) return weights_error(config, m.error().message);
  return std::shared_ptr<const Model>(std::move(*m));
}

}  // namespace

Result<std::shared_ptr<const Model>> load_model(const ModelConfig& config, const LoadCheck& check,
                                                uint64_t max_weights_bytes) {
  const auto stop = [&]() -> std::optional<std::string> { return check ? check() : std::nullopt; };
  auto path = weights_path(config);
  if (!path) return weights_error(config, path.error().message);
  if (max_weights_bytes == 0) max_weights_bytes = available_memory_bytes();
  // Header first: the file's size and its safetensors header are checked
  // before memory is allocated for the weights.
  auto bytes = read_safetensors_bytes(path->string(), max_weights_bytes, check);
  if (!bytes) return weights_error(config, bytes.error().message);
  if (auto why = stop()) return weights_error(config, *why);
  // Hash before parse() takes the bytes, report a parse error first: it
  // says more about a damaged file than a digest mismatch does.
  const std::string digest = config.sha256.empty() ? std::string() : sha256_hex(*bytes);
  if (auto why = stop()) return weights_error(config, *why);
  auto st = Safetensors::parse(std::move(*bytes));
  if (!st) return weights_error(config, st.error().message);
  if (!config.sha256.empty() && digest != config.sha256)
    return weights_error(config,
                         fmt::format("sha256 is {}, model.toml expects {}", digest, config.sha256));
  if (auto why = stop()) return weights_error(config, *why);

  if (config.kind == "mlp") return build<MlpModel>(config, *st);
  if (config.kind == "tokens") return build<TokenModel>(config, *st);
  return make_error(fmt::format("{}: unknown kind '{}'", config.name, config.kind));
}

Result<uint64_t> weights_file_size(const ModelConfig& config) {
  auto path = weights_path(config);
  if (!path) return weights_error(config, path.error().message);
  std::error_code ec;
  const uintmax_t size = fs::file_size(*path, ec);
  if (ec) return weights_error(config, ec.message());
  return static_cast<uint64_t>(size);
}

}  // namespace servelab::models
