// read_model_config(): model.toml → ModelConfig (declared in
// model_config.h). Read through common/toml_reader.h, so every error
// reads as a scenario's does: "file:line:column: key: expected ..., got ...",
// all of them at once, unknown keys with a did-you-mean.

#include "models/model_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "common/toml_reader.h"

namespace servelab::models {

namespace {

namespace fs = std::filesystem;

// Every key model.toml may hold, in the order "valid keys: ..." lists them.
constexpr std::array<std::string_view, 9> kKeys{"name",    "kind",         "weights",
                                                "sha256",  "depends_on",   "priority",
                                                "preload", "load_timeout", "batching"};
constexpr std::array<std::string_view, 8> kBatchingKeys{
    "max_batch_size", "max_queue_delay", "preferred_batch_sizes", "max_queue_size",
    "queue_timeout",  "adaptive",        "target_batch_time",     "preserve_ordering"};
constexpr Choice<std::string_view> kKinds[] = {{"mlp", "mlp"}, {"tokens", "tokens"}};
constexpr Choice<Preload> kPreloads[] = {
    {"eager", Preload::eager}, {"lazy", Preload::lazy}, {"none", Preload::none}};

// An optional knob: set only when the key holds a valid value.
template <class T>
void read_optional(std::string_view key, std::optional<T>& field, auto read) {
  T value{};
  if (read(key, value)) field = value;
}

// The [batching] table; every value is checked here so that a bad knob fails
// the model's load with file:line:column, not the first request.
void read_batching(TableReader& top, BatchingOverrides& b) {
  const toml::table* table = top.read_table("batching");
  if (table == nullptr) return;
  TableReader r(*table, "batching", {kBatchingKeys.begin(), kBatchingKeys.end()},
                top.diagnostics());
  const auto rows = [&](std::string_view key, int64_t& out) {
    return r.read_integer<int64_t>(key, out, 1);
  };
  const auto delay = [&](std::string_view key, std::chrono::microseconds& out) {
    return r.read_duration(key, out, /*allow_zero=*/true);
  };
  const auto flag = [&](std::string_view key, bool& out) { return r.read_bool(key, out); };
  read_optional("max_batch_size", b.max_batch_size, rows);
  read_optional("max_queue_size", b.max_queue_size, rows);
  read_optional("max_queue_delay", b.max_queue_delay, delay);
  read_optional("queue_timeout", b.queue_timeout, delay);
  read_optional("target_batch_time", b.target_batch_time,
                [&](std::string_view key, std::chrono::microseconds& out) {
                  return r.read_duration(key, out, /*allow_zero=*/false);
                });
  read_optional("adaptive", b.adaptive, flag);
  read_optional("preserve_ordering", b.preserve_ordering, flag);
  if (const toml::array* sizes = r.read_array("preferred_batch_sizes")) {
    std::vector<int64_t> values;
    for (size_t i = 0; i < sizes->size(); ++i) {
      const toml::node& node = *sizes->get(i);
      const auto* size = node.as_integer();
      if (size == nullptr || size->get() < 1) {
        r.error(node, fmt::format("preferred_batch_sizes[{}]", i),
                fmt::format("expected a row count, an integer >= 1, got {}", describe(node)));
        continue;
      }
      values.push_back(size->get());
    }
    if (values.size() == sizes->size()) b.preferred_batch_sizes = std::move(values);
  }
  r.report_unknown_keys();
}

// Lexical confinement; symlinks are checked when the file is opened
// (weights_path), since that is when they are resolved.
bool confined(const std::string& weights) {
  const fs::path p(weights);
  const fs::path norm = p.lexically_normal();
  return !weights.empty() && !p.is_absolute() && !norm.empty() && *norm.begin() != ".." &&
         norm != ".";
}

void read_keys(TableReader& r, const std::string& folder, ModelConfig& c) {
  if (r.read_string("name", c.name) && !c.name.empty() && c.name != folder) {
    r.error(*r.find("name"), "name",
            fmt::format("expected the model folder's name \"{}\", got \"{}\"", folder, c.name));
  }
  if (c.name.empty()) c.name = folder;
  std::string_view kind;
  if (r.find("kind") == nullptr) {
    r.missing("kind", R"(one of "mlp", "tokens")");
  } else if (r.read_choice<std::string_view>("kind", kind, kKinds)) {
    c.kind = kind;
  }
  if (r.read_string("weights", c.weights) && !confined(c.weights)) {
    r.error(
        *r.find("weights"), "weights",
        fmt::format(
            "expected a file path relative to the model folder that stays inside it, got \"{}\"",
            c.weights));
  }
  if (r.read_string("sha256", c.sha256)) {
    const bool hex =
        c.sha256.size() == 64 && std::all_of(c.sha256.begin(), c.sha256.end(), [](char ch) {
          return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
        });
    if (!hex) {
      r.error(*r.find("sha256"), "sha256",
              fmt::format("expected 64 hexadecimal digits, got \"{}\"", c.sha256));
    }
    std::transform(c.sha256.begin(), c.sha256.end(), c.sha256.begin(), [](char ch) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    });
  }
  if (const toml::array* deps = r.read_array("depends_on")) {
    for (size_t i = 0; i < deps->size(); ++i) {
      const toml::node& node = *deps->get(i);
      if (const auto* dep = node.as_string()) {
        c.depends_on.push_back(dep->get());
      } else {
        r.error(node, fmt::format("depends_on[{}]", i),
                fmt::format("expected a model name, got {}", describe(node)));
      }
    }
  }
  r.read_integer("priority", c.priority);
  r.read_choice<Preload>("preload", c.preload, kPreloads);
  // max_concurrency would promise a per-model request limit that the server
  // does not have: rejected by name, saying what to do (docs/MODELS.md),
  // and left out of kKeys so that no "valid keys" list offers it.
  if (const toml::node* node = r.find("max_concurrency")) {
    r.error(*node, "max_concurrency",
            "is not supported: the server has no per-model request limit (remove the key)");
  }
  if (std::chrono::microseconds timeout{};
      r.read_duration("load_timeout", timeout, /*allow_zero=*/false)) {
    c.load_timeout = std::chrono::ceil<std::chrono::milliseconds>(timeout);
  }
  read_batching(r, c.batching);
}

}  // namespace

Result<ModelConfig> read_model_config(const std::string& model_dir) {
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::absolute(model_dir, ec), ec);
  if (ec) return make_error(fmt::format("{}: {}", model_dir, ec.message()));
  const std::string path = (dir / "model.toml").string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open model.toml", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(fmt::format("{}: cannot read model.toml", path));
  return parse_model_config(text.str(), path, dir.string());
}

Result<ModelConfig> parse_model_config(std::string_view text, const std::string& source_name,
                                       const std::string& model_dir) {
  toml::table table;
  try {
    table = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return make_error(fmt::format("{}: TOML syntax error: {}", position(e.source(), source_name),
                                  e.description()));
  }

  ModelConfig config;
  config.dir = model_dir;
  Diagnostics diagnostics(source_name);
  TableReader reader(table, "", {kKeys.begin(), kKeys.end()}, diagnostics);
  read_keys(reader, fs::path(model_dir).filename().string(), config);
  reader.report_unknown_keys();
  if (!diagnostics.empty()) return diagnostics.to_error();
  return config;
}

}  // namespace servelab::models
