#pragma once
// Credentials never leave the generator in its output: result.json, the
// reports (md, csv, html) and the console show URLs and header values through
// these functions. The run itself uses the real values; the scenario runner
// redacts the copy it records (runner/scenario_runner.cpp).

#include <string>
#include <string_view>

namespace servelab {

// What a redacted URL part becomes.
inline constexpr std::string_view kRedacted = "***";

// True for a query parameter (or other key) name that looks like it carries a
// credential: token, access_token, api_key, apikey, key, secret, password,
// sig, signature, auth, session, credential... (ASCII case-insensitive;
// "contains", so X-Amz-Signature and client_secret count too).
bool is_secret_name(std::string_view name) noexcept;

// `url` with its userinfo ("user:pw@") replaced by "***@" and the value of
// every secret-looking query parameter by "***". Works on absolute URLs and
// on paths ("/v1/x?token=abc" -> "/v1/x?token=***"); text that is neither is
// returned unchanged.
std::string redact_url(std::string_view url);

// `text` with every URL-like word in it redacted as by redact_url: a word
// (a run of characters other than whitespace and quotes) containing "://" or
// '?'. For free text that may quote a URL: request names ("http GET
// /x?key=1"), error messages ("GET http://u:p@h/: ..."), --set arguments.
std::string redact_text(std::string_view text);

}  // namespace servelab
