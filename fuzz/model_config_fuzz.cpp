// model.toml (models/model_config.h): TOML text -> ModelConfig, every error
// naming the file.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "models/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = servelab::models::parse_model_config(text, "/fuzz/mlp-0/model.toml", "/fuzz/mlp-0");
  if (!config.ok() && config.error().message.rfind("/fuzz/mlp-0/model.toml", 0) != 0) {
    std::abort();
  }
  return 0;
}
