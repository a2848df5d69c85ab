#pragma once
// The responses every route builds, in one place: a body with its
// Content-Type, and errors as {"error": "..."} with application/json.

#include <boost/beast/http/status.hpp>
#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>

#include "http/http_server.h"
#include "models/model_manager.h"

namespace servelab::serve {

inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kEventStream = "text/event-stream";
inline constexpr std::string_view kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

// What an answer takes from its request: the HTTP version and whether the
// connection stays open. Kept apart from the request, so that an answer
// made later (on a compute or loader thread) needs no request.
struct ReplyTo {
  unsigned version = 11;
  bool keep_alive = true;
  ReplyTo() = default;
  // Implicit, so that every helper takes a request as well.
  ReplyTo(const http::Request& request)
      : version(request.version()), keep_alive(request.keep_alive()) {}
};

http::Response make_response(ReplyTo to, boost::beast::http::status status, std::string body,
                             std::string_view content_type = kJson);
http::Response json_response(ReplyTo to, boost::beast::http::status status,
                             const boost::json::value& body);
// {"error": message}
http::Response error_response(ReplyTo to, boost::beast::http::status status,
                              std::string_view message);
// 405 with Allow: `allow` and "method M not allowed; use ALLOW".
http::Response method_not_allowed(ReplyTo to, std::string_view method, std::string_view allow);
// 503 with Retry-After: 1 (RFC 9110 15.6.4: seconds), so that well-behaved
// clients back off: a full queue, shutdown.
http::Response overloaded(ReplyTo to, std::string_view message);
// The answer to a model that could not be leased (ModelManager::acquire):
// 404 when unknown, else 503 with the manager's reason (load failed, timed
// out, too large for the budget, shutting down) naming the model; the
// transient ones carry Retry-After.
http::Response acquire_error(ReplyTo to, const std::string& model,
                             const models::Acquired& acquired);

}  // namespace servelab::serve
