#include "common/redact.h"

#include "common/headers.h"

namespace servelab {

bool is_secret_name(std::string_view name) noexcept {
  if (iequals(name, "sig") || iequals(name, "pw") || iequals(name, "pass")) return true;
  // Header names and query parameter names share the patterns.
  return is_secret_header(name);
}

std::string redact_url(std::string_view url) {
  std::string out;
  out.reserve(url.size());
  size_t pos = 0;
  // Userinfo: between "://" and the last '@' before the authority ends.
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    const size_t authority = scheme + 3;
    size_t end = url.find_first_of("/?#", authority);
    if (end == std::string_view::npos) end = url.size();
    const size_t at = url.substr(authority, end - authority).rfind('@');
    out.append(url.substr(0, authority));
    if (at != std::string_view::npos) {
      out.append(kRedacted);
      pos = authority + at;  // keeps the '@'
    } else {
      pos = authority;
    }
  }
  const size_t query = url.find('?', pos);
  if (query == std::string_view::npos) {
    out.append(url.substr(pos));
    return out;
  }
  out.append(url.substr(pos, query + 1 - pos));
  size_t fragment = url.find('#', query);
  if (fragment == std::string_view::npos) fragment = url.size();
  // name=value pairs separated by '&' (or ';', an old form servers still take).
  size_t p = query + 1;
  while (p < fragment) {
    size_t end = url.find_first_of("&;", p);
    if (end == std::string_view::npos || end > fragment) end = fragment;
    const std::string_view pair = url.substr(p, end - p);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && is_secret_name(pair.substr(0, eq))) {
      out.append(pair.substr(0, eq + 1));
      out.append(kRedacted);
    } else {
      out.append(pair);
    }
    if (end < fragment) out.push_back(url[end]);
    p = end + 1;
  }
  out.append(url.substr(fragment));
  return out;
}

std::string redact_text(std::string_view text) {
  constexpr std::string_view kBreaks = " \t\r\n\"'`<>";
  std::string out;
  out.reserve(text.size());
  size_t p = 0;
  while (p < text.size()) {
    const size_t word_end = [&] {
      const size_t e = text.find_first_of(kBreaks, p);
      return e == std::string_view::npos ? text.size() : e;
    }();
    if (word_end == p) {
      out.push_back(text[p++]);
      continue;
    }
    std::string_view word = text.substr(p, word_end - p);
    // Punctuation that ends a sentence or a "GET <url>: error" is not the URL's.
    size_t keep = word.size();
    while (keep > 0 && std::string_view(",.;:)]").find(word[keep - 1]) != std::string_view::npos)
      --keep;
    const std::string_view tail = word.substr(keep);
    word = word.substr(0, keep);
    if (word.find("://") != std::string_view::npos || word.find('?') != std::string_view::npos)
      out.append(redact_url(word));
    else
      out.append(word);
    out.append(tail);
    p = word_end;
  }
  return out;
}

}  // namespace servelab
