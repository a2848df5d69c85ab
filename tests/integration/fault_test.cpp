// Faults around a real `servelab run` against a real servelab-server:
// SIGINT/SIGTERM mid-run (a prompt stop, a partial result, exit 130) and a
// result folder that cannot take the result (disk full, simulated with
// RLIMIT_FSIZE; a path that cannot be a folder): a clear error naming the
// path, a non-zero exit, no half-written file, the previous result intact.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "report/result_json.h"
#include "runner/http_get.h"
#include "runner/scenario_runner.h"
#include "support/wait_until.h"

namespace servelab::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string scenario_text(const std::string& url, const std::string& engine) {
  return "name = \"fault\"\ntarget = \"" + url +
         "\"\n[load]\nconnections = 4\nduration = \"60s\"\ntimeout = \"5s\"\nengine = \"" + engine +
         "\"\n[[requests]]\nkind = \"infer\"\nmodel = \"mlp-0\"\n";
}

// `servelab args...` as a child process, its stderr on a pipe. With
// `file_size_limit`, the child runs under RLIMIT_FSIZE with SIGXFSZ ignored:
// a write past the limit fails with EFBIG, as on a full disk.
class Cli {
 public:
  explicit Cli(const std::vector<std::string>& args,
               std::optional<rlim_t> file_size_limit = std::nullopt) {
    std::vector<std::string> argv_s{bin_dir() + "/servelab"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::dup2(err_pipe[1], STDERR_FILENO);
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, STDOUT_FILENO);
      if (file_size_limit) {
        ::signal(SIGXFSZ, SIG_IGN);  // an ignored signal stays ignored across exec
        const rlimit lim{*file_size_limit, *file_size_limit};
        ::setrlimit(RLIMIT_FSIZE, &lim);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(err_pipe[1]);
    err_fd_ = err_pipe[0];
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }
  ~Cli() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& err() const { return err_; }

  // Waits for the exit (stderr read to its end); -1 when `deadline` passed.
  int wait_exit(std::chrono::milliseconds deadline) {
    const auto end = Clock::now() + deadline;
    while (err_fd_ >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (left.count() <= 0) return -1;
      pollfd p{err_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n <= 0) {
        ::close(err_fd_);
        err_fd_ = -1;
      } else {
        err_.append(buf, static_cast<size_t>(n));
      }
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  std::string err_;
};

// Every file of the previous result is there with the same bytes, and no
// other file appeared; names the files that differ.
void expect_unchanged(const std::map<std::string, std::string>& previous,
                      const std::map<std::string, std::string>& now) {
  for (const auto& [name, text] : previous) {
    const auto it = now.find(name);
    EXPECT_TRUE(it != now.end() && it->second == text)
        << name << " of the previous result was replaced or removed by the failed run";
  }
  for (const auto& [name, text] : now) EXPECT_TRUE(previous.count(name)) << "new file: " << name;
}

// The files of a result folder by name, with their bytes.
std::map<std::string, std::string> read_folder(const fs::path& folder) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(folder))
    files[e.path().filename().string()] = read_all(e.path());
  return files;
}

// A run of `duration` against a server of its own, writing its result to
// `out` (dir/run); the first run of a result-writing test, whose files the
// failed second run must leave alone.
struct ResultRun {
  ResultRun(const TempDir& dir, const std::string& duration)
      : server(start_server(make_models(dir))), out(dir.path() / "run") {
    write(dir.path() / "fault.toml", scenario_text(server.base_url(), "native"));
    args = {"run",
            (dir.path() / "fault.toml").string(),
            "--quiet",
            "--out",
            out.string(),
            "--results",
            (dir.path() / "results").string(),
            "--set",
            "load.duration=" + duration};
  }
  runner::ServerProcess server;
  fs::path out;
  std::vector<std::string> args;
};

double server_infers(const runner::ServerProcess& server) {
  const auto m = runner::scrape_metrics(server.base_url());
  return metric(m, "servelab_inference_requests_total{model=\"mlp-0\"}");
}

struct SignalCase {
  int signal;
  const char* engine;
};

class InterruptedRun : public ::testing::TestWithParam<SignalCase> {};

// A 60 s run is interrupted once the server has answered it: the generator
// stops within a couple of seconds, writes a result marked partial whose
// counts are what it measured, and exits 130.
TEST_P(InterruptedRun, StopsPromptlyWritesAPartialResultAndExits130) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  write(dir.path() / "fault.toml", scenario_text(server.base_url(), GetParam().engine));
  const fs::path out = dir.path() / "run";
  const double before = server_infers(server);
  Cli cli({"run", (dir.path() / "fault.toml").string(), "--out", out.string(), "--results",
           (dir.path() / "results").string()});
  ASSERT_GT(cli.pid(), 0);
  // Mid-run: the server has answered a good number of this run's requests.
  ASSERT_TRUE(wait_until([&] { return server_infers(server) - before >= 200; }, 30s));
  const auto signalled = Clock::now();
  ASSERT_EQ(::kill(cli.pid(), GetParam().signal), 0);
  const int code = cli.wait_exit(20s);
  const auto took = Clock::now() - signalled;
  ASSERT_NE(code, -1) << "servelab did not exit after the signal: " << cli.err();
  EXPECT_EQ(code, 130) << cli.err();
  EXPECT_LT(took, 5s) << "stopping took "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";

  const std::string text = read_all(out / "result.json");
  EXPECT_NE(text.find("\"partial\": true"), std::string::npos) << text.substr(0, 2000);
  auto record = report::read_result_file((out / "result.json").string());
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_TRUE(record->stats.partial);
  EXPECT_GT(record->stats.counters.requests, 0u);
  EXPECT_LT(std::chrono::duration<double>(record->stats.measured).count(), 30.0);
  EXPECT_EQ(record->stats.latency.count(), record->stats.counters.ok);
  // Every file of the run is there, none half-written.
  for (const char* f : {"result.json", "report.md", "report.html", "report.csv", "latency.hgrm"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  // The server is unharmed.
  EXPECT_TRUE(runner::http_get(server.base_url() + "/v2/health/ready", 5s).ok());
}

INSTANTIATE_TEST_SUITE_P(Signals, InterruptedRun,
                         ::testing::Values(SignalCase{SIGINT, "native"},
                                           SignalCase{SIGTERM, "native"},
                                           SignalCase{SIGINT, "curl"}, SignalCase{SIGTERM, "curl"}),
                         [](const auto& p) {
                           return std::string(p.param.signal == SIGINT ? "Sigint" : "Sigterm") +
                                  (std::string(p.param.engine) == "curl" ? "Curl" : "Native");
                         });

// A full disk while the result is written: the run fails (non-zero exit)
// with an error naming the file it could not write, leaves no temporary or
// half-written file, and the previous result in that folder is untouched:
// none of its files is replaced by a file of the failed run.
TEST(ResultWriting, DiskFullFailsClearlyAndKeepsThePreviousResult) {
  TempDir dir;
  ResultRun run(dir, "300ms");
  const fs::path& out = run.out;
  const std::vector<std::string>& args = run.args;
  {
    Cli first(args);
    ASSERT_EQ(first.wait_exit(30s), 0) << first.err();
  }
  std::map<std::string, std::string> previous = read_folder(out);
  ASSERT_TRUE(previous.count("result.json"));
  ASSERT_TRUE(previous.count("report.html"));

  // Room for the smaller files, not for the report.html (tens of KB).
  const auto limit = static_cast<rlim_t>(previous["report.md"].size() + 64);
  ASSERT_LT(limit, previous["report.html"].size());
  Cli second(args, limit);
  const int code = second.wait_exit(30s);
  EXPECT_NE(code, 0) << second.err();
  EXPECT_NE(code, -1) << second.err();
  EXPECT_NE(second.err().find((out / "").string()), std::string::npos) << second.err();
  EXPECT_NE(second.err().find("File too large"), std::string::npos) << second.err();

  const std::map<std::string, std::string> now = read_folder(out);
  for (const auto& [name, text] : now) {
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << "left behind: " << name;
  }
  expect_unchanged(previous, now);
  auto record = report::read_result_file((out / "result.json").string());
  EXPECT_TRUE(record.ok()) << (record.ok() ? "" : record.error().message);
}

// One of the run's files cannot be written after others could (here its
// temporary's name is taken by a folder, made as soon as the child's pid is
// known): the run fails naming that file, and no file of the previous
// result is replaced, not even those written before the failure.
TEST(ResultWriting, AFileThatCannotBeWrittenLeavesThePreviousResultWhole) {
  TempDir dir;
  ResultRun run(dir, "500ms");
  const fs::path& out = run.out;
  const std::vector<std::string>& args = run.args;
  {
    Cli first(args);
    ASSERT_EQ(first.wait_exit(30s), 0) << first.err();
  }
  const std::map<std::string, std::string> previous = read_folder(out);

  Cli second(args);
  ASSERT_GT(second.pid(), 0);
  const std::string blocker = "report.html.tmp." + std::to_string(second.pid());
  fs::create_directory(out / blocker);  // the run lasts 500 ms: made long before it writes
  const int code = second.wait_exit(30s);
  EXPECT_NE(code, 0) << second.err();
  EXPECT_NE(code, -1) << second.err();
  EXPECT_NE(second.err().find((out / "report.html").string()), std::string::npos) << second.err();

  std::map<std::string, std::string> now;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    if (name == blocker) continue;
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << "left behind: " << name;
    now[name] = read_all(e.path());
  }
  expect_unchanged(previous, now);
}

// A results path that cannot be a folder (a file is in the way): a clear
// error naming it, exit 3, before any load is sent.
TEST(ResultWriting, AnUnusableResultFolderFailsBeforeTheRun) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  write(dir.path() / "fault.toml", scenario_text(server.base_url(), "native"));
  write(dir.path() / "file", "not a folder");
  const fs::path out = dir.path() / "file" / "run";
  const double before = server_infers(server);
  Cli cli({"run", (dir.path() / "fault.toml").string(), "--quiet", "--out", out.string(),
           "--results", (dir.path() / "results").string()});
  EXPECT_EQ(cli.wait_exit(30s), 3) << cli.err();
  EXPECT_NE(cli.err().find(out.string()), std::string::npos) << cli.err();
  EXPECT_EQ(server_infers(server) - before, 0.0);
}

}  // namespace
}  // namespace servelab::testing
