#include "runner/server_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "runner/http_get.h"

extern char** environ;

namespace servelab::runner {
namespace {

using Clock = std::chrono::steady_clock;

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("ended with wait status {}", status);
}

// Reads stdout of the child until the "listening http://..." line, the
// deadline, or EOF (the child died). Returns the URL.
Result<std::string> read_listening_line(int fd, Clock::time_point deadline) {
  std::string buffer;
  char chunk[256];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return make_error("no 'listening' line before the deadline");
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return make_error("server closed its stdout before listening");
    buffer.append(chunk, static_cast<size_t>(got));
    for (size_t eol; (eol = buffer.find('\n')) != std::string::npos;) {
      std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 1);
      constexpr std::string_view kPrefix = "listening ";
      if (line.rfind(kPrefix, 0) == 0) return line.substr(kPrefix.size());
    }
  }
}

}  // namespace

std::string tail_of_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const auto size = static_cast<size_t>(in.tellg());
  const size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(size - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

Result<ServerProcess> ServerProcess::start(const ServerProcessConfig& config) {
  if (::access(config.executable.c_str(), X_OK) != 0)
    return make_error(
        fmt::format("server executable {} not found or not executable", config.executable));
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return make_error(fmt::format("pipe: {}", std::strerror(errno)));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  if (!config.log_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, config.log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);

  std::vector<std::string> args{config.executable, "--port", "0"};
  args.insert(args.end(), config.args.begin(), config.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Own process group: a Ctrl-C at the terminal interrupts the generator,
  // which then stops the server itself after writing its partial result,
  // instead of the server draining away under a still-running measurement.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  // The generator blocks SIGINT/SIGTERM to sigwait() for them; the server
  // must start with them unblocked and at their defaults.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(
      &attr,
      static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));

  ServerProcess proc;
  proc.config_ = config;
  const int rc =
      ::posix_spawn(&proc.pid_, config.executable.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    proc.pid_ = -1;
    return make_error(fmt::format("spawn {}: {}", config.executable, std::strerror(rc)));
  }

  const auto deadline = Clock::now() + config.ready_timeout;
  auto url = read_listening_line(out_pipe[0], deadline);
  ::close(out_pipe[0]);  // the server writes nothing else to stdout that we need
  auto fail = [&](const std::string& why) -> Result<ServerProcess> {
    const Exit exit = proc.stop();
    std::string log = config.log_path.empty() ? "" : tail_of_file(config.log_path);
    return make_error(fmt::format("servelab-server did not become ready: {} (server {}){}{}", why,
                                  exit.description, log.empty() ? "" : "; its log ends with:\n",
                                  log));
  };
  if (!url) return fail(url.error().message);
  proc.base_url_ = *url;

  // Listening is not ready: models may still be loading.
  for (;;) {
    auto reply = http_get(proc.base_url_ + "/v2/health/ready", std::chrono::milliseconds(1000));
    if (reply && reply->status == 200) break;
    int status = 0;
    if (::waitpid(proc.pid_, &status, WNOHANG) == proc.pid_) {
      proc.pid_ = -1;
      return make_error(fmt::format(
          "servelab-server {} before it was ready{}{}", describe_status(status),
          config.log_path.empty() ? "" : "; its log ends with:\n", tail_of_file(config.log_path)));
    }
    if (Clock::now() >= deadline)
      return fail(reply ? fmt::format("/v2/health/ready still answers {}", reply->status)
                        : reply.error().message);
    // Poll interval while the server loads its models; this is a wait on a
    // condition (readiness) with a deadline, not a fixed sleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return proc;
}

ServerProcess::ServerProcess(ServerProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      base_url_(std::move(other.base_url_)),
      config_(std::move(other.config_)) {}

ServerProcess& ServerProcess::operator=(ServerProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) stop();
    pid_ = std::exchange(other.pid_, -1);
    base_url_ = std::move(other.base_url_);
    config_ = std::move(other.config_);
  }
  return *this;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop();
}

ServerProcess::Exit ServerProcess::stop() {
  if (pid_ <= 0) return {false, "not running"};
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + config_.stop_timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return {false, fmt::format("waitpid: {}", std::strerror(errno))};
    }
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return {false, describe_status(status) + " after SIGTERM was ignored"};
    }
    // Waiting for the child to drain and exit: bounded by stop_timeout.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return {clean, describe_status(status)};
}

}  // namespace servelab::runner
