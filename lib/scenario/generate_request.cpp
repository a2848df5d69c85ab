#include "scenario/generate_request.h"

#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace servelab::scenario {
namespace {

// Bounds that catch typos (an extra zero) rather than limit real use.
constexpr int kMaxTokens = 1'000'000;
constexpr size_t kMaxPrompts = 100'000;
// Body fields the generator writes itself: extra_body may not repeat them.
constexpr std::string_view kOwnFields[] = {"model", "prompt", "max_tokens", "stream", "temperature", "seed"};

bool valid_url(std::string_view text) {
  if (text.starts_with('/')) return true;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (text.starts_with(scheme) && text.size() > scheme.size() && text[scheme.size()] != '/') return true;
  }
  return false;
}

void read_prompts(TableReader& r, RequestSpec& request) {
  const toml::node* one = r.find("prompt");
  const toml::node* many = r.find("prompts");
  if (one != nullptr && many != nullptr) {
    r.error(*many, "prompts", "give either prompt (one string) or prompts (a list), not both");
    return;
  }
  if (one != nullptr) {
    std::string text;
    if (r.read_string("prompt", text)) request.prompts = {std::move(text)};
    return;
  }
  const toml::array* list = r.read_array("prompts");
  if (list == nullptr) return;
  if (list->empty() || list->size() > kMaxPrompts) {
    r.error(*list, "prompts",
            fmt::format("expected 1 to {} prompt strings, got {}", kMaxPrompts, list->size()));
    return;
  }
  std::vector<std::string> prompts;
  bool ok = true;
  for (size_t i = 0; i < list->size(); ++i) {
    const toml::node& node = *list->get(i);
    if (const auto* text = node.as_string()) {
      prompts.push_back(text->get());
    } else {
      r.error(node, fmt::format("prompts[{}]", i), fmt::format("expected a string, got {}", describe(node)));
      ok = false;
    }
  }
  if (ok) request.prompts = std::move(prompts);
}

// extra_body = { ignore_eos = true, top_p = 0.9 }: any TOML table, sent as
// JSON fields of the body (toml++ writes the JSON).
void read_extra_body(TableReader& r, RequestSpec& request) {
  const toml::table* extra = r.read_table("extra_body");
  if (extra == nullptr) return;
  for (std::string_view own : kOwnFields) {
    if (const toml::node* node = extra->get(own)) {
      r.error(*node, fmt::format("extra_body.{}", own),
              fmt::format("is set by the request's own key `{}`; remove it from extra_body", own));
      return;
    }
  }
  std::ostringstream json;
  json << toml::json_formatter{*extra, toml::format_flags::none};
  request.extra_body = json.str();
}

}  // namespace

void read_generate_request(TableReader& r, RequestSpec& request) {
  request.method = "POST";
  request.url = "/v1/completions";
  if (r.find("model") == nullptr) {
    r.missing("model", "the model name the completions server serves (a string)");
  } else if (r.read_string("model", request.model) && request.model.empty()) {
    r.error(*r.find("model"), "model", "expected a model name, got an empty string");
  }
  read_prompts(r, request);
  r.read_int("max_tokens", request.max_tokens, 1, kMaxTokens);
  r.read_bool("stream", request.stream);
  r.read_number("temperature", request.temperature, /*allow_zero=*/true);
  request.send_seed = r.read_uint64("seed", request.seed);
  if (r.read_string("url", request.url) && !valid_url(request.url)) {
    r.error(*r.find("url"), "url",
            fmt::format("expected a path starting with \"/\" or an absolute http:// or https:// URL, got \"{}\"",
                        request.url));
  }
  read_extra_body(r, request);
  if (request.name.empty()) request.name = fmt::format("generate {}", request.model);
}

}  // namespace servelab::scenario
