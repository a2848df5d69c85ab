// servelab: the load generator's command line. Thin: flags → lib calls →
// messages and exit codes (documented in README "Exit codes").

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "common/build_info.h"
#include "completion/bash_completion.h"

int main(int argc, char** argv) {
  servelab::cli::Commands commands;
  CLI::App app{"servelab: measure what serving optimizations really buy"};
  app.require_subcommand(1);
  app.set_version_flag("--version", servelab::version_line("servelab"));
  // Every subcommand's flags at once: the man page is made from it (help2man).
  app.set_help_all_flag("--help-all", "Print the help of every subcommand and exit");
  commands.add_to(app);
  // `servelab completion bash`: the script made from the flags just defined.
  auto* completion = app.add_subcommand("completion", "Print a shell completion script");
  std::string shell;
  completion->add_option("shell", shell, "The shell (bash)")
      ->required()
      ->check(CLI::IsMember({"bash"}));
  completion->callback(
      [&] { std::fputs(servelab::completion::bash_script(app, "servelab").c_str(), stdout); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : servelab::cli::kExitUsage;
  }
  return commands.exit_code();
}
