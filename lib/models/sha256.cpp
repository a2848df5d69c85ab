#include "models/sha256.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>

namespace servelab::models {

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // One-shot EVP_Digest cannot fail for SHA-256 short of memory exhaustion;
  // an empty result then simply never matches an expected digest.
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    return {};
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i)
    fmt::format_to(std::back_inserter(hex), "{:02x}", digest[i]);
  return hex;
}

}  // namespace servelab::models
