#include "serve/reference_server.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "common/byte_size.h"
#include "common/url_host.h"

namespace servelab::serve {

Result<std::unique_ptr<ReferenceServer>> ReferenceServer::open(ServerConfig config) {
  auto auth = ApiKeyAuth::make(config.auth);
  if (!auth) return std::move(auth).error();
  if (!config.manager.on_load_failed) {
    // A load that fails later (a corrupt or oversized file) is logged like
    // the failures found at start; the model stays UNAVAILABLE with the reason.
    config.manager.on_load_failed = [](const std::string& name, const std::string& reason) {
      fmt::print(stderr, "model {}: FAILED: {}\n", name, reason);
    };
  }
  auto manager = models::ModelManager::open(config.models_dir, config.manager);
  if (!manager) return std::move(manager).error();
  auto server = std::unique_ptr<ReferenceServer>(
      new ReferenceServer(std::move(config), std::move(manager).value()));
  server->authenticated_ = auth->enabled();
  server->api_->set_auth(std::move(auth).value());
  return server;
}

std::string listen_url(std::string_view host, uint16_t port) {
  return fmt::format("http://{}:{}", url_host(host), port);
}

ReferenceServer::ReferenceServer(ServerConfig config, std::unique_ptr<models::ModelManager> manager)
    : config_(std::move(config)), manager_(std::move(manager)) {
  config_.api.async_loading = config_.manager.async;
  config_.api.load_wait_timeout = config_.manager.wait_timeout;
  api_ = std::make_unique<InferenceApi>(*manager_, config_.api, config_.completions);
  InferenceApi* api = api_.get();
  server_ = std::make_unique<http::HttpServer>(
      config_.http, http::AsyncHandler([api](http::Request&& request, http::Responder respond) {
        api->handle_async(std::move(request), std::move(respond));
      }));
  api_->metrics().set_connection_stats(&server_->stats());
}

ReferenceServer::~ReferenceServer() {
  server_->stop();
  api_->completions().shutdown();  // generations stop: join() need not wait for them
  manager_->shutdown();            // answers requests waiting for a model
  server_->join();                 // waits for answers still being computed
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
  // Generations in flight stop before their next token (streams are cut,
  // whole answers get 503): a thousand long completions must not hold the
  // exit for the seconds or minutes they would take to finish.
  api_->completions().shutdown();
  // Queued loads are cancelled (their requests get 503) and running ones
  // finish (their requests are computed), so that join() does not wait for
  // load deadlines.
  manager_->shutdown();
  server_->join();  // in-flight requests (queued in batchers too) are computed and answered
  api_->shutdown();
}

void ReferenceServer::request_stop() {
  boost::asio::post(signal_ioc_, [this] { signal_ioc_.stop(); });
}

Result<uint64_t> raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return make_error(std::string("getrlimit: ") + std::strerror(errno));
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
      return make_error(std::string("setrlimit: ") + std::strerror(errno));
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

int run_server(const ServerConfig& config) {
  if (auto limit = raise_open_file_limit(); !limit) {
    fmt::print(stderr, "servelab-server: warning: {}\n", limit.error().message);
  }
  auto server = ReferenceServer::open(config);
  if (!server) {
    fmt::print(stderr, "servelab-server: {}\n", server.error().message);
    return kExitStartup;
  }
  for (const auto& status : (*server)->manager().index()) {
    if (status.state == models::ModelState::failed) {
      fmt::print(stderr, "model {}: FAILED: {}\n", status.name, status.reason);
    }
  }
  const models::ManagerOptions& manager = config.manager;
  fmt::print(
      stderr,
      "models: {} in {} (async loading {}, memory budget {}, {} loader threads, prediction {})\n",
      (*server)->manager().configs().size(), config.models_dir, manager.async ? "on" : "off",
      manager.memory_budget == 0 ? std::string("unlimited")
                                 : format_byte_size(manager.memory_budget),
      manager.max_concurrent_loads, manager.async && manager.prediction ? "on" : "off");
  if (auto started = (*server)->start(); !started) {
    fmt::print(stderr, "servelab-server: {}\n", started.error().message);
    return kExitStartup;
  }
  if (config.api.batching) {
    const batch::BatchConfig& batch = config.api.batch;
    fmt::print(
        stderr, "batching on: max {} rows, max delay {} us, compute threads {}\n",
        batch.max_batch_size, batch.max_queue_delay.count(),
        config.api.compute_threads > 0 ? config.api.compute_threads : batch::available_cpus());
  }
  if (!is_loopback_host(config.http.host) && !(*server)->authenticated()) {
    fmt::print(stderr,
               "servelab-server: warning: listening on {} beyond loopback without --api-key: "
               "anyone who can reach it can run inference and load or unload models\n",
               config.http.host);
  }
  // The one line launchers and tests parse; nothing else goes to stdout.
  fmt::print(stdout, "listening {}\n", listen_url(config.http.host, (*server)->port()));
  std::fflush(stdout);

  (*server)->run_until_stopped();
  fmt::print(stderr, "servelab-server: stopped\n");
  return 0;
}

}  // namespace servelab::serve
