#include "serve/router.h"

#include <boost/beast/http/status.hpp>
#include <exception>
#include <utility>

#include "serve/responses.h"

namespace servelab::serve {

namespace bhttp = boost::beast::http;

namespace {

// Longest path the route table matches, in segments
// (/v2/models/{name}/versions/{version}/infer has 6); longer paths match
// no route.
constexpr size_t kMaxSegments = 8;

struct Path {
  std::array<std::string_view, kMaxSegments> seg{};
  size_t size = 0;
  bool too_long = false;  // more than kMaxSegments: seg holds the first ones
};

// The non-empty segments of `target` without its query string.
Path split_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  Path p;
  while (!target.empty()) {
    const size_t slash = target.find('/');
    const std::string_view seg = target.substr(0, slash);
    target = slash == std::string_view::npos ? std::string_view{} : target.substr(slash + 1);
    if (seg.empty()) continue;
    if (p.size == kMaxSegments) {
      p.too_long = true;
      break;
    }
    p.seg[p.size++] = seg;
  }
  return p;
}

}  // namespace

std::string_view PathParams::get(std::string_view key) const noexcept {
  for (size_t i = 0; i < size_; ++i)
    if (keys_[i] == key) return values_[i];
  return {};
}

void Router::add(bhttp::verb method, std::string_view pattern, Route label, Handler handler) {
  Entry e{method, {}, label, std::move(handler)};
  const Path p = split_path(pattern);
  for (size_t i = 0; i < p.size; ++i) {
    const std::string_view s = p.seg[i];
    const bool param = s.size() > 2 && s.front() == '{' && s.back() == '}';
    e.pattern.push_back({std::string(param ? s.substr(1, s.size() - 2) : s), param});
  }
  routes_.push_back(std::move(e));
}

void Router::label_unmatched(std::string_view prefix, Route label) {
  Family f{{}, label};
  const Path p = split_path(prefix);
  for (size_t i = 0; i < p.size; ++i) f.prefix.emplace_back(p.seg[i]);
  families_.push_back(std::move(f));
}

void Router::handle_async(http::Request&& request, http::Responder responder) const {
  dispatch(std::move(request), std::move(responder));
}

void Router::handle_async(http::Request&& request, Reply::Send send) const {
  dispatch(std::move(request), std::move(send));
}

template <class Sink>
void Router::dispatch(http::Request&& request, Sink&& sink) const {
  metrics_.request_started();
  const ReplyTo to(request);
  const Path path = split_path(request.target());
  const Entry* found = nullptr;       // path and method match
  const Entry* path_match = nullptr;  // the first route whose path matches
  std::string allow;                  // the methods of the routes whose path matches
  PathParams params;
  if (!path.too_long) {
    for (const Entry& e : routes_) {
      if (e.pattern.size() != path.size) continue;
      bool match = true;
      for (size_t i = 0; i < path.size && match; ++i) {
        match = e.pattern[i].param || e.pattern[i].text == path.seg[i];
      }
      if (!match) continue;
      if (!path_match) path_match = &e;
      if (e.method == request.method()) {
        found = &e;
        break;
      }
      if (!allow.empty()) allow += ", ";
      allow += bhttp::to_string(e.method);
    }
  }

  Route label = Route::other;
  if (found) {
    label = found->label;
  } else if (path_match) {
    label = path_match->label;
  } else {
    for (const Family& f : families_) {
      if (f.prefix.size() > path.size) continue;
      bool match = true;
      for (size_t i = 0; i < f.prefix.size() && match; ++i) match = f.prefix[i] == path.seg[i];
      if (match) {
        label = f.label;
        break;
      }
    }
  }
  // Before 404 and 405 too, so that a client without the key learns nothing
  // about the routes behind it.
  if (auth_ != nullptr && auth_->protects(label)) {
    if (auto refused = auth_->refuse(request)) {
      const Reply reply(std::forward<Sink>(sink), metrics_, label, to);
      reply(std::move(*refused));
      return;
    }
  }

  if (found) {
    for (size_t i = 0; i < path.size; ++i) {
      if (!found->pattern[i].param || params.size_ == PathParams::kMax) continue;
      params.keys_[params.size_] = found->pattern[i].text;
      params.values_[params.size_++] = std::string(path.seg[i]);
    }
    const Reply reply(std::forward<Sink>(sink), metrics_, label, to);
    try {
      found->handler(std::move(request), params, reply);
    } catch (const std::exception&) {  // e.g. bad_alloc on a huge body: answer, keep serving
      reply(error_response(to, bhttp::status::internal_server_error, "internal error"));
    }
    return;
  }
  if (path_match) {
    const Reply reply(std::forward<Sink>(sink), metrics_, label, to);
    reply(method_not_allowed(to, request.method_string(), allow));
    return;
  }
  const Reply reply(std::forward<Sink>(sink), metrics_, label, to);
  reply(error_response(to, bhttp::status::not_found, "no such route"));
}

}  // namespace servelab::serve
