#pragma once
// The route table: method + path pattern → handler, one row per route, each
// with its `route` label for servelab_http_requests_total. The router
// answers what no handler needs to: 404 for a path no route matches, 405
// (with Allow) for a path that matches with another method, 500 for a
// handler that throws; and it counts every request, whoever answers it
// (serve/reply.h). InferenceApi (serve/inference_api.cpp) fills the table.
//
// Paths are matched segment by segment, the query string dropped and empty
// segments skipped ("/v2//models/x/" is "/v2/models/x"); a pattern segment
// "{name}" matches any one segment and hands it to the handler.

#include <array>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_server.h"
#include "serve/api_key_auth.h"
#include "serve/reply.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

// The segments a route's {parameters} matched, by name.
class PathParams {
 public:
  // The segment `key` matched ("name" for "{name}"); empty when the route
  // has no such parameter.
  std::string_view get(std::string_view key) const noexcept;

 private:
  friend class Router;
  static constexpr size_t kMax = 4;
  std::array<std::string_view, kMax> keys_{};  // point into the router's patterns
  std::array<std::string, kMax> values_{};
  size_t size_ = 0;
};

class Router {
 public:
  // Answers through `reply`, at once or later from any thread. Runs on a
  // network thread: must not block (hand slow work to other threads). A
  // handler that throws must not have answered yet (the router answers 500).
  using Handler =
      std::function<void(http::Request&& request, const PathParams& params, const Reply& reply)>;

  // REQUIRES: `metrics` outlives the router.
  explicit Router(ServerMetrics& metrics) : metrics_(metrics) {}

  // Adds a route. `pattern`: "/"-separated segments, each a literal or a
  // "{parameter}". REQUIRES: before the first request; at most one route per
  // (method, pattern).
  void add(boost::beast::http::verb method, std::string_view pattern, Route label, Handler handler);
  // A path that matches no route but begins with the segments of `prefix`
  // is counted under `label` (404); other unmatched paths under
  // Route::other. REQUIRES: before the first request.
  void label_unmatched(std::string_view prefix, Route label);

  // Requests to the routes `auth` protects need its key (401 otherwise),
  // checked before anything else, 404 and 405 included. Null: none.
  // REQUIRES: before the first request; `auth` outlives the router.
  void set_auth(const ApiKeyAuth* auth) noexcept { auth_ = auth; }

  // Dispatches one request. Thread-safe: network threads call it at once.
  // The first streams its answer if the handler wants to; the second takes
  // answers without a connection (tests, tools), so it cannot stream.
  void handle_async(http::Request&& request, http::Responder responder) const;
  void handle_async(http::Request&& request, Reply::Send send) const;

 private:
  struct Segment {
    std::string text;
    bool param = false;  // "{text}"
  };
  struct Entry {
    boost::beast::http::verb method;
    std::vector<Segment> pattern;
    Route label;
    Handler handler;
  };
  struct Family {
    std::vector<std::string> prefix;
    Route label;
  };

  template <class Sink>
  void dispatch(http::Request&& request, Sink&& sink) const;

  ServerMetrics& metrics_;
  const ApiKeyAuth* auth_ = nullptr;
  std::vector<Entry> routes_;
  std::vector<Family> families_;
};

}  // namespace servelab::serve
