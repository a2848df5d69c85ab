#include "fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "load/engine.h"
#include "load/plan.h"
#include "models/repository_maker.h"
#include "runner/scenario_runner.h"

extern char** environ;

namespace servelab::testing {
namespace fs = std::filesystem;

std::string bin_dir() { return std::string(SERVELAB_BINARY_DIR) + "/bin"; }

std::string make_models(const TempDir& dir, int count, std::vector<int> dims) {
  models::MakeOptions o;
  o.count = count;
  o.dims = std::move(dims);
  const std::string repo = (dir.path() / "models").string();
  auto made = models::make_repository(repo, o);
  EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.error().message);
  return repo;
}

runner::ServerProcess start_server(const std::string& models, std::vector<std::string> extra_args,
                                   const std::string& log_path) {
  runner::ServerProcessConfig cfg;
  cfg.executable = bin_dir() + "/servelab-server";
  cfg.args = {"--models", models};
  cfg.args.insert(cfg.args.end(), extra_args.begin(), extra_args.end());
  cfg.log_path = log_path;
  auto proc = runner::ServerProcess::start(cfg);
  if (!proc) {
    ADD_FAILURE() << proc.error().message;
    std::abort();
  }
  return std::move(*proc);
}

double metric(const std::map<std::string, double>& metrics, const std::string& series) {
  const auto it = metrics.find(series);
  return it == metrics.end() ? 0.0 : it->second;
}

scenario::Scenario infer_scenario(const std::string& url, std::chrono::milliseconds duration,
                                  int connections) {
  scenario::Scenario s;
  s.name = "integration";
  s.target = url;
  s.load.connections = connections;
  s.load.duration = duration;
  s.load.timeout = std::chrono::seconds(5);
  scenario::RequestSpec r;
  r.kind = scenario::RequestKind::infer;
  r.name = "infer mlp-0";
  r.model = "mlp-0";
  s.requests.push_back(r);
  return s;
}

ProcessOutput run_cli(const std::vector<std::string>& args, std::chrono::milliseconds deadline) {
  return run_program("servelab", args, "", deadline);
}

ProcessOutput run_program(const std::string& program, const std::vector<std::string>& args,
                          const std::string& input, std::chrono::milliseconds deadline) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  EXPECT_EQ(::pipe2(in_pipe, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
  // The input fits the pipe (64 KiB): written whole before the child reads.
  EXPECT_LT(input.size(), 60000u);
  EXPECT_EQ(::write(in_pipe[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<std::string> argv_s{bin_dir() + "/" + program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv_s[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ProcessOutput result;
  if (rc != 0) {
    ADD_FAILURE() << "spawn " << program << " failed: " << rc;
    return result;
  }
  const auto end = std::chrono::steady_clock::now() + deadline;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << program << " did not finish within the deadline";
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

MeasuredRun run_measured(const runner::ServerProcess& server, const scenario::Scenario& s) {
  MeasuredRun r;
  auto plan = runner::plan_run(s, server.base_url());
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  if (!plan.ok()) return r;
  r.before = runner::scrape_metrics(server.base_url());
  std::atomic<bool> stop{false};
  auto stats = load::run(*plan, stop, {});
  EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error().message);
  if (stats.ok()) r.stats = std::move(*stats);
  r.after = runner::scrape_metrics(server.base_url());
  EXPECT_FALSE(r.after.empty()) << "server /metrics could not be scraped";
  return r;
}

}  // namespace servelab::testing
