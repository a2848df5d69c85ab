#include "models/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <system_error>

namespace servelab::models {

// The format stores little-endian numbers; we copy them byte for byte.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeaderBytes = kSafetensorsMaxHeaderBytes;
constexpr size_t kPrefixBytes = kSafetensorsPrefixBytes;

struct DtypeName {
  Dtype dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DtypeName, 13> kDtypes{{
    {Dtype::BOOL, "BOOL", 1},
    {Dtype::U8, "U8", 1},
    {Dtype::I8, "I8", 1},
    {Dtype::I16, "I16", 2},
    {Dtype::U16, "U16", 2},
    {Dtype::F16, "F16", 2},
    {Dtype::BF16, "BF16", 2},
    {Dtype::I32, "I32", 4},
    {Dtype::U32, "U32", 4},
    {Dtype::F32, "F32", 4},
    {Dtype::F64, "F64", 8},
    {Dtype::I64, "I64", 8},
    {Dtype::U64, "U64", 8},
}};

std::string valid_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) {
    if (!out.empty()) out += ", ";
    out += d.name;
  }
  return out;
}

// A JSON number that is a non-negative integer, else nullopt.
std::optional<uint64_t> as_count(const boost::json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  return std::nullopt;
}

Result<TensorInfo> parse_tensor(std::string_view name, const boost::json::value& value,
                                uint64_t data_size) {
  auto fail = [&](const std::string& why) {
    return make_error(fmt::format("tensor '{}': {}", name, why));
  };
  const auto* obj = value.if_object();
  if (obj == nullptr) return fail("entry is not a JSON object");

  TensorInfo t;
  t.name = std::string(name);

  const auto* dtype = obj->if_contains("dtype");
  if (dtype == nullptr) return fail("missing \"dtype\"");
  if (!dtype->is_string()) return fail("\"dtype\" is not a string");
  const std::string_view dtype_name = dtype->get_string();
  const auto known = std::find_if(kDtypes.begin(), kDtypes.end(),
                                  [&](const DtypeName& d) { return d.name == dtype_name; });
  if (known == kDtypes.end())
    return fail(fmt::format("unknown dtype '{}' (valid: {})", dtype_name, valid_dtypes()));
  t.dtype = known->dtype;

  const auto* shape = obj->if_contains("shape");
  if (shape == nullptr) return fail("missing \"shape\"");
  if (!shape->is_array()) return fail("\"shape\" is not an array");
  // Element count, checked for overflow so a hostile shape cannot wrap
  // around to a small byte count that happens to match the offsets.
  uint64_t bytes = known->size;
  bool overflow = false;
  for (const auto& dim : shape->get_array()) {
    const auto n = as_count(dim);
    if (!n || *n > static_cast<uint64_t>(INT64_MAX))
      return fail(fmt::format("shape {} has a dimension that is not a non-negative integer",
                              boost::json::serialize(*shape)));
    t.shape.push_back(static_cast<int64_t>(*n));
    overflow = overflow || __builtin_mul_overflow(bytes, *n, &bytes);
  }

  const auto* offsets = obj->if_contains("data_offsets");
  if (offsets == nullptr) return fail("missing \"data_offsets\"");
  const auto* pair = offsets->if_array();
  if (pair == nullptr || pair->size() != 2)
    return fail("\"data_offsets\" is not an array [begin, end]");
  const auto begin = as_count((*pair)[0]);
  const auto end = as_count((*pair)[1]);
  if (!begin || !end) return fail("\"data_offsets\" are not non-negative integers");
  t.begin = *begin;
  t.end = *end;
  if (t.begin > t.end)
    return fail(fmt::format("data_offsets [{}, {}] end before they begin", t.begin, t.end));
  if (t.end > data_size)
    return fail(fmt::format("data_offsets [{}, {}] run past the data section ({} bytes)", t.begin,
                            t.end, data_size));
  if (overflow || bytes != t.end - t.begin)
    return fail(fmt::format("shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}",
                            boost::json::serialize(*shape), known->name,
                            overflow ? std::string("more than 2^64") : std::to_string(bytes),
                            t.begin, t.end, t.end - t.begin));
  return t;
}

}  // namespace

std::string_view to_string(Dtype d) {
  for (const auto& e : kDtypes)
    if (e.dtype == d) return e.name;
  return "?";
}

size_t dtype_size(Dtype d) {
  for (const auto& e : kDtypes)
    if (e.dtype == d) return e.size;
  return 0;
}

Result<uint64_t> parse_safetensors_header_length(std::string_view prefix, uint64_t file_size) {
  if (file_size < kPrefixBytes || prefix.size() < kPrefixBytes)
    return make_error(
        fmt::format("file is {} bytes, too short for the 8-byte header length", file_size));
  uint64_t header_len = 0;
  std::memcpy(&header_len, prefix.data(), kPrefixBytes);
  if (header_len > kMaxHeaderBytes)
    return make_error(
        fmt::format("header length {} exceeds the {} byte limit", header_len, kMaxHeaderBytes));
  if (header_len > file_size - kPrefixBytes)
    return make_error(fmt::format("header length {} exceeds file size {}", header_len, file_size));
  return header_len;
}

Result<SafetensorsHeader> parse_safetensors_header(std::string_view header, uint64_t file_size) {
  if (header.size() > kMaxHeaderBytes ||
      header.size() > file_size - std::min<uint64_t>(file_size, kPrefixBytes))
    return make_error(
        fmt::format("header length {} exceeds file size {}", header.size(), file_size));
  // The reference implementation requires the header to open with '{' and
  // allows trailing spaces (writers pad to 8-byte alignment).
  if (header.empty() || header.front() != '{')
    return make_error("header is not a JSON object (does not start with '{')");
  boost::json::error_code ec;
  const boost::json::value root = boost::json::parse(header, ec);
  if (ec) return make_error(fmt::format("header is not valid JSON: {}", ec.message()));
  const auto* obj = root.if_object();
  if (obj == nullptr) return make_error("header is not a JSON object");

  SafetensorsHeader h;
  h.data_start = kPrefixBytes + header.size();
  const uint64_t data_size = file_size - h.data_start;
  for (const auto& [key, value] : *obj) {
    if (key == "__metadata__") {
      const auto* meta = value.if_object();
      if (meta == nullptr) return make_error("\"__metadata__\" is not a JSON object");
      for (const auto& [mkey, mvalue] : *meta) {
        if (!mvalue.is_string())
          return make_error(fmt::format("\"__metadata__\" value of '{}' is not a string",
                                        std::string_view(mkey)));
        h.metadata.emplace(std::string(mkey), std::string(mvalue.get_string()));
      }
      continue;
    }
    auto tensor = parse_tensor(key, value, data_size);
    if (!tensor) return std::move(tensor).error();
    h.tensors.push_back(std::move(*tensor));
  }

  // Tensors must tile the data section exactly: no overlap (two tensors
  // aliasing the same bytes) and no gap (bytes nobody accounts for), as the
  // reference implementation enforces.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.begin < covered)
      return make_error(fmt::format("tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", prev->name,
                                    prev->begin, prev->end, t.name, t.begin, t.end));
    if (t.begin > covered)
      return make_error(
          fmt::format("tensor '{}' starts at byte {}, leaving bytes [{}, {}) of the "
                      "data section unused",
                      t.name, t.begin, covered, t.begin));
    covered = t.end;
    prev = &t;
  }
  if (covered != data_size)
    return make_error(fmt::format(
        "data section is {} bytes but the tensors cover only the first {}", data_size, covered));
  return h;
}

Result<Safetensors> Safetensors::parse(std::string bytes) {
  const uint64_t file_size = bytes.size();
  auto header_len = parse_safetensors_header_length(bytes, file_size);
  if (!header_len) return std::move(header_len).error();
  auto header = parse_safetensors_header(
      std::string_view(bytes.data() + kPrefixBytes, static_cast<size_t>(*header_len)), file_size);
  if (!header) return std::move(header).error();

  Safetensors st;
  st.data_start_ = static_cast<size_t>(header->data_start);
  st.tensors_ = std::move(header->tensors);
  st.metadata_ = std::move(header->metadata);
  st.bytes_ = std::move(bytes);
  return st;
}

namespace {

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly `n` bytes at `offset` into `out`; an Error on a short read
// (the file shrank) or an I/O error.
Status read_at(int fd, char* out, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return make_error(fmt::format("read failed: {}", std::strerror(errno)));
    }
    if (got == 0) return make_error("read failed (file shrank while reading?)");
    done += static_cast<size_t>(got);
  }
  return Ok{};
}

}  // namespace

Result<std::string> read_safetensors_bytes(const std::string& path, uint64_t max_bytes,
                                           const ReadCheck& check) {
  constexpr size_t kChunk = size_t{4} << 20;  // bytes between two checks
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return make_error(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat sb {};
  if (::fstat(f.fd, &sb) != 0) return make_error(fmt::format("stat: {}", std::strerror(errno)));
  if (!S_ISREG(sb.st_mode)) return make_error("not a regular file");
  const auto size = static_cast<uint64_t>(sb.st_size);
  // Checked before a byte is allocated: a sparse 64 GB file costs nothing on
  // disk but must never be read into memory.
  if (max_bytes != 0 && size > max_bytes)
    return make_error(
        fmt::format("file is {} bytes, more than the {} bytes a model may take", size, max_bytes));
  if (size > std::numeric_limits<size_t>::max())
    return make_error(fmt::format("file is {} bytes, too large to address", size));

  std::array<char, kPrefixBytes> prefix{};
  if (size >= kPrefixBytes) {
    if (auto s = read_at(f.fd, prefix.data(), kPrefixBytes, 0); !s) return std::move(s).error();
  }
  auto header_len =
      parse_safetensors_header_length(std::string_view(prefix.data(), prefix.size()), size);
  if (!header_len) return std::move(header_len).error();
  // Bounded by kMaxHeaderBytes (checked above).
  std::string header(static_cast<size_t>(*header_len), '\0');
  if (auto s = read_at(f.fd, header.data(), header.size(), kPrefixBytes); !s)
    return std::move(s).error();
  if (auto h = parse_safetensors_header(header, size); !h) return std::move(h).error();

  // The header is consistent with the size: now the weights' memory.
  std::string bytes(static_cast<size_t>(size), '\0');
  std::memcpy(bytes.data(), prefix.data(), kPrefixBytes);
  std::memcpy(bytes.data() + kPrefixBytes, header.data(), header.size());
  for (size_t done = kPrefixBytes + header.size(); done < bytes.size();) {
    if (check) {
      if (auto why = check()) return make_error(*why);
    }
    const size_t n = std::min(kChunk, bytes.size() - done);
    if (auto s = read_at(f.fd, bytes.data() + done, n, done); !s) return std::move(s).error();
    done += n;
  }
  char extra = 0;
  const ssize_t more = ::pread(f.fd, &extra, 1, static_cast<off_t>(size));
  if (more > 0) return make_error("file grew while reading");
  return bytes;
}

Result<Safetensors> Safetensors::read_file(const std::string& path, uint64_t max_bytes) {
  auto bytes = read_safetensors_bytes(path, max_bytes);
  if (!bytes) return make_error(fmt::format("{}: {}", path, bytes.error().message));
  return parse(std::move(*bytes));
}

const TensorInfo* Safetensors::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const std::byte> Safetensors::data(const TensorInfo& t) const {
  // Offsets were validated against the data section in parse().
  const auto* base = reinterpret_cast<const std::byte*>(bytes_.data()) + data_start_;
  return {base + t.begin, static_cast<size_t>(t.end - t.begin)};
}

Result<std::vector<float>> Safetensors::floats(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (t == nullptr) return make_error(fmt::format("tensor '{}' not found", name));
  if (t->dtype != Dtype::F32)
    return make_error(fmt::format("tensor '{}' is {}, expected F32", name, to_string(t->dtype)));
  const auto bytes = data(*t);
  std::vector<float> values(bytes.size() / sizeof(float));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

std::string serialize_safetensors(const std::vector<F32Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  boost::json::object header;
  if (!metadata.empty()) {
    boost::json::object meta;
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const uint64_t size = t.values.size() * sizeof(float);
    boost::json::array shape;
    for (const int64_t d : t.shape) shape.push_back(d);
    header[t.name] = {
        {"dtype", "F32"}, {"shape", std::move(shape)}, {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  std::string json = boost::json::serialize(header);
  // Pad so the data section starts 8-byte aligned within the file.
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(kPrefixBytes + json.size() + offset);
  const uint64_t header_len = json.size();
  out.append(reinterpret_cast<const char*>(&header_len), kPrefixBytes);
  out += json;
  for (const auto& t : tensors)
    out.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace servelab::models
