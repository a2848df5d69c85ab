// The keys of kind = "generate" requests: defaults, values, located errors.
#include <gtest/gtest.h>

#include <string>

#include "scenario/scenario_parser.h"

namespace servelab::scenario {
namespace {

Result<Scenario> parse(std::string_view text) { return parse_scenario_text(text, "test.toml"); }

std::string error_of(std::string_view text) {
  Result<Scenario> r = parse(text);
  EXPECT_FALSE(r.ok()) << "parsed but should not have:\n" << text;
  return r.ok() ? std::string() : r.error().message;
}

constexpr std::string_view kHead = "name = \"t\"\n[[requests]]\nkind = \"generate\"\n";

TEST(GenerateRequest, DefaultsApplyWhenOnlyTheModelIsGiven) {
  auto s = parse(std::string(kHead) + "model = \"tokens-0\"\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const RequestSpec& r = s->requests.at(0);
  EXPECT_EQ(r.kind, RequestKind::generate);
  EXPECT_EQ(r.name, "generate tokens-0");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "/v1/completions");
  EXPECT_EQ(r.prompts, std::vector<std::string>{"Hello"});
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_FALSE(r.send_seed);
  EXPECT_TRUE(r.extra_body.empty());
}

TEST(GenerateRequest, EveryKeyIsRead) {
  auto s = parse(std::string(kHead) + R"(model = "llama"
prompts = ["a", "b c"]
max_tokens = 128
stream = false
temperature = 0.7
seed = 9
url = "https://api.example.com/v1/completions"
headers = { Authorization = "Bearer x" }
extra_body = { ignore_eos = true, stop = ["\n"] }
)");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const RequestSpec& r = s->requests.at(0);
  EXPECT_EQ(r.prompts, (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(r.max_tokens, 128);
  EXPECT_FALSE(r.stream);
  EXPECT_DOUBLE_EQ(r.temperature, 0.7);
  EXPECT_TRUE(r.send_seed);
  EXPECT_EQ(r.seed, 9u);
  EXPECT_EQ(r.url, "https://api.example.com/v1/completions");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].name, "Authorization");
  EXPECT_NE(r.extra_body.find("\"ignore_eos\""), std::string::npos) << r.extra_body;
  EXPECT_NE(r.extra_body.find("\"stop\""), std::string::npos) << r.extra_body;
}

TEST(GenerateRequest, MissingModelIsReportedAtItsTable) {
  EXPECT_EQ(error_of(kHead),
            "test.toml:2:1: requests[0].model: missing required key; expected the model name the "
            "completions server serves (a string)");
}

TEST(GenerateRequest, BadValuesAreLocated) {
  EXPECT_EQ(error_of(std::string(kHead) + "model = \"m\"\nmax_tokens = 0\n"),
            "test.toml:5:14: requests[0].max_tokens: expected an integer from 1 to 1000000, got "
            "integer 0");
  EXPECT_EQ(error_of(std::string(kHead) + "model = \"m\"\nprompts = [\"a\", 3]\n"),
            "test.toml:5:17: requests[0].prompts[1]: expected a string, got integer 3");
  EXPECT_EQ(error_of(std::string(kHead) + "model = \"m\"\nprompts = []\n"),
            "test.toml:5:11: requests[0].prompts: expected 1 to 100000 prompt strings, got 0");
  EXPECT_EQ(
      error_of(std::string(kHead) + "model = \"m\"\nstream = \"yes\"\n"),
      "test.toml:5:10: requests[0].stream: expected a boolean (true or false), got string \"yes\"");
  EXPECT_EQ(
      error_of(std::string(kHead) + "model = \"m\"\nextra_body = { prompt = \"x\" }\n"),
      "test.toml:5:25: requests[0].extra_body.prompt: is set by the request's own key `prompt`; "
      "remove it from extra_body");
}

TEST(GenerateRequest, PromptAndPromptsTogetherAreAnError) {
  const std::string e =
      error_of(std::string(kHead) + "model = \"m\"\nprompt = \"a\"\nprompts = [\"b\"]\n");
  EXPECT_EQ(e,
            "test.toml:6:11: requests[0].prompts: give either prompt (one string) or prompts (a "
            "list), not both");
}

TEST(GenerateRequest, KeysOfOtherKindsAreRejectedBothWays) {
  EXPECT_EQ(error_of(std::string(kHead) + "model = \"m\"\nrows = 2\n"),
            "test.toml:5:8: requests[0].rows: only applies to kind = \"infer\"; this request has "
            "kind = \"generate\"");
  EXPECT_EQ(error_of(std::string(kHead) + "model = \"m\"\nbody = \"{}\"\n"),
            "test.toml:5:8: requests[0].body: only applies to kind = \"http\"; this request has "
            "kind = \"generate\"");
  EXPECT_EQ(error_of("name = \"t\"\n[[requests]]\nkind = \"http\"\nmax_tokens = 3\n"),
            "test.toml:4:14: requests[0].max_tokens: only applies to kind = \"generate\"; this "
            "request has kind = \"http\"");
}

}  // namespace
}  // namespace servelab::scenario
