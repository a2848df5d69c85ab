#include "serve/inference_api.h"

#include <boost/beast/http/verb.hpp>
#include <future>
#include <string>
#include <utility>
#include <vector>

namespace servelab::serve {

namespace bhttp = boost::beast::http;

namespace {

std::vector<std::string> model_names(const models::ModelManager& manager) {
  std::vector<std::string> names;
  for (const auto& config : manager.configs()) names.push_back(config.name);
  return names;
}

// A Router::Handler calling `method` of `api`.
template <class Api, class Method>
Router::Handler to(Api& api, Method method) {
  return [&api, method](http::Request&& request, const PathParams& params, const Reply& reply) {
    (api.*method)(std::move(request), params, reply);
  };
}

}  // namespace

InferenceApi::InferenceApi(models::ModelManager& manager, ApiOptions options,
                           CompletionsOptions completions)
    : manager_(manager),
      metrics_(model_names(manager)),
      pool_(options.compute_threads),
      v2_(manager, pool_, metrics_, options),
      repository_(manager),
      metrics_route_(metrics_),
      completions_(manager, pool_, metrics_, std::move(completions), options.load_wait_timeout),
      router_(metrics_) {
  metrics_.set_model_manager(&manager_, options.async_loading);
  metrics_.add_render_source([this](std::string& out) { completions_.render_metrics(out); });
  metrics_.add_render_source([this](std::string& out) { v2_.render_metrics(out); });
  router_.set_auth(&auth_);
  add_routes();
}

// The route table: every route the server answers, one row each. A path
// that matches no row gets 404, one that matches with another method 405.
void InferenceApi::add_routes() {
  using bhttp::verb;
  Router& r = router_;
  // One row per route, kept as a table.
  // clang-format off
  //    method      path pattern                                   route label            handler
  // Open Inference Protocol v2 (server metadata is counted as "other").
  r.add(verb::get,  "/v2",                                         Route::other,          to(v2_, &V2Api::server_metadata));
  r.add(verb::get,  "/v2/health/live",                             Route::health_live,    to(v2_, &V2Api::health_live));
  r.add(verb::get,  "/v2/health/ready",                            Route::health_ready,   to(v2_, &V2Api::health_ready));
  r.add(verb::get,  "/v2/models/{name}",                           Route::model_metadata, to(v2_, &V2Api::model_metadata));
  r.add(verb::get,  "/v2/models/{name}/versions/{version}",        Route::model_metadata, to(v2_, &V2Api::model_metadata));
  r.add(verb::get,  "/v2/models/{name}/ready",                     Route::model_ready,    to(v2_, &V2Api::model_ready));
  r.add(verb::get,  "/v2/models/{name}/versions/{version}/ready",  Route::model_ready,    to(v2_, &V2Api::model_ready));
  r.add(verb::post, "/v2/models/{name}/infer",                     Route::infer,          to(v2_, &V2Api::infer));
  r.add(verb::post, "/v2/models/{name}/versions/{version}/infer",  Route::infer,          to(v2_, &V2Api::infer));
  // The model repository extension; its unknown paths count as "repository".
  r.add(verb::post, "/v2/repository/index",                        Route::repository,     to(repository_, &RepositoryApi::index));
  r.add(verb::post, "/v2/repository/models/{name}/load",           Route::repository,     to(repository_, &RepositoryApi::load));
  r.add(verb::post, "/v2/repository/models/{name}/unload",         Route::repository,     to(repository_, &RepositoryApi::unload));
  r.label_unmatched("/v2/repository", Route::repository);
  // Prometheus.
  r.add(verb::get,  "/metrics",                                    Route::metrics,        to(metrics_route_, &MetricsRoute::scrape));
  // OpenAI-compatible completions.
  r.add(verb::post, "/v1/completions",                             Route::completions,    to(completions_, &CompletionsApi::complete));
  // clang-format on
}

InferenceApi::~InferenceApi() { shutdown(); }

void InferenceApi::shutdown() {
  if (shut_down_.exchange(true)) return;
  completions_.shutdown();
  // The manager first: it answers every request waiting for a model (queued
  // loads cancelled, running ones finished), which may still post work to
  // the pool.
  manager_.shutdown();
  // The batchers next: draining them still needs the compute threads.
  v2_.shutdown();
  // Last, every forward pass and generation step still queued (and those
  // they post).
  pool_.join();
}

void InferenceApi::handle_async(http::Request&& request, http::Responder responder) {
  router_.handle_async(std::move(request), std::move(responder));
}

void InferenceApi::handle_async(http::Request&& request, Respond respond) {
  router_.handle_async(std::move(request), std::move(respond));
}

http::Response InferenceApi::handle(http::Request&& request) {
  std::promise<http::Response> answer;
  std::future<http::Response> future = answer.get_future();
  handle_async(std::move(request),
               Respond([&answer](http::Response&& r) { answer.set_value(std::move(r)); }));
  return future.get();
}

}  // namespace servelab::serve
