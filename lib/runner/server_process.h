#pragma once
// Starts servelab-server as a child process on an ephemeral loopback port,
// learns its address from the one line it prints when listening, waits for
// /v2/health/ready, and stops it with SIGTERM (SIGKILL after a deadline).
// Used by `target = "embedded"` runs and by the integration tests.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace servelab::runner {

struct ServerProcessConfig {
  std::string executable;         // path of servelab-server
  std::vector<std::string> args;  // extra flags (--models DIR, --threads N, ...); --port 0 is added
  std::string log_path;           // server stderr goes here ("" = inherit)
  std::chrono::milliseconds ready_timeout{30'000};  // listening line + /v2/health/ready
  std::chrono::milliseconds stop_timeout{10'000};   // SIGTERM → exit, then SIGKILL
};

class ServerProcess {
 public:
  // Spawns the server and waits until it is ready. A server that exits or
  // never becomes ready is an Error with its exit status and the tail of its log.
  static Result<ServerProcess> start(const ServerProcessConfig& config);

  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&& other) noexcept;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();  // kills a still-running server

  const std::string& base_url() const { return base_url_; }  // "http://127.0.0.1:PORT"
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits; returns a description like "exited 0" or
  // "killed by signal 9 after 10 s" and whether it exited with status 0.
  struct Exit {
    bool clean = false;
    std::string description;
  };
  Exit stop();

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  std::string base_url_;
  ServerProcessConfig config_;
};

// The last `max_bytes` of a log file (for error messages).
std::string tail_of_file(const std::string& path, size_t max_bytes = 2000);

}  // namespace servelab::runner
