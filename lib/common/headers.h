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

// ASCII case-insensitive "contains" (for the secret-name patterns below).
constexpr bool icontains(std::string_view text, std::string_view part) noexcept {
  if (part.size() > text.size()) return false;
  for (size_t i = 0; i + part.size() <= text.size(); ++i)
    if (iequals(text.substr(i, part.size()), part)) return true;
  return false;
}

// Headers whose values carry credentials: result files, reports and the
// console write "<redacted>" instead of their values. Named ones, and any name
// containing token, secret, key, password, auth, session, credential or
// signature (X-Auth-Token, x-goog-api-key, Ocp-Apim-Subscription-Key, ...):
// a header redacted by mistake costs a value in a report, one missed leaks a
// credential into every copy of the result.
constexpr bool is_secret_header(std::string_view name) noexcept {
  for (std::string_view secret : {"cookie", "set-cookie"})
    if (iequals(name, secret)) return true;
  for (std::string_view part : {"token", "secret", "key", "password", "passwd", "auth", "session",
                                "credential", "signature"})
    if (icontains(name, part)) return true;
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
