#include "serve/reference_server.h"

#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

namespace servelab::serve {

Result<std::unique_ptr<ReferenceServer>> ReferenceServer::open(ReferenceServerConfig config) {
  auto manager = models::ModelManager::open(config.models_dir, config.manager);
  if (!manager) return std::move(manager).error();
  return std::unique_ptr<ReferenceServer>(new ReferenceServer(std::move(config), std::move(manager).value()));
}

ReferenceServer::ReferenceServer(ReferenceServerConfig config, std::unique_ptr<models::ModelManager> manager)
    : config_(std::move(config)), manager_(std::move(manager)) {
  config_.api.async_loading = config_.manager.async;
  config_.api.load_wait_timeout = config_.manager.wait_timeout;
  api_ = std::make_unique<InferenceApi>(*manager_, config_.api);
  InferenceApi* api = api_.get();
  // /v1/completions finds its models through the model manager. The lookup
  // is synchronous: a ready model (the usual case: tokens models preload
  // eagerly) or a sync-mode inline load answers at once; a model that is
  // still loading in async mode answers 503 "loading, retry" while its load
  // goes on, so that no network thread ever waits for a load.
  models::ModelManager* mgr = manager_.get();
  const auto wait = config_.manager.wait_timeout;
  CompletionsOptions completions = config_.completions;
  if (completions.compute_threads == 0) completions.compute_threads = config_.api.compute_threads;
  completions_ = std::make_unique<CompletionsApi>(
      [mgr, wait](std::string_view name) -> ModelLookupResult {
        struct Pending {
          std::mutex mu;
          bool done = false, abandoned = false;
          models::Acquired got;
        };
        auto pending = std::make_shared<Pending>();
        mgr->acquire(name, std::chrono::steady_clock::now() + wait, [pending](models::Acquired a) {
          std::lock_guard lock(pending->mu);
          if (pending->abandoned) return;  // the lease is dropped here: the model stays loaded
          pending->done = true;
          pending->got = std::move(a);
        });
        std::lock_guard lock(pending->mu);
        if (!pending->done) {
          pending->abandoned = true;
          return {nullptr, 503, "model '" + std::string(name) + "' is loading; retry"};
        }
        models::Acquired& a = pending->got;
        if (a.error == models::AcquireError::not_found) {
          return {nullptr, 404, "model '" + std::string(name) + "' not found"};
        }
        if (!a.ok()) return {nullptr, 503, a.message};
        // The aliasing pointer keeps the lease (the model's pin) for as long
        // as the completion holds the model.
        auto lease = std::make_shared<models::ModelLease>(std::move(a.lease));
        const models::Model* model = lease->get();
        return {std::shared_ptr<const models::Model>(std::move(lease), model), 200, {}};
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
  manager_->shutdown();  // answers requests waiting for a model
  server_->join();  // waits for answers still being computed
  completions_->shutdown();
  api_->shutdown();
}

Status ReferenceServer::start() {
  manager_->start();
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
  // Queued loads are cancelled (their requests get 503) and running ones
  // finish (their requests are computed), so that join() does not wait for
  // load deadlines.
  manager_->shutdown();
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
