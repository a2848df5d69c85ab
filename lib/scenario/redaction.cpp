#include "scenario/redaction.h"

#include <toml++/toml.h>

#include <sstream>
#include <vector>

#include "common/headers.h"
#include "common/redact.h"

namespace servelab::scenario {
namespace {

// Every string in `node` redacted as free text; in a table called "headers"
// (or any table, for a key that looks secret) the secret values replaced.
// True when something changed.
bool redact_node(toml::node& node, bool in_headers) {
  bool changed = false;
  if (auto* text = node.as_string()) {
    std::string r = redact_text(text->get());
    changed = r != text->get();
    text->get() = std::move(r);
  } else if (auto* array = node.as_array()) {
    for (toml::node& item : *array) changed = redact_node(item, false) || changed;
  } else if (auto* table = node.as_table()) {
    std::vector<std::string> secrets;  // replaced after the walk: not while iterating
    for (auto&& [key, value] : *table) {
      const bool secret = in_headers ? is_secret_header(key.str()) : is_secret_name(key.str());
      if (secret && !value.is_table() && !value.is_array())
        secrets.emplace_back(key.str());
      else
        changed = redact_node(value, key.str() == "headers") || changed;
    }
    for (const std::string& key : secrets)
      table->insert_or_assign(key, std::string(kRedactedHeader));
    changed = changed || !secrets.empty();
  }
  return changed;
}

}  // namespace

Scenario redacted(const Scenario& s) {
  Scenario out = s;
  out.target = redact_url(s.target);
  out.pool.health_check_path = redact_url(s.pool.health_check_path);
  for (RequestSpec& r : out.requests) {
    r.url = redact_url(r.url);
    r.name = redact_text(r.name);
    for (Header& h : r.headers)
      if (is_secret_header(h.name)) h.value = kRedactedHeader;
  }
  return out;
}

std::string redact_override(std::string_view assignment) {
  const size_t equals = assignment.find('=');
  if (equals == std::string_view::npos) return redact_text(assignment);
  const std::string_view key = assignment.substr(0, equals);
  const std::string_view value = assignment.substr(equals + 1);
  const std::string prefix(assignment.substr(0, equals + 1));
  // The last part of the key names what is set: a header (after "headers.")
  // or a key that looks secret.
  const size_t dot = key.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? key : key.substr(dot + 1);
  const bool header = dot != std::string_view::npos && key.substr(0, dot).ends_with("headers");
  if (header ? is_secret_header(last) : is_secret_name(last))
    return prefix + std::string(kRedactedHeader);
  // A TOML table or array ({Authorization = "..."}, [[...]]): its secret
  // entries replaced, written back as TOML. Anything else is a plain value.
  try {
    toml::table doc = toml::parse("v = " + std::string(value));
    toml::node* v = doc.get("v");
    if (doc.size() == 1 && v != nullptr && (v->is_table() || v->is_array())) {
      if (!redact_node(*v, last == "headers")) return std::string(assignment);
      std::ostringstream text;
      if (v->is_table())
        text << toml::toml_formatter(*v->as_table(), toml::format_flags::none);
      else
        text << toml::toml_formatter(*v->as_array(), toml::format_flags::none);
      return prefix + text.str();
    }
  } catch (const toml::parse_error&) {
    // Not TOML: a plain string (overrides.cpp takes it so too).
  }
  // headers=<not a table>: most likely a curl-style "Name: value" line, whose
  // value may be a credential. The run refuses it; the echo must not show it.
  if (last == "headers") return prefix + std::string(kRedactedHeader);
  return prefix + redact_text(value);
}

std::vector<std::string> redact_overrides(const std::vector<std::string>& assignments) {
  std::vector<std::string> out;
  out.reserve(assignments.size());
  for (const std::string& a : assignments) out.push_back(redact_override(a));
  return out;
}

}  // namespace servelab::scenario
