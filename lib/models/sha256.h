#pragma once
// SHA-256 of a byte string as 64 lowercase hex digits (OpenSSL libcrypto),
// used to check a weights file against the digest in its model.toml.

#include <string>
#include <string_view>

namespace servelab::models {

std::string sha256_hex(std::string_view bytes);

}  // namespace servelab::models
