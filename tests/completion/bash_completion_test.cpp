// The completion script, loaded into a real bash and asked what completes a
// command line, as bash asks it on Tab.

#include "completion/bash_completion.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace servelab::completion {
namespace {

// The words bash offers for `line` (completing its last word; a trailing
// space means a new, empty word), with `script` loaded.
std::vector<std::string> complete(const std::string& script, const std::string& line) {
  servelab::testing::TempDir dir("completion");
  const std::string path = (dir.path() / "script.bash").string();
  std::ofstream(path) << script;
  const std::string probe = (dir.path() / "probe.bash").string();
  std::ofstream(probe)
      << "source '" << path << "'\n"
      << "cd '" << dir.path().string() << "'\n"
      << "COMP_LINE='" << line << "'\n"
      << "read -ra COMP_WORDS <<< \"$COMP_LINE\"\n"
      << "[[ \"$COMP_LINE\" == *' ' ]] && COMP_WORDS+=('')\n"
      << "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
      << "fn=$(complete -p \"${COMP_WORDS[0]}\" | sed -E 's/.*-F ([^ ]+).*/\\1/')\n"
      << "\"$fn\"\n"
      << "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  FILE* bash = ::popen(("bash --norc --noprofile '" + probe + "'").c_str(), "r");
  EXPECT_NE(bash, nullptr);
  std::vector<std::string> words;
  if (bash == nullptr) return words;
  char buf[512];
  while (std::fgets(buf, sizeof buf, bash) != nullptr) {
    std::string w(buf);
    while (!w.empty() && w.back() == '\n') w.pop_back();
    if (!w.empty()) words.push_back(w);
  }
  EXPECT_EQ(::pclose(bash), 0);
  return words;
}

bool has(const std::vector<std::string>& v, const std::string& w) {
  for (const auto& x : v)
    if (x == w) return true;
  return false;
}

class BashCompletion : public ::testing::Test {
 protected:
  BashCompletion() {
    app_.add_flag("--version", flag_, "");
    auto* run = app_.add_subcommand("run", "");
    run->add_option("scenario", value_, "");
    run->add_option("-c,--connections", number_, "");
    run->add_option("--out", value_, "");
    run->add_flag("--print-path", flag_, "");
    run->add_flag("--print-scenario", flag_, "");
    auto* models = app_.add_subcommand("models", "");
    auto* make = models->add_subcommand("make", "");
    make->add_option("--count", number_, "");
    script_ = bash_script(app_, "tool-x");
  }
  CLI::App app_{"tool"};
  std::string value_;
  int number_ = 0;
  bool flag_ = false;
  std::string script_;
};

TEST_F(BashCompletion, OffersTheSubcommandsFirst) {
  const auto w = complete(script_, "tool-x r");
  EXPECT_TRUE(has(w, "run"));
  EXPECT_FALSE(has(w, "models"));
  EXPECT_TRUE(has(complete(script_, "tool-x --ver"), "--version"));
}

TEST_F(BashCompletion, OffersTheFlagsOfTheSubcommandGiven) {
  const auto w = complete(script_, "tool-x run --pr");
  EXPECT_TRUE(has(w, "--print-path"));
  EXPECT_TRUE(has(w, "--print-scenario"));
  EXPECT_EQ(w.size(), 2u);
  const auto c = complete(script_, "tool-x run -");
  EXPECT_TRUE(has(c, "-c"));
  EXPECT_TRUE(has(c, "--connections"));
  EXPECT_FALSE(has(c, "--count"));  // models make's, not run's
}

TEST_F(BashCompletion, FollowsNestedSubcommands) {
  EXPECT_TRUE(has(complete(script_, "tool-x models m"), "make"));
  const auto w = complete(script_, "tool-x models make --c");
  EXPECT_TRUE(has(w, "--count"));
  EXPECT_FALSE(has(w, "--connections"));
}

TEST_F(BashCompletion, AFlagThatTakesAValueCompletesFileNames) {
  // The probe runs in the script's own folder, which holds script.bash.
  const auto w = complete(script_, "tool-x run --out scr");
  EXPECT_TRUE(has(w, "script.bash"));
  EXPECT_FALSE(has(w, "--connections"));
}

}  // namespace
}  // namespace servelab::completion
