// servelab-server as a child process (runner/server_process.h) and the
// blocking GET the runner uses for the control plane (runner/http_get.h).
#include "runner/server_process.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "models/repository_maker.h"
#include "runner/http_get.h"
#include "support/temp_dir.h"

namespace servelab::runner {
namespace {

using servelab::testing::TempDir;

std::string server_executable() {
  return std::string(SERVELAB_BINARY_DIR) + "/bin/servelab-server";
}

TEST(ServerProcess, StartsReadyOnAnEphemeralPortAndStopsCleanly) {
  TempDir dir("server-process");
  models::MakeOptions make;
  make.dims = {8, 8, 2};
  ASSERT_TRUE(models::make_repository((dir.path() / "models").string(), make).ok());
  ServerProcessConfig cfg;
  cfg.executable = server_executable();
  cfg.args = {"--models", (dir.path() / "models").string()};
  cfg.log_path = (dir.path() / "server.log").string();
  auto proc = ServerProcess::start(cfg);
  ASSERT_TRUE(proc.ok()) << proc.error().message;
  EXPECT_EQ(proc->base_url().rfind("http://127.0.0.1:", 0), 0u) << proc->base_url();
  auto ready = http_get(proc->base_url() + "/v2/health/ready", std::chrono::seconds(2));
  ASSERT_TRUE(ready.ok()) << ready.error().message;
  EXPECT_EQ(ready->status, 200);
  const auto exit = proc->stop();
  EXPECT_TRUE(exit.clean) << exit.description;
  EXPECT_EQ(exit.description, "exited 0");
  EXPECT_FALSE(http_get(proc->base_url() + "/v2/health/ready", std::chrono::seconds(1)).ok())
      << "nothing answers once the server stopped";
}

TEST(ServerProcess, AServerThatExitsBeforeListeningFailsWithItsStatusAndLog) {
  TempDir dir("server-process");
  const auto script = dir.path() / "fake-server";
  std::ofstream(script) << "#!/bin/sh\necho 'unknown flag --port' >&2\nexit 3\n";
  ::chmod(script.c_str(), 0755);
  ServerProcessConfig cfg;
  cfg.executable = script.string();
  cfg.log_path = (dir.path() / "server.log").string();
  cfg.ready_timeout = std::chrono::seconds(10);
  auto proc = ServerProcess::start(cfg);
  ASSERT_FALSE(proc.ok());
  EXPECT_NE(proc.error().message.find("did not become ready"), std::string::npos)
      << proc.error().message;
  EXPECT_NE(proc.error().message.find("exited 3"), std::string::npos) << proc.error().message;
  EXPECT_NE(proc.error().message.find("unknown flag --port"), std::string::npos)
      << proc.error().message;
}

TEST(ServerProcess, AMissingExecutableIsAnErrorNamingIt) {
  ServerProcessConfig cfg;
  cfg.executable = "/nonexistent/servelab-server";
  auto proc = ServerProcess::start(cfg);
  ASSERT_FALSE(proc.ok());
  EXPECT_NE(proc.error().message.find("/nonexistent/servelab-server"), std::string::npos)
      << proc.error().message;
}

TEST(HttpGet, ATransportFailureIsAnErrorNamingTheUrl) {
  auto reply =
      http_get("http://127.0.0.1:9/metrics", std::chrono::seconds(1));  // discard port: refused
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().message.find("GET http://127.0.0.1:9/metrics"), std::string::npos)
      << reply.error().message;
}

TEST(TailOfFile, KeepsTheLastBytes) {
  TempDir dir("tail");
  const auto log = dir.path() / "log";
  std::ofstream(log) << "0123456789";
  EXPECT_EQ(tail_of_file(log.string(), 4), "6789");
  EXPECT_EQ(tail_of_file(log.string(), 100), "0123456789");
  EXPECT_EQ(tail_of_file((dir.path() / "absent").string()), "");
}

}  // namespace
}  // namespace servelab::runner
