#include "serve/api_key_auth.h"

#include <openssl/crypto.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <fstream>
#include <utility>

#include "serve/responses.h"

namespace servelab::serve {

namespace bhttp = boost::beast::http;

namespace {

constexpr std::string_view kChallenge = "Bearer realm=\"servelab-server\"";
constexpr std::string_view kInvalidChallenge =
    "Bearer realm=\"servelab-server\", error=\"invalid_token\"";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// The routes of each --protect group.
struct Group {
  std::string_view name;
  std::initializer_list<Route> routes;
};
const Group kGroups[] = {
    {"infer", {Route::infer}},
    {"models", {Route::model_metadata, Route::model_ready}},
    {"repository", {Route::repository}},
    {"metrics", {Route::metrics}},
    {"completions", {Route::completions}},
    {"server", {Route::other}},  // GET /v2 and paths that match no route
};

}  // namespace

Result<ApiKeyAuth> ApiKeyAuth::make(const AuthOptions& options) {
  ApiKeyAuth auth;
  if (!options.api_key.empty() && !options.api_key_file.empty())
    return make_error("--api-key and --api-key-file: give one, not both");
  if (!options.api_key_file.empty()) {
    std::ifstream in(options.api_key_file);
    std::string line;
    if (!in || !std::getline(in, line))
      return make_error("--api-key-file " + options.api_key_file + ": cannot read a key from it");
    auth.key_ = std::string(trim(line));
    if (auth.key_.empty())
      return make_error("--api-key-file " + options.api_key_file + ": the first line is empty");
  } else {
    auth.key_ = std::string(trim(options.api_key));
    if (auth.key_.empty() && !options.api_key.empty())
      return make_error("--api-key: the key is blank");
  }
  // A narrowed --protect without a key would protect nothing, silently.
  if (auth.key_.empty() && options.protect != AuthOptions{}.protect)
    return make_error("--protect " + options.protect +
                      ": protects nothing without --api-key or --api-key-file");
  std::string_view list = options.protect;
  bool any = false;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item.empty()) continue;
    any = true;
    if (item == "all") {
      for (const Group& g : kGroups)
        for (Route r : g.routes) auth.protected_[static_cast<size_t>(r)] = true;
      continue;
    }
    bool known = false;
    for (const Group& g : kGroups) {
      if (g.name != item) continue;
      known = true;
      for (Route r : g.routes) auth.protected_[static_cast<size_t>(r)] = true;
    }
    if (!known) {
      return make_error("--protect: unknown route group '" + std::string(item) +
                        "' (all, infer, models, repository, metrics, completions, server)");
    }
  }
  if (!any) return make_error("--protect: no route group given");
  return auth;
}

bool ApiKeyAuth::matches(std::string_view token) const noexcept {
  // CRYPTO_memcmp needs equal lengths; a token of another length is compared
  // as the key against itself, so that the time never depends on the token.
  const bool same_size = token.size() == key_.size();
  const char* other = same_size ? token.data() : key_.data();
  const bool equal = CRYPTO_memcmp(other, key_.data(), key_.size()) == 0;
  return same_size && equal && !key_.empty();
}

std::optional<http::Response> ApiKeyAuth::refuse(const http::Request& request) const {
  const auto fields = request.equal_range(bhttp::field::authorization);
  const auto count = std::distance(fields.first, fields.second);
  bool present = false;
  bool ok = false;
  if (count == 1) {
    const std::string_view value = fields.first->value();
    constexpr std::string_view kScheme = "bearer";
    if (value.size() > kScheme.size() &&
        boost::beast::iequals(value.substr(0, kScheme.size()), kScheme) &&
        (value[kScheme.size()] == ' ' || value[kScheme.size()] == '\t')) {
      present = true;
      ok = matches(trim(value.substr(kScheme.size())));
    } else {
      present = true;  // another scheme, or no token
    }
  } else if (count > 1) {
    present = true;  // more than one credential: refused, whatever they hold
  }
  if (ok) return std::nullopt;
  http::Response res = error_response(
      request, bhttp::status::unauthorized,
      present ? "invalid credentials: this route needs Authorization: Bearer <api key>"
              : "missing credentials: this route needs Authorization: Bearer <api key>");
  res.set(bhttp::field::www_authenticate, present ? kInvalidChallenge : kChallenge);
  return res;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

}  // namespace servelab::serve
