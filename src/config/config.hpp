// waitline's settings: every one a command-line flag and a WAITLINE_* environment variable.
//
//   auto cfg = waitline::config::parse(argc, argv, environ);   // throws UsageError
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

#include "auth/tokens.hpp"
#include "events/options.hpp"
#include "http/limits.hpp"
#include "queue/options.hpp"
#include "ratelimit/ratelimit.hpp"
#include "redis/options.hpp"

namespace waitline::config {

// Defaults live once, with their owners: the listeners' in http::Limits, Redis's in
// redis::Options, the queue's in queue::Options, the rate limits' in ratelimit::Options, the live
// events' in events::Options, the sessions' in auth/tokens.hpp.
using Endpoint = http::Endpoint;
inline const http::Limits http_defaults;
inline const redis::Options redis_defaults;
inline const queue::Options queue_defaults;
inline const ratelimit::Options ratelimit_defaults;
inline const events::Options events_defaults;


struct Config {
  // The original application's three settings, same names and defaults.
  std::string redis_host = redis_defaults.host;
  std::uint16_t redis_port = redis_defaults.port;
  std::string queue_name = "DEFAULT";

  Endpoint listen{"0.0.0.0", 8000};        // API: ticket endpoints and /docs
  Endpoint admin_listen{"0.0.0.0", 8001};  // /livez /readyz /metrics, never behind the proxy
  unsigned threads = 0;                    // 0: one per usable CPU (app/cpus.hpp)

  std::string redis_username;       // ACL user; empty: the default user
  std::string redis_password_file;  // empty: no AUTH
  std::chrono::milliseconds redis_timeout = redis_defaults.timeout;

  std::string api_keys_file;
  bool insecure_no_auth = false;
  bool legacy_get = true;  // GET /get_ticket and GET /call_ticket, as the original
  bool access_log = true;

  std::chrono::milliseconds header_timeout = http_defaults.header_timeout;
  std::chrono::milliseconds idle_timeout = http_defaults.idle_timeout;
  std::chrono::milliseconds shutdown_timeout{10000};  // in-flight requests after SIGTERM
  std::size_t max_header_bytes = http_defaults.max_header_bytes;
  std::size_t max_body_bytes = http_defaults.max_body_bytes;
  std::size_t max_connections = http_defaults.max_connections;

  std::chrono::milliseconds idempotency_ttl = queue_defaults.idempotency_ttl;
  std::int64_t max_queue_length = queue_defaults.max_length;
  std::int64_t events_retention = queue_defaults.events_retention;
  std::size_t max_event_streams = events_defaults.max_streams;
  std::chrono::milliseconds events_keepalive = events_defaults.keepalive;

  // Signs the visitors' ticket links and the browsers' session cookies; every replica of a queue
  // reads the same file. None: a random secret of this process only.
  std::string ticket_secret_file;
  std::chrono::milliseconds session_ttl = auth::max_session_ttl;

  // Token buckets (requests per second, 0: none; burst), and whose X-Forwarded-For is believed.
  std::uint32_t rate_limit_key = ratelimit_defaults.key.per_second;
  std::uint32_t rate_limit_key_burst = ratelimit_defaults.key.burst;
  std::uint32_t rate_limit_client = ratelimit_defaults.client.per_second;
  std::uint32_t rate_limit_client_burst = ratelimit_defaults.client.burst;
  std::string trusted_proxies = ratelimit_defaults.trusted_proxies;
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

// "500ms", "2s", "1m", "24h" -> milliseconds; throws UsageError naming `what` when malformed.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what);

// "host:port", "[::1]:8000" or ":8000" (any address).
Endpoint parse_endpoint(std::string_view text, std::string_view what);

}  // namespace waitline::config
