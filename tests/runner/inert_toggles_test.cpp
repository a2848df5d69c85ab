// Which toggles a run records as having no effect, and why
// (runner/inert_toggles.h, from the table in common/toggles.h).
#include "runner/inert_toggles.h"

#include <gtest/gtest.h>

namespace servelab::runner {
namespace {

scenario::RequestSpec request(scenario::RequestKind kind, bool stream = true) {
  scenario::RequestSpec r;
  r.kind = kind;
  r.stream = stream;
  return r;
}

scenario::Scenario with(std::vector<scenario::RequestSpec> requests,
                        const std::string& target = "embedded") {
  scenario::Scenario s;
  s.target = target;
  s.requests = std::move(requests);
  s.toggles = {true, true, true, true};
  return s;
}

std::vector<std::string> names(const std::vector<report::InertToggle>& inert) {
  std::vector<std::string> out;
  for (const auto& i : inert) out.push_back(i.toggle);
  return out;
}

TEST(InertToggles, TogglesThatAreOffAreNeverInert) {
  scenario::Scenario s = with({request(scenario::RequestKind::http)}, "http://127.0.0.1:1");
  s.toggles = {false, false, false, false};
  EXPECT_TRUE(inert_toggles(s).empty());
}

TEST(InertToggles, ServerSideTogglesAreInertAgainstAForeignTarget) {
  const auto inert = inert_toggles(
      with({request(scenario::RequestKind::infer), request(scenario::RequestKind::generate)},
           "http://127.0.0.1:1"));
  EXPECT_EQ(names(inert), (std::vector<std::string>{"batching", "streaming", "async_loading"}));
  for (const auto& i : inert) {
    EXPECT_NE(i.reason.find("server-side: not applied to a foreign target"), std::string::npos)
        << i.reason;
    EXPECT_NE(i.reason.find("--"), std::string::npos) << "names the server flag: " << i.reason;
  }
}

TEST(InertToggles, AnInferOnlyMixLeavesStreamingNothingToDo) {
  const auto inert = inert_toggles(with({request(scenario::RequestKind::infer)}));
  ASSERT_EQ(names(inert), (std::vector<std::string>{"streaming"}));
  EXPECT_NE(inert[0].reason.find("generate requests with stream = true"), std::string::npos)
      << inert[0].reason;
}

TEST(InertToggles, StreamingNeedsAGenerateRequestThatAsksForAStream) {
  EXPECT_EQ(names(inert_toggles(with({request(scenario::RequestKind::infer),
                                      request(scenario::RequestKind::generate, false)}))),
            (std::vector<std::string>{"streaming"}));
  EXPECT_TRUE(inert_toggles(with({request(scenario::RequestKind::infer),
                                  request(scenario::RequestKind::generate, true)}))
                  .empty());
}

TEST(InertToggles, AGenerateOnlyMixLeavesBatchingNothingToDo) {
  EXPECT_EQ(names(inert_toggles(with({request(scenario::RequestKind::generate)}))),
            (std::vector<std::string>{"batching"}));
}

TEST(InertToggles, AnHttpOnlyMixLeavesOnlyPoolingSomethingToDo) {
  EXPECT_EQ(names(inert_toggles(with({request(scenario::RequestKind::http)}))),
            (std::vector<std::string>{"batching", "streaming", "async_loading"}));
}

}  // namespace
}  // namespace servelab::runner
