#include "serve/reference_server.h"

#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

namespace servelab::serve {

Result<std::unique_ptr<ReferenceServer>> ReferenceServer::open(ReferenceServerConfig config) {
  auto repository = models::ModelRepository::open(config.models_dir);
  if (!repository) return std::move(repository).error();
  return std::unique_ptr<ReferenceServer>(new ReferenceServer(std::move(config), std::move(repository).value()));
}

ReferenceServer::ReferenceServer(ReferenceServerConfig config, models::ModelRepository repository)
    : config_(std::move(config)), repository_(std::move(repository)) {
  // The API holds a reference to repository_, which no longer moves.
  api_ = std::make_unique<InferenceApi>(repository_, config_.api);
  InferenceApi* api = api_.get();
  // /v1/completions finds its models through this lookup (the model manager
  // takes over here when models load asynchronously).
  const models::ModelRepository* repo = &repository_;
  CompletionsOptions completions = config_.completions;
  if (completions.compute_threads == 0) completions.compute_threads = config_.api.compute_threads;
  completions_ = std::make_unique<CompletionsApi>(
      [repo](std::string_view name) -> ModelLookupResult {
        const models::ModelEntry* entry = repo->find(name);
        if (!entry) return {nullptr, 404, "model '" + std::string(name) + "' not found"};
        if (!entry->model)
          return {nullptr, 503, "model '" + entry->config.name + "' failed to load: " + entry->error};
        return {entry->model, 200, {}};
      },
      completions);
  CompletionsApi* completions_api = completions_.get();
  api_->metrics().add_render_source([completions_api](std::string& out) { completions_api->render_metrics(out); });
  server_ = std::make_unique<http::HttpServer>(
      config_.http, http::AsyncHandler([api, completions_api](http::Request&& request, http::Responder respond) {
        if (CompletionsApi::serves(request.target())) {
          completions_api->handle_async(std::move(request), std::move(respond));
          return;
        }
        api->handle_async(std::move(request), std::move(respond));
      }));
  api_->metrics().set_connection_stats(&server_->stats());
}

ReferenceServer::~ReferenceServer() {
  server_->stop();
  server_->join();  // waits for answers still being computed
  completions_->shutdown();
  api_->shutdown();
}

Status ReferenceServer::start() {
  signals_ = std::make_unique<boost::asio::signal_set>(signal_ioc_, SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code&, int) { signal_ioc_.stop(); });
  return server_->start();
}

void ReferenceServer::run_until_stopped() {
  signal_ioc_.run();
  if (signals_) {
    boost::system::error_code ec;
    signals_->cancel(ec);
  }
  api_->set_draining(true);
  server_->stop();
  server_->join();  // in-flight requests (queued in batchers too) are computed and answered
  completions_->shutdown();
  api_->shutdown();
}

void ReferenceServer::request_stop() {
  boost::asio::post(signal_ioc_, [this] { signal_ioc_.stop(); });
}

Result<uint64_t> raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return make_error(std::string("getrlimit: ") + std::strerror(errno));
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return make_error(std::string("setrlimit: ") + std::strerror(errno));
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace servelab::serve
