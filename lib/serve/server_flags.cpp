#include "serve/server_flags.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "common/byte_size.h"
#include "common/duration.h"

namespace servelab::serve {

namespace {

// A range CLI11 checks for a number flag.
template <class T>
struct Range {
  T min;
  T max;
};

// What a duration flag must satisfy besides parsing.
struct DurationRule {
  bool positive = false;  // zero or less: FlagError
  std::string_view with;  // the flag it must come with (a pair such as the stall aid)
};

// The kToggles row whose field is `field`. REQUIRES: there is one (every
// call below names a real toggle; the unit tests go through all of them).
constexpr const ToggleInfo& server_toggle(bool Toggles::*field) {
  for (const ToggleInfo& t : kToggles)
    if (t.field == field) return t;
  throw std::logic_error("no such toggle");
}

// Every flag of servelab-server, once. `v` decides what a line does: binds
// the flag to a CLI::App (Reader), prints the config's value as flag text
// (Writer) or sets it from Toggles (ToggleSetter). C is ServerConfig or
// const ServerConfig.
template <class V, class C>
void each_flag(V& v, C& c) {
  // HTTP (lib/http).
  v.text("--host", c.http.host, "Address to listen on");
  v.number("--port", c.http.port, "TCP port; 0 picks a free one");
  v.number("--threads", c.http.threads, "Network threads", Range<int>{1, 1024});
  v.required_text("--models", c.models_dir, "Model repository folder");
  v.number("--max-header-bytes", c.http.max_header_bytes, "Larger request headers get 431");
  v.number("--max-body-bytes", c.http.max_body_bytes, "Larger request bodies get 413");
  v.duration("--request-timeout", c.http.request_timeout,
             "Time to read one request (and write its response)");
  v.duration("--idle-timeout", c.http.idle_timeout,
             "Keep-alive connection closed after idling this long");
  v.number("--max-requests-per-connection", c.http.max_requests_per_connection,
           "Close a keep-alive connection after this many responses (Connection: close); 0: never");
  v.byte_size("--send-buffer", c.http.send_buffer_bytes,
              "SO_SNDBUF of each connection (e.g. 64KiB); 0: the kernel's autotuning");

  // Authentication (serve/api_key_auth.h).
  v.secret("--api-key", c.auth.api_key,
           "Bearer token protected routes require (Authorization: Bearer KEY); visible to ps, "
           "prefer --api-key-file");
  v.text("--api-key-file", c.auth.api_key_file,
         "Read the bearer token from this file's first line");
  v.text("--protect", c.auth.protect,
         "Comma-separated route groups that need the key: all (every route but /v2/health), "
         "infer, models, repository, metrics, completions, server");

  // The v2 API and the compute pool.
  v.number("--max-rows", c.api.max_rows, "Rows accepted in one infer request");
  v.number("--max-queue", c.api.max_queue,
           "Infer requests in progress at most; more get 503 + Retry-After at once; 0: unbounded",
           Range<size_t>{0, size_t{1} << 24});
  v.duration(
      "--stall-every", c.api.stall_every,
      "Test aid: every DURATION, the next infer request stalls its thread (needs --stall-for)",
      DurationRule{.positive = false, .with = "--stall-for"});
  v.duration("--stall-for", c.api.stall_for,
             "Test aid: how long a stall blocks (needs --stall-every)",
             DurationRule{.positive = false, .with = "--stall-every"});
  v.number("--compute-threads", c.api.compute_threads,
           "Forward-pass and token-generation threads (apart from the network threads); 0: the "
           "CPUs this process may use",
           Range<int>{0, 1024});

  // Dynamic batching: server-wide defaults; a model's [batching] table
  // overrides them (docs/BATCHING.md).
  v.toggle(server_toggle(&Toggles::batching), c.api.batching,
           "group concurrent infer requests per model");
  auto& b = c.api.batch;
  v.number("--max-batch-size", b.max_batch_size, "Rows per batch at most",
           Range<int64_t>{1, int64_t{1} << 20});
  v.duration("--max-queue-delay", b.max_queue_delay,
             "A partial batch leaves after its oldest request waited this long");
  v.row_counts("--preferred-batch-sizes", b.preferred_batch_sizes,
               "Comma-separated row counts a batch is cut to when it can be");
  v.number("--max-queue-size", b.max_queue_size,
           "Requests waiting per model; more get 503 + Retry-After",
           Range<size_t>{1, size_t{1} << 24});
  v.duration("--queue-timeout", b.queue_timeout,
             "A request queued longer gets 503 + Retry-After; 0: never");
  v.flag("--adaptive", b.adaptive, "Adapt the batch size limit to hold --target-batch-time");
  v.duration("--target-batch-time", b.target_batch_time,
             "Adaptive batching: execution time aimed at per batch",
             DurationRule{.positive = true, .with = {}});
  v.flag("--preserve-ordering", b.preserve_ordering,
         "Answer batched requests in arrival order even when batches run in parallel");

  // The model manager (docs/SERVER.md "Model loading").
  auto& m = c.manager;
  v.toggle(
      server_toggle(&Toggles::async_loading), m.async,
      "load models in the background (eager preload, prediction, requests wait without blocking a "
      "thread); off: a request loads its model inline on first use");
  v.byte_size("--model-memory-budget", m.memory_budget,
              "Bytes of model weights kept in memory (e.g. 512MiB, 2GB); least recently used idle "
              "models are evicted past it; 0: unlimited");
  v.number("--max-concurrent-loads", m.max_concurrent_loads, "Loader threads (async loading)",
           Range<int>{1, 256});
  v.duration("--load-wait-timeout", m.wait_timeout,
             "How long a request waits for its model to load before it gets 503 (async loading)",
             DurationRule{.positive = true, .with = {}});
  v.on_off("--prediction", m.prediction,
           "Preload models that recent traffic predicts, while memory allows (async loading only)");

  // /v1/completions and its streams.
  auto& s = c.completions;
  v.toggle(server_toggle(&Toggles::streaming), s.streaming,
           "/v1/completions streams SSE as tokens come (off: built whole, sent at the end)");
  v.on_off("--gzip", s.gzip,
           "Gzip /v1/completions answers over 1 KB for clients that send Accept-Encoding: gzip");
  v.number("--stream-buffer", s.stream.buffer_limit,
           "Bytes a streamed response may hold before its producer is paused (backpressure)",
           Range<size_t>{256, size_t{64} << 20});
  v.choice("--stream-flush", s.stream.flush.mode,
           {std::pair{"event", stream::FlushPolicy::Mode::per_event},
            std::pair{"coalesce", stream::FlushPolicy::Mode::coalesce}},
           "Stream flush policy: event (each event at once) or coalesce");
  v.number("--coalesce-bytes", s.stream.flush.max_bytes,
           "coalesce: flush once this many bytes wait", Range<size_t>{1, size_t{64} << 20});
  v.duration("--coalesce-delay", s.stream.flush.max_delay,
             "coalesce: flush once the oldest waiting byte is this old");
  v.number("--max-tokens", s.max_tokens_limit, "Largest max_tokens a completion may ask for",
           Range<int64_t>{1, int64_t{1} << 24});
  v.number("--max-prompt-tokens", s.max_prompt_tokens,
           "Longest prompt a completion may send, in tokens (bytes); longer: 400",
           Range<int64_t>{1, int64_t{1} << 30});
  v.number("--max-completions", s.max_completions,
           "Completions admitted at once; more get 503 + Retry-After; 0: unlimited",
           Range<int64_t>{0, int64_t{1} << 24});
}

std::string duration_text(std::chrono::microseconds d) { return format_duration(d); }
std::string duration_text(std::chrono::milliseconds d) {
  return format_duration(std::chrono::duration_cast<std::chrono::microseconds>(d));
}

// Binds each flag to the config on a CLI::App. Values CLI11 cannot check
// itself are parsed in option callbacks, which run after the whole command
// line is read (so a pair can see whether its partner was given).
class Reader {
 public:
  explicit Reader(CLI::App& app) : app_(app) {}

  void text(std::string_view name, std::string& value, std::string_view help) {
    app_.add_option(std::string(name), value, std::string(help))->capture_default_str();
  }
  void required_text(std::string_view name, std::string& value, std::string_view help) {
    app_.add_option(std::string(name), value, std::string(help))->required();
  }
  // Like text, but --help never shows its value.
  void secret(std::string_view name, std::string& value, std::string_view help) {
    app_.add_option(std::string(name), value, std::string(help));
  }
  template <class T>
  void number(std::string_view name, T& value, std::string_view help) {
    app_.add_option(std::string(name), value, std::string(help))->capture_default_str();
  }
  template <class T>
  void number(std::string_view name, T& value, std::string_view help, Range<T> range) {
    app_.add_option(std::string(name), value, std::string(help))
        ->capture_default_str()
        ->check(CLI::Range(range.min, range.max));
  }
  void flag(std::string_view name, bool& value, std::string_view help) {
    app_.add_flag(std::string(name), value, std::string(help));
  }
  void on_off(std::string_view name, bool& value, std::string_view help) {
    app_.add_option_function<std::string>(
            std::string(name), [&value](const std::string& text) { value = text == "on"; },
            std::string(help))
        ->check(CLI::IsMember({"on", "off"}))
        ->default_str(value ? "on" : "off");
  }
  void toggle(const ToggleInfo& t, bool& value, std::string_view help) {
    on_off(t.server_flag, value, fmt::format("The {} toggle: {}", t.name, help));
  }
  template <class E>
  void choice(std::string_view name, E& value,
              std::initializer_list<std::pair<const char*, E>> choices, std::string_view help) {
    std::vector<std::string> names;
    std::string current;
    for (const auto& [text, v] : choices) {
      names.emplace_back(text);
      if (v == value) current = text;
    }
    std::vector<std::pair<std::string, E>> table(choices.begin(), choices.end());
    app_.add_option_function<std::string>(
            std::string(name),
            [&value, table = std::move(table)](const std::string& text) {
              for (const auto& [t, v] : table)
                if (t == text) value = v;
            },
            std::string(help))
        ->check(CLI::IsMember(names))
        ->default_str(current);
  }
  template <class Rep, class Period>
  void duration(std::string_view name, std::chrono::duration<Rep, Period>& value,
                std::string_view help, DurationRule rule = {}) {
    using D = std::chrono::duration<Rep, Period>;
    app_.add_option_function<std::string>(
            std::string(name),
            [app = &app_, &value, name, rule](const std::string& text) {
              const auto d = parse_duration(text);
              if (!d) throw FlagError(fmt::format("{}: {}", name, d.error().message));
              if (rule.positive && d->count() <= 0)
                throw FlagError(fmt::format("{} must be positive", name));
              if (!rule.with.empty() && app->get_option(std::string(rule.with))->count() == 0)
                throw FlagError(fmt::format("{} and {} go together", name, rule.with));
              value = std::chrono::duration_cast<D>(*d);
            },
            std::string(help))
        ->default_str(duration_text(value));
  }
  void byte_size(std::string_view name, uint64_t& value, std::string_view help) {
    app_.add_option_function<std::string>(
            std::string(name),
            [&value, name](const std::string& text) {
              const auto bytes = parse_byte_size(text);
              if (!bytes) throw FlagError(fmt::format("{}: {}", name, bytes.error().message));
              value = *bytes;
            },
            std::string(help))
        ->default_str(std::to_string(value));
  }
  void row_counts(std::string_view name, std::vector<int64_t>& value, std::string_view help) {
    app_.add_option_function<std::string>(
        std::string(name),
        [&value, name](const std::string& text) {
          value.clear();
          for (const std::string& item : CLI::detail::split(text, ',')) {
            if (item.empty()) continue;
            long long v = 0;
            try {
              v = std::stoll(item);
            } catch (const std::exception&) {
              v = 0;
            }
            if (v < 1) throw FlagError(fmt::format("{}: '{}' is not a row count", name, item));
            value.push_back(v);
          }
        },
        std::string(help));
  }

 private:
  CLI::App& app_;
};

// One flag's value as command-line words: {"--name", "value"}, {"--name"}
// for a switch that is on, nothing for one that is off.
struct Written {
  std::string_view name;
  std::vector<std::string> words;
  bool always = false;    // written even when it equals the default
  std::string_view with;  // written together with this flag
};

// Prints each flag's value as the words that would set it.
class Writer {
 public:
  std::vector<Written> flags;

  void text(std::string_view name, const std::string& value, std::string_view) { put(name, value); }
  void required_text(std::string_view name, const std::string& value, std::string_view) {
    put(name, value).always = true;
  }
  // Never written: a command line is visible to every user (ps) and is
  // recorded in results. A server started from a config gets its key
  // through --api-key-file.
  void secret(std::string_view name, const std::string&, std::string_view) {
    flags.push_back({name, {}, false, {}});
  }
  template <class T, class... Checks>
  void number(std::string_view name, const T& value, std::string_view, Checks&&...) {
    put(name, fmt::format("{}", value));
  }
  void flag(std::string_view name, const bool& value, std::string_view) {
    flags.push_back(
        {name,
         value ? std::vector<std::string>{std::string(name)} : std::vector<std::string>{},
         false,
         {}});
  }
  void on_off(std::string_view name, const bool& value, std::string_view) {
    put(name, value ? "on" : "off");
  }
  void toggle(const ToggleInfo& t, const bool& value, std::string_view) {
    put(t.server_flag, value ? "on" : "off").always = true;
  }
  template <class E>
  void choice(std::string_view name, const E& value,
              std::initializer_list<std::pair<const char*, E>> choices, std::string_view) {
    for (const auto& [text, v] : choices)
      if (v == value) put(name, text);
  }
  template <class D>
  void duration(std::string_view name, const D& value, std::string_view, DurationRule rule = {}) {
    put(name, duration_text(value)).with = rule.with;
  }
  void byte_size(std::string_view name, const uint64_t& value, std::string_view) {
    put(name, std::to_string(value));
  }
  void row_counts(std::string_view name, const std::vector<int64_t>& value, std::string_view) {
    put(name, fmt::format("{}", fmt::join(value, ",")));
  }

 private:
  Written& put(std::string_view name, std::string value) {
    flags.push_back({name, {std::string(name), std::move(value)}, false, {}});
    return flags.back();
  }
};

// Sets the toggle options; every other flag is left alone.
struct ToggleSetter {
  const Toggles& toggles;

  void toggle(const ToggleInfo& t, bool& value, std::string_view) { value = toggles.*(t.field); }
  template <class... A>
  void text(A&&...) {}
  template <class... A>
  void required_text(A&&...) {}
  template <class... A>
  void secret(A&&...) {}
  template <class... A>
  void number(A&&...) {}
  template <class... A>
  void flag(A&&...) {}
  template <class... A>
  void on_off(A&&...) {}
  template <class E, class... A>
  void choice(std::string_view, E&, std::initializer_list<std::pair<const char*, E>>, A&&...) {}
  template <class... A>
  void duration(A&&...) {}
  template <class... A>
  void byte_size(A&&...) {}
  template <class... A>
  void row_counts(A&&...) {}
};

}  // namespace

void add_server_flags(CLI::App& app, ServerConfig& config) {
  Reader reader(app);
  each_flag(reader, config);
}

std::vector<std::string> server_args(const ServerConfig& config) {
  Writer wanted;
  each_flag(wanted, config);
  Writer defaults;
  const ServerConfig default_config;
  each_flag(defaults, default_config);

  std::vector<bool> write(wanted.flags.size());
  for (size_t i = 0; i < wanted.flags.size(); ++i) {
    write[i] = wanted.flags[i].always || wanted.flags[i].words != defaults.flags[i].words;
  }
  // A pair goes together: writing one writes the other.
  for (size_t i = 0; i < wanted.flags.size(); ++i) {
    if (!write[i] || wanted.flags[i].with.empty()) continue;
    for (size_t j = 0; j < wanted.flags.size(); ++j)
      if (wanted.flags[j].name == wanted.flags[i].with) write[j] = true;
  }
  std::vector<std::string> args;
  for (size_t i = 0; i < wanted.flags.size(); ++i) {
    if (write[i])
      args.insert(args.end(), wanted.flags[i].words.begin(), wanted.flags[i].words.end());
  }
  return args;
}

void set_toggles(ServerConfig& config, const Toggles& toggles) {
  ToggleSetter setter{toggles};
  each_flag(setter, config);
}

}  // namespace servelab::serve
