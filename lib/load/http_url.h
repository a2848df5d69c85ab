#pragma once
// A plain http:// URL taken apart the way the native transport needs it:
// where to connect, what to put in the request line and in Host. Anything
// else (https, userinfo, a port that is not a number) is refused: libcurl
// runs those.

#include <optional>
#include <string>
#include <string_view>

namespace servelab::load {

struct HttpUrl {
  std::string host;  // as written; brackets removed from an IPv6 literal
  std::string port;  // decimal digits; "80" when absent
  std::string path;  // origin-form request target ("/" when absent), without the fragment

  // The Host header's value: host, in brackets when it is an IPv6 literal,
  // then ":port" unless the port is 80.
  std::string authority() const;
};

// `url` taken apart, or nullopt unless it is http:// (any case) with a
// non-empty host, no userinfo and a numeric port.
std::optional<HttpUrl> parse_http_url(std::string_view url);

}  // namespace servelab::load
