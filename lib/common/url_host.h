#pragma once
// A host as a URL's authority writes it: an IPv6 literal in brackets
// (RFC 3986 section 3.2.2), anything else as given. The generator's request
// lines and the server's listening URL both use it.

#include <string>
#include <string_view>

namespace servelab {

inline std::string url_host(std::string_view host) {
  if (host.find(':') == std::string_view::npos || host.starts_with('[')) return std::string(host);
  std::string out;  // appended, not "[" + ... + "]": that trips GCC 12's false -Wrestrict
  out.reserve(host.size() + 2);
  out += '[';
  out += host;
  out += ']';
  return out;
}

}  // namespace servelab
