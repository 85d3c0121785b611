#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace waitline::config {
namespace {

using std::chrono::milliseconds;

// A message stays one line whatever the input it quotes: control characters are written \xNN.
[[noreturn]] void fail(std::string_view source, std::string_view reason) {
  std::string message;
  for (const char c : std::string(source) + ": " + std::string(reason)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      message += c;
    } else {
      constexpr std::string_view hex = "0123456789abcdef";
      message += {'\\', 'x', hex[byte >> 4], hex[byte & 15]};
    }
  }
  throw UsageError(message);
}

std::string quoted(std::string_view text) { return '"' + std::string(text) + '"'; }

// Well-formed UTF-8 (shortest forms, no surrogates) without control characters (C0, DEL, C1).
bool utf8_text(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x20 || lead == 0x7f) return false;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    const std::size_t length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
    if (length == 0 || lead > 0xf4 || i + length > text.size()) return false;
    char32_t code = lead & (0x7f >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    if (code <= 0x9f) return false;  // C1 control characters
    i += length;
  }
  return true;
}

std::optional<std::uint64_t> to_unsigned(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string format_duration(milliseconds duration) {
  const auto ms = duration.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_endpoint(const Endpoint& endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

std::uint16_t parse_port(std::string_view text, std::string_view source) {
  const auto port = to_unsigned(text);
  if (!port || *port < 1 || *port > 65535) {
    fail(source, quoted(text) + " is not a TCP port (1-65535)");
  }
  return static_cast<std::uint16_t>(*port);
}

bool parse_bool(std::string_view text, std::string_view source) {
  std::string lower(text);
  std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  fail(source, quoted(text) + " is not a boolean (true/false, 1/0, yes/no, on/off)");
}

// The help text shows each default by rendering the Config{} value, so defaults live only there.
std::string to_text(const std::string& text) { return text.empty() ? "(none)" : text; }
std::string to_text(bool value) { return value ? "true" : "false"; }
std::string to_text(std::integral auto number) { return std::to_string(number); }
template <class Rep, class Period>
std::string to_text(std::chrono::duration<Rep, Period> duration) {
  return format_duration(std::chrono::duration_cast<milliseconds>(duration));
}
std::string to_text(const Endpoint& endpoint) { return format_endpoint(endpoint); }
std::string to_text(const std::vector<redis::Address>& addresses) {
  std::string text;
  for (const auto& address : addresses) {
    if (!text.empty()) text += ',';
    text += format_endpoint({address.host, address.port});
  }
  return text.empty() ? "(none)" : text;
}

// Where a setting lives in Config: a member, or a member of a component's options (&C::redis,
// &redis::Options::host).
template <auto... members>
struct At {
  static auto& in(Config& config) { return (config.*....*members); }
  static const auto& in(const Config& config) { return (config.*....*members); }
};

// One kind of setting per value type: how a value is checked and stored, shown, and bounded.
template <class At>
struct Field {
  static std::string show(const Config& config) { return to_text(At::in(config)); }
  static std::string range() { return {}; }
};

template <class At>
struct Text : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view /*source*/) { At::in(config) = value; }
};

// A name people read, as UTF-8 text without control characters; empty is allowed.
template <class At>
struct Label : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    constexpr std::size_t max_bytes = 64;
    if (value.size() > max_bytes) {
      fail(source, quoted(value) + " is longer than " + std::to_string(max_bytes) + " bytes");
    }
    if (!utf8_text(value)) fail(source, quoted(value) + " is not UTF-8 text without control characters");
    At::in(config) = value;
  }
};

template <class At>
struct Host : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    if (value.empty()) fail(source, "the host is empty");
    At::in(config) = value;
  }
};

template <class At>
struct QueueName : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    constexpr std::size_t max_length = 64;
    if (value.empty()) fail(source, "the queue name is empty");
    if (value.size() > max_length) {
      fail(source, quoted(value) + " is longer than " + std::to_string(max_length) + " characters");
    }
    const auto allowed = [](unsigned char c) {
      return std::isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
    };
    if (!std::ranges::all_of(value, allowed)) {
      fail(source, quoted(value) + " is not a queue name (letters, digits and _ . : - only)");
    }
    At::in(config) = value;
  }
};

template <class At>
struct Port : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    At::in(config) = parse_port(value, source);
  }
};

template <class At>
struct Address : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    At::in(config) = parse_endpoint(value, source);
  }
};

template <class At, std::uint64_t min, std::uint64_t max>
struct Count : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    const auto count = to_unsigned(value);
    if (!count) fail(source, quoted(value) + " is not a whole number (" + range() + ")");
    if (*count < min || *count > max) {
      fail(source, quoted(value) + " is out of range (" + range() + ")");
    }
    auto& member = At::in(config);
    member = static_cast<std::remove_reference_t<decltype(member)>>(*count);
  }
  static std::string range() { return std::to_string(min) + " to " + std::to_string(max); }
};

// A member counted in seconds takes whole seconds only, so that what is accepted is what is kept.
template <class At, std::int64_t min_ms, std::int64_t max_ms>
struct Duration : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    const auto duration = parse_duration(value, source);
    if (duration < milliseconds(min_ms) || duration > milliseconds(max_ms)) {
      fail(source, quoted(value) + " is out of range (" + range() + ")");
    }
    auto& member = At::in(config);
    using Kept = std::remove_reference_t<decltype(member)>;
    if (std::chrono::duration_cast<Kept>(duration) != duration) {
      fail(source, quoted(value) + " is not a whole number of " + unit_name<Kept>());
    }
    member = std::chrono::duration_cast<Kept>(duration);
  }
  static std::string range() {
    return format_duration(milliseconds(min_ms)) + " to " + format_duration(milliseconds(max_ms));
  }
  template <class Kept>
  static std::string unit_name() {
    return std::is_same_v<Kept, std::chrono::seconds> ? "seconds" : "milliseconds";
  }
};

// One word: what a Sentinel's configuration line can hold as a name.
template <class At>
struct Word : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    const auto printable = [](unsigned char c) { return c > 0x20 && c < 0x7f; };
    if (value.empty() || !std::ranges::all_of(value, printable)) {
      fail(source, quoted(value) + " is not one word of printable characters");
    }
    At::in(config) = value;
  }
};

// "host:port,host:port"; empty: none.
template <class At>
struct AddressList : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    std::vector<redis::Address> addresses;
    for (std::size_t from = 0; from < value.size();) {
      const auto comma = std::min(value.find(',', from), value.size());
      const auto endpoint = parse_endpoint(value.substr(from, comma - from), source);
      if (endpoint.host == "0.0.0.0") fail(source, quoted(value) + " names a server without its host");
      addresses.push_back({endpoint.host, endpoint.port});
      from = comma + 1;
    }
    At::in(config) = std::move(addresses);
  }
};

template <class At>
struct Networks : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    if (!ratelimit::parse_networks(value)) {
      fail(source,
           quoted(value) + " is not a comma-separated list of addresses or CIDRs (10.0.0.0/8, fd00::/8, 127.0.0.1)");
    }
    At::in(config) = value;
  }
};

template <class At>
struct Switch : Field<At> {
  static void assign(Config& config, std::string_view value, std::string_view source) {
    At::in(config) = parse_bool(value, source);
  }
};

struct Setting {
  std::string_view flag;        // without the leading "--"
  std::string_view value_name;  // empty for a switch, which may stand alone
  std::string_view help;
  void (*assign)(Config&, std::string_view value, std::string_view source);
  std::string (*show)(const Config&);
  std::string (*range)();  // empty when any well-formed value is accepted
};

template <class Kind>
constexpr Setting setting(std::string_view flag, std::string_view value_name, std::string_view help) {
  return {flag, value_name, help, Kind::assign, Kind::show, Kind::range};
}

// The settings, in --help's order: each with the member it fills, its flag and its help line.
using C = Config;
using R = redis::Options;
using H = http::Limits;
using Q = queue::Options;
using E = events::Options;
using L = ratelimit::Options;
using A = app::ApiOptions;
constexpr Setting settings[] = {
    setting<Host<At<&C::redis, &R::host>>>("redis-host", "HOST",
                                           "Redis server's host name or address, as in the original app."),
    setting<Port<At<&C::redis, &R::port>>>("redis-port", "PORT", "Redis server's TCP port, as in the original app."),
    setting<QueueName<At<&C::queue_name>>>(
        "queue-name", "NAME", "The one queue this process serves: Redis keys ticket_number_NAME and queue_NAME."),
    setting<Address<At<&C::listen>>>("listen", "ADDR:PORT",
                                     "API listener: ticket endpoints and /docs, behind the proxy."),
    setting<Address<At<&C::admin_listen>>>(
        "admin-listen", "ADDR:PORT", "Admin listener: /livez /readyz /metrics; never expose it through the proxy."),
    setting<Count<At<&C::threads>, 0, 256>>(
        "threads", "N", "Worker threads; 0: one per CPU of the container's limit (or of the host)."),
    setting<Label<At<&C::api, &A::queue_label>>>(
        "queue-label", "TEXT", "The queue's name on the screens and printed tickets; none: NAME with a capital."),
    setting<Text<At<&C::redis, &R::username>>>("redis-username", "NAME",
                                               "Redis ACL user; none uses Redis's default user."),
    setting<Text<At<&C::redis_password_file>>>(
        "redis-password-file", "PATH",
        "File holding the Redis password, so it stays out of the environment; none: no AUTH."),
    setting<Duration<At<&C::redis, &R::timeout>, 10, 60'000>>(
        "redis-timeout", "DURATION", "A Redis reply later than this: 504 for take, call, recall; 503 for reads."),
    setting<AddressList<At<&C::redis, &R::sentinels>>>(
        "redis-sentinels", "HOST:PORT,...",
        "Sentinels naming the Redis primary, followed through failovers; none: --redis-host."),
    setting<Word<At<&C::redis, &R::primary_name>>>("redis-primary-name", "NAME",
                                                   "The name the Sentinels monitor the primary by."),
    setting<Count<At<&C::redis, &R::ack_replicas>, 0, 16>>(
        "redis-ack-replicas", "N", "A change is answered once N replicas hold it (WAIT), else 504; 0: at once."),
    setting<Duration<At<&C::redis, &R::ack_timeout>, 10, 60'000>>(
        "redis-ack-timeout", "DURATION", "How long a change waits for its replicas; below --redis-timeout."),
    setting<Text<At<&C::api_keys_file>>>("api-keys-file", "PATH",
                                         "API keys (name, scopes, SHA-256), reloaded without a restart; see hash-key."),
    setting<Switch<At<&C::insecure_no_auth>>>(
        "insecure-no-auth", "", "Serve without API keys: local development only; one of this or a key file."),
    setting<Switch<At<&C::api, &A::legacy_get>>>("legacy-get", "",
                                                 "Also take and call tickets on GET, as the original app did."),
    setting<Switch<At<&C::access_log>>>("access-log", "", "Log one line per request."),
    setting<Duration<At<&C::http, &H::header_timeout>, 100, 600'000>>(
        "header-timeout", "DURATION", "A request head must arrive within this; slow clients are cut off."),
    setting<Duration<At<&C::http, &H::idle_timeout>, 100, 3'600'000>>(
        "idle-timeout", "DURATION", "A keep-alive connection idle this long is closed."),
    setting<Duration<At<&C::shutdown_timeout>, 0, 600'000>>("shutdown-timeout", "DURATION",
                                                            "After SIGTERM, in-flight requests get this long to end."),
    setting<Count<At<&C::http, &H::max_header_bytes>, 1024, 1'048'576>>(
        "max-header-bytes", "N", "Largest request head accepted; beyond: 431 (414 for the URL)."),
    setting<Count<At<&C::http, &H::max_body_bytes>, 0, 16'777'216>>(
        "max-body-bytes", "N", "Largest request body accepted; a larger one gets 413."),
    setting<Count<At<&C::http, &H::max_connections>, 1, 1'000'000>>(
        "max-connections", "N", "Open connections per listener at most; more are closed at once."),
    setting<Duration<At<&C::queue, &Q::idempotency_ttl>, 1'000, 604'800'000>>(  // 1 s to 7 days
        "idempotency-ttl", "DURATION", "How long a keyed take or call replays its first outcome."),
    setting<Count<At<&C::queue, &Q::max_length>, 0, 100'000'000>>(
        "max-queue-length", "N", "Tickets waiting at most (take: 409 queue_full); 0: none."),
    setting<Count<At<&C::queue, &Q::events_retention>, 100, 10'000'000>>(
        "events-retention", "N", "Events kept for reconnecting clients (and called tickets' counters)."),
    setting<Count<At<&C::events, &E::max_streams>, 0, 1'000'000>>(
        "max-event-streams", "N", "Live event streams open at once (beyond: 503); 0: no streams."),
    setting<Duration<At<&C::events, &E::keepalive>, 1'000, 300'000>>(
        "events-keepalive", "DURATION", "An idle event stream gets a comment line this often."),
    setting<Text<At<&C::ticket_secret_file>>>(
        "ticket-secret-file", "PATH",
        "Secret signing ticket links and sessions (line 1 signs, 2 still verifies); none: random."),
    setting<Duration<At<&C::api, &A::session_ttl>, 1'000, 43'200'000>>(
        "session-ttl", "DURATION", "How long a browser session (POST /session) lasts."),
    setting<Count<At<&C::rate_limits, &L::key, &ratelimit::Rate::per_second>, 0, 1'000'000>>(
        "rate-limit-key", "RATE", "Requests per second per API key (beyond: 429); 0: no limit."),
    setting<Count<At<&C::rate_limits, &L::key, &ratelimit::Rate::burst>, 1, 1'000'000>>(
        "rate-limit-key-burst", "N", "Requests an API key may send at once."),
    setting<Count<At<&C::rate_limits, &L::client, &ratelimit::Rate::per_second>, 0, 1'000'000>>(
        "rate-limit-client", "RATE", "Requests per second per client address (beyond: 429); 0: no limit."),
    setting<Count<At<&C::rate_limits, &L::client, &ratelimit::Rate::burst>, 1, 1'000'000>>(
        "rate-limit-client-burst", "N", "Requests a client address may send at once."),
    setting<Networks<At<&C::rate_limits, &L::trusted_proxies>>>(
        "trusted-proxies", "CIDRS", "Proxies (CIDRs, comma list) whose X-Forwarded-For names the client."),
};
constexpr std::size_t setting_count = std::size(settings);

std::string environment_name(const Setting& setting) {
  std::string name = "WAITLINE_";
  for (const char c : setting.flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

const Setting* find_flag(std::string_view flag) {
  const auto* const found = std::ranges::find(settings, flag, &Setting::flag);
  return found == std::end(settings) ? nullptr : found;
}

struct Assignment {
  const Setting* setting;
  std::string value;
  std::string source;  // "--redis-port" or "WAITLINE_REDIS_PORT", for messages
};

std::vector<Assignment> read_command_line(int argc, const char* const* argv) {
  std::vector<Assignment> assignments;
  for (int i = 0; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (!argument.starts_with("-")) {
      fail(quoted(argument), "unexpected argument; waitline takes only flags (see --help)");
    }
    if (!argument.starts_with("--")) fail(argument, "unknown flag (see --help)");
    const auto flag_and_value = argument.substr(2);
    const auto equals = flag_and_value.find('=');
    const auto flag = flag_and_value.substr(0, equals);
    const Setting* setting = find_flag(flag);
    const std::string source = "--" + std::string(flag);
    if (setting == nullptr) fail(source, "unknown flag (see --help)");

    if (equals != std::string_view::npos) {
      assignments.push_back({setting, std::string(flag_and_value.substr(equals + 1)), source});
    } else if (setting->value_name.empty()) {
      assignments.push_back({setting, "true", source});
    } else if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
      assignments.push_back({setting, argv[++i], source});
    } else {
      fail(source, "needs a value (" + std::string(setting->value_name) + ")");
    }
  }
  return assignments;
}

std::vector<Assignment> read_environment(const char* const* envp) {
  std::vector<Assignment> assignments;
  for (const Setting& setting : settings) {
    const std::string prefix = environment_name(setting) + "=";
    // The first definition wins, as with getenv().
    for (const auto* entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
      const std::string_view variable = *entry;
      if (variable.starts_with(prefix)) {
        assignments.push_back({&setting, std::string(variable.substr(prefix.size())), environment_name(setting)});
        break;
      }
    }
  }
  return assignments;
}

// Where each setting's value came from, to name the right source in cross-setting errors.
class Sources {
 public:
  void record(const Assignment& assignment) {
    sources_[static_cast<std::size_t>(assignment.setting - settings)] = assignment.source;
  }
  std::string of(std::string_view flag) const {
    const Setting* setting = find_flag(flag);
    const std::string& source = sources_[static_cast<std::size_t>(setting - settings)];
    return source.empty() ? "--" + std::string(flag) : source;
  }

 private:
  std::string sources_[setting_count];
};

bool overlap(const Endpoint& a, const Endpoint& b) {
  // A wildcard address takes the port on every address, so it clashes with any host.
  const auto wildcard = [](const std::string& host) { return host == "0.0.0.0" || host == "::"; };
  return a.port == b.port && (a.host == b.host || wildcard(a.host) || wildcard(b.host));
}

void check_together(const Config& config, const Sources& sources) {
  if (overlap(config.listen, config.admin_listen)) {
    const std::string api = format_endpoint(config.listen);
    const std::string admin = format_endpoint(config.admin_listen);
    fail(sources.of("listen") + " and " + sources.of("admin-listen"),
         (api == admin ? "both are " + api : api + " and " + admin + " overlap") +
             "; the API and admin listeners need different ports");
  }
  // WAIT holds the connection up to the ack timeout: the commands behind it would time out first.
  if (config.redis.ack_replicas > 0 && config.redis.ack_timeout >= config.redis.timeout) {
    fail(sources.of("redis-ack-timeout") + " and " + sources.of("redis-timeout"),
         "the ack timeout (" + format_duration(config.redis.ack_timeout) +
             ") must be shorter than the Redis timeout (" + format_duration(config.redis.timeout) + ")");
  }
  const bool keys = !config.api_keys_file.empty();
  if (keys && config.insecure_no_auth) {
    fail(sources.of("api-keys-file") + " and " + sources.of("insecure-no-auth"), "give only one of them");
  }
  if (!keys && !config.insecure_no_auth) {
    fail("--api-keys-file or --insecure-no-auth",
         "give one of them: API keys are required unless authentication is disabled explicitly");
  }
}

}  // namespace

Config parse(int argc, const char* const* argv, const char* const* envp, Use use) {
  // Help wins over any other argument, and over a broken environment.
  for (int i = 0; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--help" || argument == "-h") throw HelpRequested{};
  }
  const auto command_line = read_command_line(argc, argv);
  const auto on_command_line = [&](const Assignment& variable) {
    return std::ranges::any_of(command_line, [&](const Assignment& flag) { return flag.setting == variable.setting; });
  };

  Config config;
  Sources sources;
  const auto apply = [&](const Assignment& assignment) {
    assignment.setting->assign(config, assignment.value, assignment.source);
    sources.record(assignment);
  };
  // A variable overridden by its flag is not even checked: the flag is how to fix a bad one.
  for (const Assignment& variable : read_environment(envp)) {
    if (!on_command_line(variable)) apply(variable);
  }
  std::ranges::for_each(command_line, apply);
  if (use == Use::serve) check_together(config, sources);
  return config;
}

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what) {
  const auto unit_at = std::min(text.find_first_not_of("0123456789"), text.size());
  const auto digits = text.substr(0, unit_at);
  const auto unit = text.substr(unit_at);
  const std::int64_t scale = unit == "ms"  ? 1
                             : unit == "s" ? 1'000
                             : unit == "m" ? 60'000
                             : unit == "h" ? 3'600'000
                                           : 0;
  if (digits.empty() || scale == 0) {
    fail(what, quoted(text) + " is not a duration (an integer and a unit: 500ms, 10s, 2m, 24h)");
  }
  const auto number = to_unsigned(digits);  // only fails on overflow now
  const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / scale);
  if (!number || *number > limit) {
    fail(what, quoted(text) + " is too long a duration");
  }
  return milliseconds(static_cast<std::int64_t>(*number) * scale);
}

Endpoint parse_endpoint(std::string_view text, std::string_view what) {
  constexpr char not_an_endpoint[] = " is not ADDR:PORT (e.g. 127.0.0.1:8000, [::1]:8000, :8000)";
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos || close == 1) fail(what, quoted(text) + not_an_endpoint);
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    // A second colon means an IPv6 address without its brackets.
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
      fail(what, quoted(text) + not_an_endpoint);
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  // Brackets only enclose an address: a host holding one could not be written back as ADDR:PORT.
  if (host.find_first_of("[]") != std::string_view::npos) fail(what, quoted(text) + not_an_endpoint);
  return {host.empty() ? "0.0.0.0" : std::string(host), parse_port(port, what)};
}

std::vector<SettingText> describe() {
  const Config defaults;
  std::vector<SettingText> texts;
  for (const Setting& setting : settings) {
    const std::string range = setting.range();
    texts.push_back({"--" + std::string(setting.flag), environment_name(setting), std::string(setting.value_name),
                     setting.show(defaults),
                     std::string(setting.help) + (range.empty() ? "" : " Range: " + range + ".")});
  }
  return texts;
}

std::string help_text() {
  constexpr std::size_t flag_width = 32;
  constexpr std::size_t environment_width = 30;
  const auto column = [](std::string text, std::size_t width) {
    text.resize(std::max(text.size() + 1, width), ' ');
    return text;
  };
  std::string text =
      "Usage:\n"
      "  waitline [serve] [FLAGS]      serve one ticket queue (the default subcommand)\n"
      "  waitline healthcheck [FLAGS]  exit 0 when GET /readyz on the admin listener answers 200;\n"
      "                                the container health check, it reads the same settings\n"
      "  waitline hash-key --name NAME --scopes SCOPES [--key KEY]\n"
      "                                print a new key (or KEY) and its line for the key file;\n"
      "                                SCOPES is a comma list of take, call, read, or * for all\n"
      "\n"
      "Every flag is also an environment variable: WAITLINE_ and the flag in upper snake case.\n"
      "The command line wins over the environment, which wins over the default.\n"
      "Durations are an integer and a unit: 500ms, 10s, 2m. Switches stand alone or take\n"
      "=true/false (also 1/0, yes/no, on/off).\n"
      "\n" +
      column("Flags:", flag_width) + column("Environment:", environment_width) + "Default:\n";
  for (const SettingText& setting : describe()) {
    const std::string value = setting.value_name.empty() ? "[=BOOL]" : " " + setting.value_name;
    text += column("  " + setting.flag + value, flag_width) + column(setting.variable, environment_width) +
            setting.default_value + "\n";
    text += "      " + setting.help + "\n";
  }
  return text;
}

}  // namespace waitline::config
