// read_model_config(): model.toml → ModelConfig. Every error names
// file:line:column.

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <limits>
#include <string_view>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/duration.h"
#include "models/model_config.h"

namespace servelab::models {

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 9> kKeys{"name",     "kind",    "weights", "sha256",      "depends_on",
                                                 "priority", "preload", "load_timeout", "batching"};
constexpr std::array<std::string_view, 8> kBatchingKeys{
    "max_batch_size", "max_queue_delay",   "preferred_batch_sizes", "max_queue_size",
    "queue_timeout",  "adaptive",          "target_batch_time",     "preserve_ordering"};
constexpr std::array<std::string_view, 2> kKinds{"mlp", "tokens"};

std::string join(const auto& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

std::string_view type_name(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date/time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

class ConfigReader {
 public:
  explicit ConfigReader(std::string path) : path_(std::move(path)) {}

  Error at(const toml::source_region& where, std::string_view message) const {
    return make_error(fmt::format("{}:{}:{}: {}", path_, where.begin.line, where.begin.column, message));
  }

  Result<std::string> string(std::string_view key, const toml::node& v) const {
    if (const auto* s = v.as_string()) return s->get();
    return at(v.source(), fmt::format("key '{}': expected a string, got {}", key, type_name(v)));
  }

  Result<int> integer(std::string_view key, const toml::node& v, int64_t min) const {
    const auto* i = v.as_integer();
    if (i == nullptr)
      return at(v.source(), fmt::format("key '{}': expected an integer, got {}", key, type_name(v)));
    if (i->get() < min || i->get() > std::numeric_limits<int>::max())
      return at(v.source(), fmt::format("key '{}': {} is out of range [{}, {}]", key, i->get(), min,
                                        std::numeric_limits<int>::max()));
    return static_cast<int>(i->get());
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The [batching] table; every value is checked here so that a bad knob fails
// the model's load with file:line:column, not the first request.
Status apply_batching(const ConfigReader& r, const toml::node& node, BatchingOverrides& b) {
  const auto* table = node.as_table();
  if (table == nullptr) return r.at(node.source(), fmt::format("key 'batching': expected a table, got {}", type_name(node)));
  for (const auto& [k, v] : *table) {
    const std::string_view key = k.str();
    const std::string full = fmt::format("batching.{}", key);
    if (std::find(kBatchingKeys.begin(), kBatchingKeys.end(), key) == kBatchingKeys.end())
      return r.at(k.source(), fmt::format("unknown key '{}' (valid: {})", full, join(kBatchingKeys)));
    const auto positive_int = [&](std::optional<int64_t>& field) -> Status {
      const auto* i = v.as_integer();
      if (i == nullptr) return r.at(v.source(), fmt::format("key '{}': expected an integer, got {}", full, type_name(v)));
      if (i->get() < 1) return r.at(v.source(), fmt::format("key '{}': must be at least 1, got {}", full, i->get()));
      field = i->get();
      return Ok{};
    };
    const auto duration = [&](std::optional<std::chrono::microseconds>& field, bool allow_zero) -> Status {
      const auto* s = v.as_string();
      if (s == nullptr)
        return r.at(v.source(), fmt::format("key '{}': expected a duration string like \"2ms\", got {}", full, type_name(v)));
      auto d = parse_duration(s->get());
      if (!d) return r.at(v.source(), fmt::format("key '{}': {}", full, d.error().message));
      if (d->count() < 0 || (!allow_zero && d->count() == 0))
        return r.at(v.source(), fmt::format("key '{}': must be {}", full, allow_zero ? "zero or positive" : "positive"));
      field = *d;
      return Ok{};
    };
    const auto boolean = [&](std::optional<bool>& field) -> Status {
      const auto* bv = v.as_boolean();
      if (bv == nullptr) return r.at(v.source(), fmt::format("key '{}': expected true or false, got {}", full, type_name(v)));
      field = bv->get();
      return Ok{};
    };
    Status st = Ok{};
    if (key == "max_batch_size") st = positive_int(b.max_batch_size);
    else if (key == "max_queue_size") st = positive_int(b.max_queue_size);
    else if (key == "max_queue_delay") st = duration(b.max_queue_delay, true);
    else if (key == "queue_timeout") st = duration(b.queue_timeout, true);
    else if (key == "target_batch_time") st = duration(b.target_batch_time, false);
    else if (key == "adaptive") st = boolean(b.adaptive);
    else if (key == "preserve_ordering") st = boolean(b.preserve_ordering);
    else {  // preferred_batch_sizes
      const auto* arr = v.as_array();
      if (arr == nullptr)
        return r.at(v.source(), fmt::format("key '{}': expected an array of row counts, got {}", full, type_name(v)));
      std::vector<int64_t> sizes;
      for (const auto& item : *arr) {
        const auto* i = item.as_integer();
        if (i == nullptr || i->get() < 1)
          return r.at(item.source(), fmt::format("key '{}': each size must be an integer of at least 1", full));
        sizes.push_back(i->get());
      }
      b.preferred_batch_sizes = std::move(sizes);
    }
    if (!st) return st;
  }
  return Ok{};
}

Status apply(const ConfigReader& r, std::string_view key, const toml::node& v, ModelConfig& c) {
  const auto unwrap_string = [&](std::string& field) -> Status {
    auto s = r.string(key, v);
    if (!s) return std::move(s).error();
    field = std::move(*s);
    return Ok{};
  };
  const auto unwrap_int = [&](int& field, int64_t min) -> Status {
    auto i = r.integer(key, v, min);
    if (!i) return std::move(i).error();
    field = *i;
    return Ok{};
  };

  if (key == "name") return unwrap_string(c.name);
  if (key == "weights") {
    if (auto s = unwrap_string(c.weights); !s) return s;
    // Lexical confinement; symlinks are checked when the file is opened
    // (weights_path), since that is when they are resolved.
    const fs::path p(c.weights);
    const fs::path norm = p.lexically_normal();
    if (c.weights.empty() || p.is_absolute() || norm.empty() || *norm.begin() == ".." ||
        norm == ".")
      return r.at(v.source(), fmt::format("key 'weights': '{}' must be a file path relative to "
                                          "the model folder and stay inside it",
                                          c.weights));
    return Ok{};
  }
  if (key == "kind") {
    if (auto s = unwrap_string(c.kind); !s) return s;
    if (std::find(kKinds.begin(), kKinds.end(), c.kind) == kKinds.end())
      return r.at(v.source(), fmt::format("key 'kind': unknown kind '{}' (valid: {})", c.kind, join(kKinds)));
    return Ok{};
  }
  if (key == "sha256") {
    if (auto s = unwrap_string(c.sha256); !s) return s;
    const bool hex = c.sha256.size() == 64 &&
                     std::all_of(c.sha256.begin(), c.sha256.end(), [](char ch) {
                       return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
                     });
    if (!hex) return r.at(v.source(), "key 'sha256': expected 64 hexadecimal digits");
    std::transform(c.sha256.begin(), c.sha256.end(), c.sha256.begin(),
                   [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
    return Ok{};
  }
  if (key == "depends_on") {
    const auto* arr = v.as_array();
    if (arr == nullptr)
      return r.at(v.source(), fmt::format("key 'depends_on': expected an array of model names, got {}", type_name(v)));
    for (const auto& item : *arr) {
      auto s = r.string(key, item);
      if (!s) return std::move(s).error();
      c.depends_on.push_back(std::move(*s));
    }
    return Ok{};
  }
  if (key == "priority") return unwrap_int(c.priority, std::numeric_limits<int>::min());
  if (key == "preload") {
    std::string s;
    if (auto st = unwrap_string(s); !st) return st;
    if (s == "eager") c.preload = Preload::eager;
    else if (s == "lazy") c.preload = Preload::lazy;
    else if (s == "none") c.preload = Preload::none;
    else return r.at(v.source(), fmt::format("key 'preload': unknown value '{}' (valid: eager, lazy, none)", s));
    return Ok{};
  }
  if (key == "load_timeout") {
    std::string s;
    if (auto st = unwrap_string(s); !st) return st;
    auto d = parse_duration(s);
    if (!d) return r.at(v.source(), fmt::format("key 'load_timeout': {}", d.error().message));
    if (d->count() <= 0) return r.at(v.source(), "key 'load_timeout': must be positive");
    c.load_timeout = std::chrono::ceil<std::chrono::milliseconds>(*d);
    return Ok{};
  }
  if (key == "batching") return apply_batching(r, v, c.batching);
  return Ok{};  // unreachable: keys are checked against kKeys first
}

}  // namespace

Result<ModelConfig> read_model_config(const std::string& model_dir) {
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::absolute(model_dir, ec), ec);
  if (ec) return make_error(fmt::format("{}: {}", model_dir, ec.message()));
  const ConfigReader reader((dir / "model.toml").string());

  toml::table table;
  try {
    table = toml::parse_file(reader.path());
  } catch (const toml::parse_error& e) {
    return reader.at(e.source(), e.description());
  }

  ModelConfig config;
  config.dir = dir.string();
  bool has_kind = false;
  for (const auto& [key, value] : table) {
    // max_concurrency would promise a per-model request limit that the server
    // does not have: rejected by name, saying what to do (docs/MODELS.md).
    if (key.str() == "max_concurrency")
      return reader.at(key.source(), "key 'max_concurrency' is not supported: the server has no per-model request "
                                     "limit (remove the key)");
    if (std::find(kKeys.begin(), kKeys.end(), key.str()) == kKeys.end())
      return reader.at(key.source(),
                       fmt::format("unknown key '{}' (valid: {})", key.str(), join(kKeys)));
    if (auto s = apply(reader, key.str(), value, config); !s) return std::move(s).error();
    has_kind = has_kind || key.str() == "kind";
  }

  const std::string folder = dir.filename().string();
  if (config.name.empty()) config.name = folder;
  if (config.name != folder) {
    const auto* node = table.get("name");
    return reader.at(node->source(), fmt::format("key 'name': '{}' must equal the model folder's name '{}'",
                                                 config.name, folder));
  }
  if (!has_kind)
    return make_error(fmt::format("{}: missing key 'kind' (valid: {})", reader.path(), join(kKinds)));
  return config;
}

}  // namespace servelab::models
