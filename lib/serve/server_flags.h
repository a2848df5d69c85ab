#pragma once
// servelab-server's flags, each declared once (the list in server_flags.cpp)
// and used both ways: add_server_flags() reads flags into a ServerConfig,
// server_args() writes a ServerConfig back as flags, so that whoever starts
// the server (the embedded runner, tests) passes a config instead of
// spelling flags. Parsing server_args(c) gives c again, for every field that
// has a flag. The server-side toggle flags come from kToggles
// (common/toggles.h).
//
// Light on purpose: CLI11 (header-only) and plain structs, no Beast, no
// Eigen; its target servelab_server_flags links servelab_common only.

#include <CLI/Error.hpp>
#include <string>
#include <vector>

#include "common/toggles.h"
#include "serve/server_config.h"

namespace CLI {
class App;
}

namespace servelab::serve {

// servelab-server's exit status for a flag value it cannot use (CLI11's own
// errors, such as an unknown flag or a failed range check, keep CLI11's codes).
inline constexpr int kFlagErrorExitCode = 2;

// A value CLI11 itself does not check: a duration or byte size that does not
// parse, a non-positive value where one must be positive, a bad row list, or
// one flag of a pair without the other. what() names the flag
// ("--queue-timeout: ..."); get_exit_code() is kFlagErrorExitCode.
class FlagError : public CLI::ParseError {
 public:
  explicit FlagError(std::string message)
      : CLI::ParseError("FlagError", std::move(message), kFlagErrorExitCode) {}
};

// Adds every servelab-server flag to `app`, bound to `config`: app.parse()
// fills it (FlagError or another CLI::ParseError when a flag is bad). The
// defaults --help shows are the values `config` holds when this is called.
// REQUIRES: `config` outlives app.parse().
void add_server_flags(CLI::App& app, ServerConfig& config);

// The flags that turn ServerConfig{} into `config` (without the program
// name): --models and the server-side toggle flags always, so that a command
// line says what it measures; every other flag only where `config` differs
// from ServerConfig{}. --api-key is never written (a command line is no place
// for a secret): give the server a key through auth.api_key_file. Fields
// without a flag (http.backlog, the gzip
// thresholds, the manager's history and test hook) are not carried.
std::vector<std::string> server_args(const ServerConfig& config);

// Sets the server option of every server-side toggle (a kToggles row with a
// server_flag) from `toggles`; client-side toggles are not the server's.
void set_toggles(ServerConfig& config, const Toggles& toggles);

}  // namespace servelab::serve
