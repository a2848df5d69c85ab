// servelab: the load generator's command line. Thin: flags → lib calls →
// messages and exit codes (documented in README "Exit codes").

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/build_info.h"

int main(int argc, char** argv) {
  servelab::cli::Commands commands;
  CLI::App app{"servelab: measure what serving optimizations really buy"};
  app.require_subcommand(1);
  app.set_version_flag("--version", servelab::version_line("servelab"));
  commands.add_to(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : servelab::cli::kExitUsage;
  }
  return commands.exit_code();
}
