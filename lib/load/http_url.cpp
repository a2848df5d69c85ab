#include "load/http_url.h"

#include <algorithm>

#include "common/headers.h"
#include "common/url_host.h"

namespace servelab::load {

std::string HttpUrl::authority() const {
  std::string out = url_host(host);
  if (port != "80") out += ":" + port;
  return out;
}

std::optional<HttpUrl> parse_http_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size() || !iequals(url.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  const std::string_view rest = url.substr(kScheme.size());
  const size_t end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view authority = rest.substr(0, end);
  // The fragment is never sent; a target that is only a query gets its "/".
  std::string_view target = rest.substr(end);
  target = target.substr(0, target.find('#'));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;

  HttpUrl u;
  if (target.empty() || target.front() == '?') u.path = "/";
  u.path += target;
  u.port = "80";
  if (authority.front() == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      u.port = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
  }
  if (u.host.empty() || u.port.empty() ||
      !std::all_of(u.port.begin(), u.port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return u;
}

}  // namespace servelab::load
