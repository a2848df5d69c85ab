#pragma once
// curl_global_init() exactly once per process, before any handle is made
// (it is not safe to race with other libcurl calls on every build).

namespace servelab::load {

// Returns false if libcurl failed to initialize.
bool ensure_curl_global_init() noexcept;

}  // namespace servelab::load
