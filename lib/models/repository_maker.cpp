#include "models/repository_maker.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <filesystem>
#include <sstream>
#include <system_error>

#include "common/atomic_file.h"
#include "models/mlp_model.h"
#include "models/random_weights.h"
#include "models/safetensors.h"
#include "models/sha256.h"
#include "models/token_model.h"

namespace servelab::models {

namespace {

namespace fs = std::filesystem;

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

Status check(const MakeOptions& options) {
  if (!options.preload.empty() && options.preload != "eager" && options.preload != "lazy" &&
      options.preload != "none")
    return make_error(fmt::format("preload '{}' is not one of eager, lazy, none", options.preload));
  if (options.count < 0)
    return make_error(fmt::format("model count {} is negative", options.count));
  if (options.dims.size() < 2)
    return make_error("dims needs at least two widths (input and output)");
  for (const int d : options.dims)
    if (d <= 0) return make_error(fmt::format("dims: width {} is not positive", d));
  if (options.prefix.empty() || options.prefix.find('/') != std::string::npos ||
      options.prefix.front() == '.')
    return make_error(fmt::format("prefix '{}' is not a valid folder name", options.prefix));
  if (options.kind != "mlp" && options.kind != "tokens")
    return make_error(
        fmt::format("kind '{}' is not one models make writes (mlp, tokens)", options.kind));
  if (options.kind == "tokens" && options.hidden < 1)
    return make_error(fmt::format("hidden width {} is not positive", options.hidden));
  return Ok{};
}

}  // namespace

Status make_repository(const std::string& dir, const MakeOptions& options) {
  if (auto s = check(options); !s) return s;

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(fmt::format("cannot create {}: {}", dir, ec.message()));

  for (int i = 0; i < options.count; ++i) {
    const std::string name = fmt::format("{}-{}", options.prefix, i);
    const fs::path folder = fs::path(dir) / name;
    fs::create_directories(folder, ec);
    if (ec) return make_error(fmt::format("cannot create {}: {}", folder.string(), ec.message()));

    const uint64_t model_seed = splitmix64(options.seed, static_cast<uint64_t>(i));
    const std::string weights = serialize_safetensors(
        options.kind == "tokens" ? make_token_weights(options.hidden, model_seed)
                                 : make_mlp_weights(options.dims, model_seed),
        {{"generator", "servelab models make"},
         {"seed", std::to_string(options.seed)},
         {"index", std::to_string(i)}});
    if (auto s = write_file_atomically((folder / "model.safetensors").string(), weights); !s)
      return s;

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
