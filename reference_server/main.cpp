// servelab-server: flags → ServerConfig → serve::run_server(). The flags
// live in the library (serve/server_flags.h), the server too
// (serve/reference_server.h), so that both are tested.
//
// Exit status: 0 after a clean shutdown, 1 when the server cannot start
// (repository, bind), 2 for a flag value it cannot use; CLI11's own errors
// (unknown flag, value out of range, --models missing) keep CLI11's codes.

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "common/build_info.h"
#include "completion/bash_completion.h"
#include "serve/reference_server.h"
#include "serve/server_flags.h"

int main(int argc, char** argv) {
  CLI::App app{"servelab-server: reference inference server (Open Inference Protocol v2 REST)"};
  servelab::serve::ServerConfig config;
  app.set_version_flag("--version", servelab::version_line("servelab-server"));
  servelab::serve::add_server_flags(app, config);
  // `--completion bash` prints the shell completion script and exits at
  // once (triggered while parsing, before --models is found missing), as
  // --help and --version do.
  app.add_option_function<std::string>(
         "--completion",
         [&app](const std::string&) {
           std::fputs(servelab::completion::bash_script(app, "servelab-server").c_str(), stdout);
           throw CLI::Success();
         },
         "Print a shell completion script for SHELL (bash) and exit")
      ->check(CLI::IsMember({"bash"}))
      ->trigger_on_parse();
  try {
    app.parse(argc, argv);
  } catch (const servelab::serve::FlagError& e) {
    fmt::print(stderr, "servelab-server: {}\n", e.what());
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return servelab::serve::run_server(config);
}
