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
#include <functional>
#include <map>
#include <optional>
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

// Bytes of the length prefix that opens every safetensors file.
inline constexpr size_t kSafetensorsPrefixBytes = 8;
// Largest JSON header accepted, bytes (the reference implementation's limit):
// a longer one is a corrupt length prefix or an attack, not a model.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// A header checked against the size of its file, before any tensor data is
// read: loaders validate a file this way first, so that a corrupt or hostile
// file is refused before memory is allocated for its weights.
struct SafetensorsHeader {
  uint64_t data_start = 0;          // bytes: prefix + JSON header
  std::vector<TensorInfo> tensors;  // sorted by offset, tiling the data section exactly
  std::map<std::string, std::string> metadata;
};

// The JSON header's length from the first kSafetensorsPrefixBytes of a file
// of `file_size` bytes: Error when the file is too short, or the length
// exceeds kSafetensorsMaxHeaderBytes or the file.
Result<uint64_t> parse_safetensors_header_length(std::string_view prefix, uint64_t file_size);
// The JSON header (the `length` bytes after the prefix) of a file of
// `file_size` bytes: every tensor's dtype, shape and offsets are checked
// against the data section that file size leaves.
Result<SafetensorsHeader> parse_safetensors_header(std::string_view json, uint64_t file_size);

// Called between the steps of a read (after every 4 MiB): a reason to stop,
// or nullopt to go on.
using ReadCheck = std::function<std::optional<std::string>()>;

// The whole file's bytes, read header first through one descriptor (a file
// replaced meanwhile is read consistently from the inode that was opened):
// its size is checked against `max_bytes` (0: no limit), then its length
// prefix and JSON header against that size, and only then is memory
// allocated for the tensor data. A file that shrinks or grows while it is
// read is an Error too.
Result<std::string> read_safetensors_bytes(const std::string& path, uint64_t max_bytes,
                                           const ReadCheck& check = {});

class Safetensors {
 public:
  // Takes ownership of the whole file's bytes.
  static Result<Safetensors> parse(std::string bytes);
  // Reads and validates the header first; the tensor data is read (and
  // memory allocated for it) only for a file whose header is consistent
  // with its size and whose size is at most `max_bytes` (0: no limit).
  static Result<Safetensors> read_file(const std::string& path, uint64_t max_bytes = 0);

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
