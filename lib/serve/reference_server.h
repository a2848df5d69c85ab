#pragma once
// servelab-server's start-up and shutdown, kept out of its main() so that it
// is tested: open the model repository under a model manager (which loads
// models when they are needed, or eagerly in the background with async
// loading), serve its API (serve/inference_api.h) over HttpServer, and on
// SIGINT/SIGTERM stop accepting, shut the manager down, finish the requests
// in flight and return. run_server() is all of servelab-server but its flags.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/completions_api.h"
#include "serve/inference_api.h"
#include "serve/server_config.h"

namespace servelab::serve {

class ReferenceServer {
 public:
  // Opens the repository (reading every model.toml, loading no weights yet)
  // and builds the API; does not listen yet. Error only when the repository
  // as a whole is unusable (unreadable folder, unknown or cyclic
  // depends_on); a model that fails is kept with its error.
  static Result<std::unique_ptr<ReferenceServer>> open(ServerConfig config);
  ~ReferenceServer();
  ReferenceServer(const ReferenceServer&) = delete;
  ReferenceServer& operator=(const ReferenceServer&) = delete;

  models::ModelManager& manager() { return *manager_; }
  InferenceApi& api() { return *api_; }
  CompletionsApi& completions() { return api_->completions(); }
  const http::ConnectionStats& connection_stats() const { return server_->stats(); }
  // Whether an API key protects some routes (serve/api_key_auth.h).
  bool authenticated() const noexcept { return authenticated_; }

  // Starts the manager (async: eager models begin loading in the
  // background), binds and starts serving. Error if the address cannot be bound.
  Status start();
  uint16_t port() const { return server_->port(); }  // REQUIRES: start() succeeded

  // Blocks until SIGINT, SIGTERM or request_stop(); then reports not-ready,
  // stops accepting, stops the completions being generated (streams cut,
  // whole answers 503), shuts the manager down (queued loads cancelled, their
  // requests answered 503; running loads finish), lets the other in-flight
  // requests finish and joins the threads.
  void run_until_stopped();
  // Ends run_until_stopped() (also when called before it). Any thread.
  void request_stop();

 private:
  ReferenceServer(ServerConfig config, std::unique_ptr<models::ModelManager> manager);

  ServerConfig config_;
  std::unique_ptr<models::ModelManager> manager_;
  std::unique_ptr<InferenceApi> api_;
  std::unique_ptr<http::HttpServer> server_;
  bool authenticated_ = false;
  boost::asio::io_context signal_ioc_;  // runs only inside run_until_stopped()
  // Installed by start(), before the server announces that it listens: a
  // launcher may send SIGTERM as soon as it has read the address, and that
  // signal must drain the server, not kill it.
  std::unique_ptr<boost::asio::signal_set> signals_;
};

// What servelab-server does once its flags are read: raises the open-file
// limit, opens the repository, prints the model lines to stderr, starts,
// prints the one line launchers parse to stdout ("listening
// http://HOST:PORT"), serves until SIGINT or SIGTERM and returns the exit
// status: 0 after a clean shutdown, kExitStartup when the repository cannot
// be opened or the address cannot be bound.
inline constexpr int kExitStartup = 1;
// The URL of a server listening on `host` and `port`: "http://HOST:PORT",
// "http://[::1]:PORT" for an IPv6 address. A host beyond loopback without a
// key gets a warning on stderr (see is_loopback_host()).
std::string listen_url(std::string_view host, uint16_t port);
int run_server(const ServerConfig& config);

// Raises the soft open-file limit to the hard one so that the server can hold
// as many connections as a stress scenario opens (Debian's soft default is
// 1024). Returns the limit now in force.
Result<uint64_t> raise_open_file_limit();

}  // namespace servelab::serve
