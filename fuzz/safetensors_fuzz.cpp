// safetensors files (models/safetensors.h): the 8-byte length, the JSON
// header and every offset and shape in it, checked against the bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using servelab::models::Safetensors;
  auto st = Safetensors::parse(std::string(reinterpret_cast<const char*>(data), size));
  if (!st.ok()) return 0;
  for (const auto& t : st->tensors()) {
    const auto bytes = st->data(t);
    volatile std::byte sink{};
    if (!bytes.empty()) sink = bytes.front() ^ bytes.back();  // the span must be readable
    (void)sink;
    (void)st->find(t.name);
    (void)st->floats(t.name);
    (void)servelab::models::shape_text(t.shape);
  }
  return 0;
}
