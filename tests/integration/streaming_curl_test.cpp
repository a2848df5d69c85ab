// A real client reads /v1/completions as a stream: `curl -N` against a real
// servelab-server process gets the first SSE event while the server still
// reports the stream as active, i.e. before the last token exists.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "fixture.h"
#include "models/repository_maker.h"
#include "runner/scenario_runner.h"

namespace servelab::testing {
namespace {

TEST(StreamingCurl, CurlReadsTheFirstEventWhileTheStreamIsStillActive) {
  TempDir dir("curl-stream");
  models::MakeOptions o;
  o.kind = "tokens";
  o.prefix = "tokens";
  o.hidden = 64;
  const std::string repo = (dir.path() / "models").string();
  ASSERT_TRUE(models::make_repository(repo, o).ok());
  auto server = start_server(repo, {"--threads", "2", "--compute-threads", "1"});
  // 16,384 tokens (~2.5 MB of events): this test stops reading after the
  // first line, so the stream cannot finish while it looks.
  const std::string cmd =
      "curl -N -s --max-time 20 -H 'Content-Type: application/json' -d "
      "'{\"model\":\"tokens-0\",\"prompt\":\"Hi\",\"max_tokens\":16384,\"stream\":true}' " +
      server.base_url() + "/v1/completions";
  FILE* curl = popen(cmd.c_str(), "r");
  ASSERT_NE(curl, nullptr);
  char line[4096];
  std::string first;
  for (int i = 0; i < 10 && first.empty(); ++i) {  // bounded: curl's --max-time ends the pipe
    if (std::fgets(line, sizeof line, curl) == nullptr) break;
    if (std::string(line).rfind("data: ", 0) == 0) first = line;
  }
  const auto metrics = runner::scrape_metrics(server.base_url());
  pclose(curl);  // curl gets EPIPE and exits
  ASSERT_FALSE(first.empty()) << "no SSE event from curl -N";
  EXPECT_NE(first.find("\"object\":\"text_completion\""), std::string::npos) << first;
  EXPECT_EQ(metric(metrics, "servelab_streams_active"), 1.0);
  EXPECT_EQ(metric(metrics, "servelab_completions_total"), 0.0);
}

}  // namespace
}  // namespace servelab::testing
