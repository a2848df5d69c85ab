#pragma once
// Optional bearer-token authentication of servelab-server (RFC 6750): with a
// key, a request to a protected route must carry "Authorization: Bearer KEY"
// or it is answered 401 with WWW-Authenticate: Bearer and {"error": ...}.
// The health probes (/v2/health/live and /ready) are never protected: load
// balancers and launchers poll them without credentials, and they say only
// whether the server is up. The key is compared in constant time and never
// printed, logged or echoed.

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/http_server.h"
#include "serve/server_config.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

class ApiKeyAuth {
 public:
  // No key: protects nothing.
  ApiKeyAuth() = default;
  // The key from options.api_key or the first line of options.api_key_file
  // (trailing whitespace dropped), and the route groups of options.protect.
  // Error: both or an empty key, an unreadable file, an unknown group (the
  // message names the file or group, never the key).
  static Result<ApiKeyAuth> make(const AuthOptions& options);

  bool enabled() const noexcept { return !key_.empty(); }
  bool protects(Route route) const noexcept {
    return enabled() && protected_[static_cast<size_t>(route)];
  }
  // The 401 for `request` to a protected route, or nothing when it carries
  // the key. No allocation when the key matches.
  std::optional<http::Response> refuse(const http::Request& request) const;
  // Whether `token` is the key; the time taken depends on the key's length
  // only (not on the token's length nor on where they differ).
  bool matches(std::string_view token) const noexcept;

 private:
  std::string key_;
  std::array<bool, kRouteCount> protected_{};
};

// Whether `host` (a --host value) is a loopback address or "localhost":
// binding anything else without a key is worth a warning.
bool is_loopback_host(std::string_view host);

}  // namespace servelab::serve
