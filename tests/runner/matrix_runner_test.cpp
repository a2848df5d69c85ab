// Which toggle combinations `servelab matrix` runs (runner/matrix_runner.h).
#include "runner/matrix_runner.h"

#include <gtest/gtest.h>

#include "report/summary.h"

namespace servelab::runner {
namespace {

std::vector<std::string> labels(const std::vector<scenario::Toggles>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(report::toggles_label(t));
  return out;
}

TEST(MatrixCombinations, OneAtATimeIsAllOffEachAloneAllOn) {
  scenario::Toggles base;
  auto c = matrix_combinations(base, {"pooling", "batching", "streaming", "async_loading"},
                               MatrixMode::one_at_a_time);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(labels(*c), (std::vector<std::string>{"all-off", "pooling", "batching", "streaming",
                                                  "async_loading",
                                                  "pooling+batching+streaming+async_loading"}));
}

TEST(MatrixCombinations, OneToggleGivesTwoRunsWithoutDuplicates) {
  auto c = matrix_combinations({}, {"pooling"}, MatrixMode::one_at_a_time);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(labels(*c), (std::vector<std::string>{"all-off", "pooling"}));
}

TEST(MatrixCombinations, FullIsAllTwoToTheN) {
  scenario::Toggles base;
  base.async_loading = true;  // not varied: kept from the scenario
  auto c = matrix_combinations(base, {"pooling", "batching", "streaming"}, MatrixMode::full);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 8u);
  EXPECT_EQ(report::toggles_label(c->front()), "async_loading");
  EXPECT_EQ(report::toggles_label(c->back()), "pooling+batching+streaming+async_loading");
  for (const auto& t : *c) EXPECT_TRUE(t.async_loading);
}

TEST(MatrixCombinations, UnknownToggleListsTheValidOnes) {
  auto c = matrix_combinations({}, {"pooling", "caching"}, MatrixMode::one_at_a_time);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("\"caching\""), std::string::npos);
  EXPECT_NE(c.error().message.find("async_loading"), std::string::npos);
}

TEST(MatrixCombinations, DefaultTogglesAreEveryRowOfTheTable) {
  EXPECT_EQ(MatrixOptions{}.toggles,
            (std::vector<std::string>{"pooling", "batching", "streaming", "async_loading"}));
  EXPECT_EQ(toggle_names(","), "pooling,batching,streaming,async_loading");
}

}  // namespace
}  // namespace servelab::runner
