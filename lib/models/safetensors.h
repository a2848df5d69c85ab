#pragma once
// The safetensors format (https://huggingface.co/docs/safetensors):
//   8 bytes  little-endian u64 N = header length
//   N bytes  UTF-8 JSON: {"__metadata__": {str: str}, "<tensor>": {"dtype": "F32",
//            "shape": [..], "data_offsets": [begin, end]}, ...}
//   rest     raw tensor bytes; offsets are relative to the start of this section
// parse() validates every offset and shape against the buffer: a bad file is
// an Error with a reason, never a crash or an out-of-bounds read.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace servelab::models {

enum class Dtype { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::string_view to_string(Dtype d);
size_t dtype_size(Dtype d);  // bytes per element

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section, [begin, end)
  uint64_t end = 0;
};

// A shape as "[2, 3]", for error messages.
std::string shape_text(const std::vector<int64_t>& shape);

class Safetensors {
 public:
  // Takes ownership of the whole file's bytes.
  static Result<Safetensors> parse(std::string bytes);
  static Result<Safetensors> read_file(const std::string& path);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  std::span<const std::byte> data(const TensorInfo& t) const;
  // Copies an F32 tensor's values (safetensors data is not necessarily
  // 4-byte aligned). Error if the dtype is not F32.
  Result<std::vector<float>> floats(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string bytes_;
  size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct F32Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major, product(shape) elements
};

// Serializes F32 tensors into safetensors bytes (tensors laid out in the
// given order, header padded with spaces to an 8-byte boundary).
std::string serialize_safetensors(const std::vector<F32Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace servelab::models
