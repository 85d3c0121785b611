// libFuzzer target: the settings, from the command line and the environment (src/config).
//
//   build-fuzz/tests/fuzz/fuzz_settings tests/fuzz/corpus/fuzz_settings    (make test-fuzz runs it)
//
// The input is '\0'-separated strings: the command-line arguments, then an empty string, then the
// environment's NAME=value entries. Properties:
// - parse() returns a Config, or throws UsageError with a one-line message, or HelpRequested
//   exactly when an argument is --help or -h; nothing else escapes;
// - an accepted Config, written back as one --flag=value per setting, parses to the same Config
//   (every accepted value can be given again), and with the environment alone too;
// - what `serve` accepts, `probe` (the health check, which skips the cross-setting checks) accepts
//   the same way.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "config/config.hpp"

namespace {

namespace config = waitline::config;
namespace redis = waitline::redis;
using fuzz::check;

std::string endpoint(const config::Endpoint& e) {
  const bool ipv6 = e.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }
std::string boolean(bool b) { return b ? "true" : "false"; }
std::string sentinels(const std::vector<redis::Address>& addresses) {
  std::string text;
  for (const auto& address : addresses) text += (text.empty() ? "" : ",") + endpoint({address.host, address.port});
  return text;
}

// Every setting of `c` as "flag=value", as `waitline --help` documents them. This list is the
// oracle: written from the help text, not from config.cpp's table.
std::vector<std::string> written(const config::Config& c) {
  return {
      "redis-host=" + c.redis.host,
      "redis-port=" + std::to_string(c.redis.port),
      "queue-name=" + c.queue_name,
      "listen=" + endpoint(c.listen),
      "admin-listen=" + endpoint(c.admin_listen),
      "threads=" + std::to_string(c.threads),
      "queue-label=" + c.api.queue_label,
      "redis-username=" + c.redis.username,
      "redis-password-file=" + c.redis_password_file,
      "redis-timeout=" + ms(c.redis.timeout),
      "redis-sentinels=" + sentinels(c.redis.sentinels),
      "redis-primary-name=" + c.redis.primary_name,
      "redis-ack-replicas=" + std::to_string(c.redis.ack_replicas),
      "redis-ack-timeout=" + ms(c.redis.ack_timeout),
      "api-keys-file=" + c.api_keys_file,
      "insecure-no-auth=" + boolean(c.insecure_no_auth),
      "legacy-get=" + boolean(c.api.legacy_get),
      "access-log=" + boolean(c.access_log),
      "header-timeout=" + ms(c.http.header_timeout),
      "idle-timeout=" + ms(c.http.idle_timeout),
      "shutdown-timeout=" + ms(c.shutdown_timeout),
      "max-header-bytes=" + std::to_string(c.http.max_header_bytes),
      "max-body-bytes=" + std::to_string(c.http.max_body_bytes),
      "max-connections=" + std::to_string(c.http.max_connections),
      "idempotency-ttl=" + ms(c.queue.idempotency_ttl),
      "max-queue-length=" + std::to_string(c.queue.max_length),
      "rate-limit-key=" + std::to_string(c.rate_limits.key.per_second),
      "rate-limit-key-burst=" + std::to_string(c.rate_limits.key.burst),
      "rate-limit-client=" + std::to_string(c.rate_limits.client.per_second),
      "rate-limit-client-burst=" + std::to_string(c.rate_limits.client.burst),
      "trusted-proxies=" + c.rate_limits.trusted_proxies,
      "events-retention=" + std::to_string(c.queue.events_retention),
      "max-event-streams=" + std::to_string(c.events.max_streams),
      "events-keepalive=" + ms(c.events.keepalive),
      "ticket-secret-file=" + c.ticket_secret_file,
      "session-ttl=" + ms(c.api.session_ttl),
  };
}

// "redis-port=1" -> "WAITLINE_REDIS_PORT=1"
std::string variable(std::string_view setting) {
  const auto equals = setting.find('=');
  std::string name = "WAITLINE_";
  for (const char c : setting.substr(0, equals)) name += c == '-' ? '_' : static_cast<char>(c - 'a' + 'A');
  return name + std::string(setting.substr(equals));
}

struct Outcome {
  enum { accepted, rejected, help } kind = accepted;
  config::Config config;
  std::string message;
};

Outcome parse(const std::vector<std::string>& args, const std::vector<std::string>& environment,
              config::Use use = config::Use::serve) {
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::vector<const char*> envp;
  for (const auto& entry : environment) envp.push_back(entry.c_str());
  envp.push_back(nullptr);
  Outcome outcome;
  try {
    outcome.config = config::parse(static_cast<int>(argv.size()), argv.data(), envp.data(), use);
  } catch (const config::UsageError& e) {
    outcome.kind = Outcome::rejected;
    outcome.message = e.what();
  } catch (const config::HelpRequested&) {
    outcome.kind = Outcome::help;
  }
  return outcome;
}

}  // namespace

// A setting added to config.cpp but not to written() would go unchecked: refuse to start.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string help = config::help_text();
  std::size_t documented = 0;
  for (std::size_t at = help.find("\n  --"); at != std::string::npos; at = help.find("\n  --", at + 1)) ++documented;
  if (documented != written(config::Config{}).size()) {
    std::fprintf(stderr, "fuzz_settings: --help documents %zu settings, written() in %s writes %zu: add the new ones\n",
                 documented, __FILE__, written(config::Config{}).size());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::vector<std::string> args;
  std::vector<std::string> environment;
  bool in_environment = false;
  for (const auto piece : fuzz::split(data)) {
    if (piece.empty() && !in_environment) {
      in_environment = true;
      continue;
    }
    (in_environment ? environment : args).emplace_back(piece);
  }

  const Outcome outcome = parse(args, environment);
  const bool help_asked = std::ranges::any_of(args, [](const auto& a) { return a == "--help" || a == "-h"; });
  check((outcome.kind == Outcome::help) == help_asked, "help is given exactly when asked for");
  if (outcome.kind == Outcome::rejected) {
    check(!outcome.message.empty(), "a usage error says what is wrong");
    check(outcome.message.find_first_of("\r\n") == std::string::npos, "a usage error is one line");
    return 0;
  }
  if (outcome.kind == Outcome::help) return 0;

  const auto settings = written(outcome.config);
  std::vector<std::string> flags;
  std::vector<std::string> variables;
  for (const auto& setting : settings) {
    flags.push_back("--" + setting);
    variables.push_back(variable(setting));
  }
  const Outcome from_flags = parse(flags, {});
  check(from_flags.kind == Outcome::accepted, "an accepted configuration written as flags is accepted");
  check(written(from_flags.config) == settings, "an accepted configuration written as flags reads the same");
  const Outcome from_environment = parse({}, variables);
  check(from_environment.kind == Outcome::accepted, "an accepted configuration written as variables is accepted");
  check(written(from_environment.config) == settings, "an accepted configuration written as variables reads the same");

  const Outcome probe = parse(args, environment, config::Use::probe);
  check(probe.kind == Outcome::accepted && written(probe.config) == settings,
        "what serve accepts, probe accepts the same way");
  return 0;
}
