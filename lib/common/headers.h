#pragma once
// HTTP header names compare case-insensitively (RFC 9110 5.1). One place for
// that rule, for the generator's request lists and the server's checks.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace servelab {

// ASCII case-insensitive equality (header names and tokens are ASCII).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

struct Header {
  std::string name;
  std::string value;
};
using HeaderList = std::vector<Header>;

// The first header called `name` (any case), or null.
inline const Header* find_header(const HeaderList& headers, std::string_view name) noexcept {
  for (const Header& h : headers)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}
inline bool has_header(const HeaderList& headers, std::string_view name) noexcept {
  return find_header(headers, name) != nullptr;
}

// Headers whose values carry credentials: result files write "<redacted>"
// instead of their values.
constexpr bool is_secret_header(std::string_view name) noexcept {
  for (std::string_view secret : {"authorization", "proxy-authorization", "x-api-key", "api-key"})
    if (iequals(name, secret)) return true;
  return false;
}

// For "Name: value" lines as libcurl's CURLOPT_HTTPHEADER takes them: true
// when one of them is header `name` (any case).
inline bool has_header_line(const std::vector<std::string>& lines, std::string_view name) noexcept {
  for (const std::string& l : lines)
    if (l.size() > name.size() && l[name.size()] == ':' &&
        iequals(std::string_view(l).substr(0, name.size()), name))
      return true;
  return false;
}

}  // namespace servelab
