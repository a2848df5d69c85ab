#pragma once
// What the server fuzz targets share: the real InferenceApi (router, v2,
// repository, metrics and completions routes) over a small model repository
// written once per process into a temporary folder by the same code as
// `servelab models make`, removed at exit. Sync loading, so that a model
// loads on its first request on the calling thread and every input is
// answered before LLVMFuzzerTestOneInput returns. listen() puts the same
// HttpServer in front of it that servelab-server has (serve/reference_server.cpp
// wires it the same way), on an ephemeral loopback port.

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "http/http_server.h"
#include "models/model_manager.h"
#include "models/repository_maker.h"
#include "serve/inference_api.h"

namespace servelab::fuzz {

class FuzzServer {
 public:
  // mlp-0: 4 -> 8 -> 2; tok-0: a token model with a 16-wide state.
  FuzzServer() {
    // SERVELAB_FUZZ_REPOSITORY=DIR writes the repository there and keeps it
    // (how the seeds of safetensors_fuzz and model_config_fuzz were made).
    if (const char* keep = std::getenv("SERVELAB_FUZZ_REPOSITORY"); keep != nullptr && *keep) {
      dir_ = keep;
      keep_ = true;
    } else {
      char pattern[] = "/tmp/servelab-fuzz-XXXXXX";
      if (::mkdtemp(pattern) == nullptr) std::abort();
      dir_ = pattern;
    }
    models::MakeOptions mlp;
    mlp.dims = {4, 8, 2};
    models::MakeOptions tokens;
    tokens.kind = "tokens";
    tokens.prefix = "tok";
    tokens.hidden = 16;
    if (!models::make_repository(dir_, mlp).ok() || !models::make_repository(dir_, tokens).ok()) {
      std::abort();
    }
    models::ManagerOptions manager;
    manager.async = false;
    manager.prediction = false;
    auto opened = models::ModelManager::open(dir_, manager);
    if (!opened.ok()) std::abort();
    manager_ = std::move(opened).value();
    serve::ApiOptions api;
    api.async_loading = false;
    api.compute_threads = 1;
    serve::CompletionsOptions completions;
    // Tokens per completion: kept small so that one input takes milliseconds
    // (the parsing and routing under test do not depend on it).
    completions.max_tokens_limit = 64;
    api_ = std::make_unique<serve::InferenceApi>(*manager_, api, completions);
  }
  ~FuzzServer() {
    if (http_) {
      http_->stop();
      http_->join();
    }
    http_.reset();
    api_.reset();
    manager_.reset();
    std::error_code ec;
    if (!keep_) std::filesystem::remove_all(dir_, ec);
  }

  serve::InferenceApi& api() { return *api_; }

  // Starts the HTTP server (once) with servelab-server's default limits and
  // one network thread; returns its port.
  uint16_t listen() {
    if (!http_) {
      http::ServerConfig config;  // 8 KiB headers, 16 MiB bodies, the default timeouts
      config.host = "127.0.0.1";
      config.port = 0;
      config.threads = 1;
      serve::InferenceApi* api = api_.get();
      http_ = std::make_unique<http::HttpServer>(
          config, http::AsyncHandler([api](http::Request&& request, http::Responder respond) {
            api->handle_async(std::move(request), std::move(respond));
          }));
      if (!http_->start().ok()) std::abort();
      api_->metrics().set_connection_stats(&http_->stats());
    }
    return http_->port();
  }

  // One per process; destroyed at exit (removing the folder).
  static FuzzServer& instance() {
    static FuzzServer server;
    return server;
  }

 private:
  std::string dir_;
  bool keep_ = false;
  std::unique_ptr<models::ModelManager> manager_;
  std::unique_ptr<serve::InferenceApi> api_;
  std::unique_ptr<http::HttpServer> http_;
};

}  // namespace servelab::fuzz
