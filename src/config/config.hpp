// waitline's settings: every one a command-line flag and a WAITLINE_* environment variable.
//
//   auto cfg = waitline::config::parse(argc, argv, environ);   // throws UsageError
//   http::Server api(lanes, cfg.listen, cfg.http);             // a component's options, whole
//
// A flag given on the command line wins over its environment variable, which wins over the
// default. Values are checked here (ranges, formats); files named by settings are read later by
// their owners (the key store, the Redis client) so that reloads use the same code.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "app/options.hpp"
#include "events/options.hpp"
#include "http/limits.hpp"
#include "queue/options.hpp"
#include "ratelimit/ratelimit.hpp"
#include "redis/options.hpp"

namespace waitline::config {

using Endpoint = http::Endpoint;

// Every setting of the process. The components' options are held whole, with their owners'
// defaults, and handed to them as they are; the table of flags in config.cpp names, for each
// setting, the member it fills, its flag (and so its variable) and its help line.
struct Config {
  // The original application's settings are --queue-name, --redis-host and --redis-port.
  std::string queue_name = "DEFAULT";

  Endpoint listen{"0.0.0.0", 8000};                   // API: ticket endpoints and /docs
  Endpoint admin_listen{"0.0.0.0", 8001};             // /livez /readyz /metrics, never behind the proxy
  unsigned threads = 0;                               // 0: one per usable CPU (app/cpus.hpp)
  std::chrono::milliseconds shutdown_timeout{10000};  // in-flight requests after SIGTERM
  bool access_log = true;

  std::string api_keys_file;
  bool insecure_no_auth = false;
  // Read at start-up into redis.password, so that the password never sits in the environment.
  std::string redis_password_file;
  // Signs the visitors' ticket links and the browsers' session cookies; every replica of a queue
  // reads the same file. None: a random secret of this process only.
  std::string ticket_secret_file;

  redis::Options redis;
  http::Limits http;
  queue::Options queue;
  events::Options events;
  ratelimit::Options rate_limits;
  app::ApiOptions api;
};

// A bad flag or value. what() is one line for the operator; the process exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown for --help: the caller prints help_text() and exits 0.
struct HelpRequested {};

// What the settings are for: serving checks that they make sense together (one of a key file or
// --insecure-no-auth, distinct listeners); probing (`waitline healthcheck`) reads the same
// flags and environment but needs only the admin address.
enum class Use { serve, probe };

// argv excludes the subcommand; envp is a null-terminated "NAME=value" array (environ).
Config parse(int argc, const char* const* argv, const char* const* envp, Use use = Use::serve);

std::string help_text();

// One setting as --help and docs/service.md show it.
struct SettingText {
  std::string flag;           // "--redis-host"
  std::string variable;       // "WAITLINE_REDIS_HOST"
  std::string value_name;     // "HOST"; empty for a switch
  std::string default_value;  // "127.0.0.1", "(none)"
  std::string help;           // one line, with its range when bounded
};
std::vector<SettingText> describe();

// "500ms", "2s", "1m", "24h" -> milliseconds; throws UsageError naming `what` when malformed.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what);

// "host:port", "[::1]:8000" or ":8000" (any address).
Endpoint parse_endpoint(std::string_view text, std::string_view what);

}  // namespace waitline::config
