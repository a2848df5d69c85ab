#pragma once
// Byte sizes as people write them: "512MiB", "1.5GiB", "64MB", "4096" (bytes).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace servelab {

// A number (integer or decimal) followed by an optional unit: B, kB/KB, MB,
// GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); no unit
// means bytes. Case of the unit letters is as listed (k, K accepted for kilo).
// The error says what was expected.
Result<uint64_t> parse_byte_size(std::string_view text);

// "512 MiB", "1.5 GiB", "300 B": the largest binary unit that keeps the
// value >= 1, at most 3 significant decimals. For messages.
std::string format_byte_size(uint64_t bytes);

}  // namespace servelab
