#include "scenario/one_liner.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <sstream>
#include <string_view>

#include "common/redact.h"

namespace servelab::scenario {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_url_argument(const std::string& argument) {
  return argument.starts_with("http://") || argument.starts_with("https://");
}

Result<std::string> one_liner_toml(const OneLiner& o) {
  if (!is_url_argument(o.url))
    return make_error(fmt::format("'{}': expected an http:// or https:// URL", o.url));
  // Split "scheme://authority/path?query" into the target (scheme and
  // authority) and the request's path.
  const size_t authority = o.url.find("://") + 3;
  const size_t slash = o.url.find_first_of("/?#", authority);
  const std::string origin = o.url.substr(0, slash);
  // "http://h:1" → "/", "http://h:1?x=1" → "/?x=1". Appended rather than
  // inserted: inserting a literal trips GCC 12's false -Wrestrict (bug 105329).
  std::string path(1, '/');
  if (slash != std::string::npos) path.append(o.url, o.url[slash] == '/' ? slash + 1 : slash);
  if (origin.size() <= authority)
    return make_error(
        fmt::format("'{}': expected a host after {}", o.url, o.url.substr(0, authority)));

  toml::table headers;
  for (const std::string& h : o.headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || trim(std::string_view(h).substr(0, colon)).empty())
      return make_error(fmt::format("-H '{}': expected Name: value", h));
    const std::string name(trim(std::string_view(h).substr(0, colon)));
    // A scenario's headers are a table: one value per name.
    if (!headers.insert(name, std::string(trim(std::string_view(h).substr(colon + 1)))).second)
      return make_error(
          fmt::format("-H '{}': header {} is given twice (a scenario sends one "
                      "value per header name)",
                      h, name));
  }

  toml::table load{{"mode", o.rate ? "open" : "closed"},
                   {"connections", o.connections},
                   {"duration", o.duration}};
  if (o.rate) load.insert("rate", *o.rate);
  if (o.threads) load.insert("threads", *o.threads);
  if (!o.timeout.empty()) load.insert("timeout", o.timeout);

  toml::table request{{"kind", "http"}, {"name", "url"}, {"method", o.method}, {"url", path}};
  if (!headers.empty()) request.insert("headers", std::move(headers));
  if (!o.body.empty()) request.insert("body", o.body);

  toml::table root{
      {"name", "url"},
      // Redacted: the description is echoed into result.json.
      {"description", fmt::format("{} {} from the command line", o.method, redact_url(o.url))},
      {"target", origin},
      {"load", std::move(load)},
      {"requests", toml::array{std::move(request)}}};
  std::ostringstream out;
  out << "# Made by `servelab run URL`: keep it as a file and run it with\n"
         "# `servelab run FILE.toml` for the same measurement.\n"
      << root << "\n";
  return out.str();
}

}  // namespace servelab::scenario
