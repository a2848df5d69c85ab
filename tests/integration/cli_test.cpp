// The `servelab` executable end to end: embedded server, result file,
// interruption, validation errors, models make.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>

#include "fixture.h"
#include "report/result_json.h"
#include "runner/http_get.h"
#include "runner/scenario_runner.h"
#include "scenario/scenario_json.h"

extern char** environ;

namespace servelab::testing {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

const char* kTinyScenario = R"(name = "tiny"
[load]
connections = 4
duration = "1s"
[server]
dims = [32, 32, 8]
[[requests]]
kind = "infer"
model = "mlp-0"
)";

TEST(Cli, RunAgainstEmbeddedServerWritesAResult) {
  TempDir dir;
  write(dir.path() / "tiny.toml", kTinyScenario);
  const auto out = dir.path() / "run";
  auto p = run_cli({"run", (dir.path() / "tiny.toml").string(), "--quiet", "--out", out.string(),
                    "--results", (dir.path() / "results").string()});
  ASSERT_EQ(p.exit_code, 0) << p.err << p.out;
  EXPECT_NE(p.out.find("req/s"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("p99"), std::string::npos) << p.out;
  auto record = report::read_result_file((out / "result.json").string());
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_FALSE(record->stats.partial);
  EXPECT_GT(record->stats.counters.requests, 10u);
  EXPECT_EQ(record->stats.counters.error_total(), 0u);
  EXPECT_EQ(record->stats.latency.count(), record->stats.counters.requests);
  // The embedded repository was made under the results root and reused.
  EXPECT_TRUE(fs::exists(dir.path() / "results" / ".models"));
  // No temp file is left behind by the atomic write.
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

// Both programs say which build they are; a result records the same commit,
// the one the binary was built from (captured by CMake at build time, not
// read from the source tree when it runs).
TEST(Cli, BothProgramsPrintTheirBuildAndResultsRecordTheSameCommit) {
  const std::regex line(
      R"(^(servelab|servelab-server) (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(-dirty)?|unknown), ([A-Za-z]+) build(, flags '.*')?\)\n$)");
  auto client = run_cli({"--version"});
  ASSERT_EQ(client.exit_code, 0) << client.err;
  std::smatch c;
  ASSERT_TRUE(std::regex_match(client.out, c, line)) << client.out;
  auto server = run_program("servelab-server", {"--version"});
  ASSERT_EQ(server.exit_code, 0) << server.err;
  std::smatch s;
  ASSERT_TRUE(std::regex_match(server.out, s, line)) << server.out;
  EXPECT_EQ(s[1], "servelab-server");
  EXPECT_EQ(c[3], s[3]);  // one build, one commit
  EXPECT_EQ(c[5], s[5]);
  // Built from a git checkout (as CI's clone is), the commit is its HEAD.
  std::string head;
  if (FILE* git = ::popen(("git -C '" + std::string(SERVELAB_SOURCE_DIR) +
                           "' rev-parse --short=12 HEAD 2>/dev/null")
                              .c_str(),
                          "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, git) != nullptr) head = buf;
    if (::pclose(git) != 0) head.clear();
  }
  if (!head.empty()) {
    EXPECT_EQ(std::string(c[3]).substr(0, 12), head.substr(0, 12));
  }

  TempDir dir;
  write(dir.path() / "tiny.toml", kTinyScenario);
  const auto out = dir.path() / "run";
  auto p =
      run_cli({"run", (dir.path() / "tiny.toml").string(), "--quiet", "--out", out.string(),
               "--results", (dir.path() / "results").string(), "--set", "load.duration=200ms"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto record = report::read_result_file((out / "result.json").string());
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_EQ(record->environment.git_commit, c[3]);
  EXPECT_EQ(record->environment.servelab_version, c[2]);
  EXPECT_TRUE(record->environment.build_type.starts_with(std::string(c[5])))
      << record->environment.build_type;
}

// `servelab run URL` (wrk-style flags) measures the target through the same
// path as a scenario file: the server counts the requests the result does,
// --json prints result.json's own text, and the scenario --print-scenario
// shows, fed back on standard input (`run -`), gives the same scenario echo.
TEST(Cli, AUrlRunIsTheScenarioItPrints) {
  TempDir dir;
  auto server = start_server(make_models(dir));
  const std::string url = server.base_url() + "/v2/health/ready";
  const std::string series = R"(servelab_http_requests_total{route="health_ready",code="200"})";
  const double before = metric(runner::scrape_metrics(server.base_url()), series);
  const auto out = dir.path() / "url";
  auto p = run_cli({"run", url, "-c", "4", "-d", "300ms", "-H", "X-Probe: 1", "--json", "--out",
                    out.string(), "--results", (dir.path() / "results").string()});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  std::ifstream in(out / "result.json");
  const std::string file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(p.out, file.back() == '\n' ? file : file + "\n");  // --json: the result, nothing else
  auto record = report::read_result_file((out / "result.json").string());
  ASSERT_TRUE(record.ok()) << record.error().message;
  const auto& c = record->stats.counters;
  EXPECT_GT(c.ok, 10u);
  EXPECT_EQ(c.error_total(), 0u);
  EXPECT_EQ(record->scenario.target, server.base_url());
  EXPECT_EQ(record->scenario.load.connections, 4);
  const double served = metric(runner::scrape_metrics(server.base_url()), series) - before;
  // Every answer the client counted was served; the server may have answered
  // at most one request per connection that the run's end left unread.
  EXPECT_GE(served, static_cast<double>(c.ok));
  EXPECT_LE(served, static_cast<double>(c.ok + c.unfinished + 4));

  auto printed =
      run_cli({"run", url, "-c", "4", "-d", "300ms", "-H", "X-Probe: 1", "--print-scenario"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(metric(runner::scrape_metrics(server.base_url()), series) - before, served)
      << "--print-scenario sent requests";
  const auto again = dir.path() / "stdin";
  auto piped = run_program("servelab",
                           {"run", "-", "--quiet", "--latency", "--out", again.string(),
                            "--results", (dir.path() / "results").string()},
                           printed.out);
  ASSERT_EQ(piped.exit_code, 0) << piped.err << printed.out;
  EXPECT_NE(piped.out.find("99.999%"), std::string::npos) << piped.out;  // --latency
  auto from_stdin = report::read_result_file((again / "result.json").string());
  ASSERT_TRUE(from_stdin.ok()) << from_stdin.error().message;
  EXPECT_EQ(from_stdin->scenario.source, "<stdin>");
  from_stdin->scenario.source = record->scenario.source;  // "<command line>": all else the same
  EXPECT_EQ(boost::json::serialize(scenario::scenario_to_json(from_stdin->scenario)),
            boost::json::serialize(scenario::scenario_to_json(record->scenario)));
}

TEST(Cli, UrlFlagsWithAScenarioFileAreAUsageError) {
  TempDir dir;
  write(dir.path() / "tiny.toml", kTinyScenario);
  auto p = run_cli({"run", (dir.path() / "tiny.toml").string(), "-c", "5"});
  EXPECT_EQ(p.exit_code, 2) << p.err;
  EXPECT_NE(p.err.find("applies to a URL run"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("--set"), std::string::npos) << p.err;
  auto both = run_cli({"run", (dir.path() / "tiny.toml").string(), "--json", "--print-path"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
}

// The built programs come with their man pages (help2man) and completion
// scripts, made from the flags they have (scripts/setup installs help2man).
TEST(Cli, ManPagesAndCompletionsDescribeTheBuiltFlags) {
  const fs::path share = fs::path(SERVELAB_BINARY_DIR) / "share";
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  };
  const std::string page = read(share / "man" / "servelab.1");
  ASSERT_FALSE(page.empty()) << "no man page: is help2man installed (scripts/setup)?";
  EXPECT_NE(page.find(".SH NAME"), std::string::npos);
  EXPECT_NE(page.find("print\\-scenario"), std::string::npos);  // a run flag, from --help-all
  EXPECT_NE(page.find("max\\-regression"), std::string::npos);  // a gate flag
  const std::string server_page = read(share / "man" / "servelab-server.1");
  EXPECT_NE(server_page.find("send\\-buffer"), std::string::npos);

  const std::string script = read(share / "bash-completion" / "servelab");
  auto printed = run_cli({"completion", "bash"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(script, printed.out);  // the installed file is what the program prints
  for (const char* word : {"\"|run\") path=\"run\"", "\"|gate\") path=\"gate\"",
                           "\"models|make\") path=\"models make\"", "--print-scenario",
                           "--max-regression", "--toggles"})
    EXPECT_NE(script.find(word), std::string::npos) << word;
  auto server = run_program("servelab-server", {"--completion", "bash"});
  ASSERT_EQ(server.exit_code, 0) << server.err;
  EXPECT_EQ(server.out, read(share / "bash-completion" / "servelab-server"));
  EXPECT_NE(server.out.find("--max-queue"), std::string::npos);
  EXPECT_NE(server.out.find("complete -o filenames -F _servelab_server servelab-server"),
            std::string::npos);
}

TEST(Cli, SetOverridesAScenarioKey) {
  TempDir dir;
  write(dir.path() / "tiny.toml", kTinyScenario);
  const auto out = dir.path() / "run";
  auto p = run_cli({"run", (dir.path() / "tiny.toml").string(), "--quiet", "--out", out.string(),
                    "--results", (dir.path() / "results").string(), "--set", "load.connections=2",
                    "--set", "load.duration=500ms"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto record = report::read_result_file((out / "result.json").string());
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_EQ(record->stats.connections, 2);
  EXPECT_LE(record->stats.counters.connections_opened, 2u);
  EXPECT_NEAR(std::chrono::duration<double>(record->stats.measured).count(), 0.5, 0.2);
}

TEST(Cli, InterruptedRunWritesAPartialResult) {
  TempDir dir;
  write(dir.path() / "tiny.toml", kTinyScenario);
  const auto out = dir.path() / "run";
  int err_pipe[2];
  ASSERT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args{bin_dir() + "/servelab",
                                "run",
                                (dir.path() / "tiny.toml").string(),
                                "--out",
                                out.string(),
                                "--results",
                                (dir.path() / "results").string(),
                                "--set",
                                "load.duration=60s"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  // Wait (with a deadline) until the run reports progress, then interrupt it.
  std::string err;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (err.find("running") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{err_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    err.append(buf, static_cast<size_t>(n));
  }
  ASSERT_NE(err.find("running"), std::string::npos) << err;
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(err_pipe[0]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto record = report::read_result_file((out / "result.json").string());
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_TRUE(record->stats.partial);
  EXPECT_LT(std::chrono::duration<double>(record->stats.measured).count(), 30.0);
  EXPECT_GT(record->stats.counters.requests, 0u);
}

TEST(Cli, ValidateReportsFileLineColumnForABadScenario) {
  TempDir dir;
  write(dir.path() / "bad.toml", "name = \"x\"\n[load]\nmode = \"clsoed\"\n");
  auto p = run_cli({"validate", (dir.path() / "bad.toml").string()});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("bad.toml:3:"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("load.mode"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("\"closed\""), std::string::npos) << p.err;
}

TEST(Cli, ValidateAcceptsTheShippedScenarios) {
  auto p = run_cli({"validate", std::string(SERVELAB_SOURCE_DIR) + "/scenarios/baseline.toml"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
}

TEST(Cli, ModelsMakeWritesARepositoryTheServerServes) {
  TempDir dir;
  const auto repo = dir.path() / "repo";
  auto p = run_cli({"models", "make", repo.string(), "--count", "2", "--dims", "16,8,4"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_TRUE(fs::exists(repo / "mlp-0" / "model.toml"));
  EXPECT_TRUE(fs::exists(repo / "mlp-1" / "model.safetensors"));
  auto server = start_server(repo.string());
  for (const char* model : {"mlp-0", "mlp-1"}) {
    auto meta =
        runner::http_get(server.base_url() + "/v2/models/" + model, std::chrono::seconds(5));
    ASSERT_TRUE(meta.ok()) << meta.error().message;
    EXPECT_EQ(meta->status, 200) << model << ": " << meta->body;
    EXPECT_NE(meta->body.find("[-1,16]"), std::string::npos)
        << "input width from --dims: " << meta->body;
  }
  auto exit = server.stop();
  EXPECT_TRUE(exit.clean) << exit.description;
}

TEST(Cli, RunFailsClearlyWhenTheTargetIsDown) {
  TempDir dir;
  write(dir.path() / "down.toml", std::string(kTinyScenario) + "");
  auto p = run_cli({"run", (dir.path() / "down.toml").string(), "--quiet", "--out",
                    (dir.path() / "run").string(), "--set", "target=http://127.0.0.1:9"});
  EXPECT_EQ(p.exit_code, 3) << p.err;
  EXPECT_NE(p.err.find("run failed"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("http://127.0.0.1:9/"), std::string::npos) << "names the target: " << p.err;
  EXPECT_FALSE(fs::exists(dir.path() / "run" / "result.json"))
      << "no result for a run that never started";
}

}  // namespace
}  // namespace servelab::testing
