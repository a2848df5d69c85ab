#include "runner/model_metadata.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/redact.h"
#include "runner/http_get.h"

namespace servelab::runner {
namespace json = boost::json;

Result<load::ModelInput> parse_model_input(const std::string& model, const std::string& url,
                                           const std::string& body) {
  json::error_code ec;
  json::value doc = json::parse(body, ec);
  const auto bad = [&](std::string_view what) {
    return make_error(fmt::format("model '{}' metadata from {}: {}", model, url, what));
  };
  if (ec) return bad("not JSON: " + ec.message());
  const json::object* obj = doc.if_object();
  const json::value* inputs = obj ? obj->if_contains("inputs") : nullptr;
  if (!inputs || !inputs->is_array() || inputs->as_array().empty())
    return bad("no \"inputs\" array");
  const json::object* in0 = inputs->as_array().front().if_object();
  const json::value* shape = in0 ? in0->if_contains("shape") : nullptr;
  const json::value* name = in0 ? in0->if_contains("name") : nullptr;
  if (!shape || !shape->is_array() || shape->as_array().empty() || !name || !name->is_string())
    return bad("inputs[0] needs \"name\" and a non-empty \"shape\"");
  if (const json::value* dt = in0->if_contains("datatype");
      dt && dt->is_string() && dt->as_string() != "FP32")
    return bad(fmt::format("inputs[0] datatype is {}, only FP32 is generated",
                           std::string_view(dt->as_string())));
  const json::value& last = shape->as_array().back();
  if (!last.is_int64() && !last.is_uint64()) return bad("inputs[0].shape must hold integers");
  const int64_t width = last.is_int64() ? last.as_int64() : static_cast<int64_t>(last.as_uint64());
  if (width <= 0) return bad(fmt::format("inputs[0] width {} is not positive", width));
  return load::ModelInput{std::string(name->as_string()), width};
}

Result<load::ModelInputs> fetch_model_inputs(const scenario::Scenario& s,
                                             const std::string& base_url) {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  load::ModelInputs inputs;
  for (const std::string& model : load::models_needing_input(s)) {
    const std::string url = fmt::format("{}/v2/models/{}", base, model);
    auto reply = http_get(url, kMetadataTimeout);
    if (!reply) return reply.error();
    const std::string shown = redact_url(url);  // errors reach the console
    if (reply->status != 200)
      return make_error(
          fmt::format("GET {}: HTTP {}: {}", shown, reply->status, reply->body.substr(0, 200)));
    auto input = parse_model_input(model, shown, reply->body);
    if (!input) return input.error();
    inputs.emplace(model, std::move(*input));
  }
  return inputs;
}

}  // namespace servelab::runner
