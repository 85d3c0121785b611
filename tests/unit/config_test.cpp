#include "config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using waitline::config::Config;
using waitline::config::Endpoint;
using waitline::config::HelpRequested;
using waitline::config::UsageError;

// Every valid configuration names its authentication; most tests use this key file.
const std::string keys_flag = "--api-keys-file=/etc/waitline/keys";

// Runs config::parse as main() does: argv holds only the flags, envp is null-terminated.
Config parse(const std::vector<std::string>& args, const std::vector<std::string>& environment = {}) {
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::vector<const char*> envp;
  for (const auto& variable : environment) envp.push_back(variable.c_str());
  envp.push_back(nullptr);
  return waitline::config::parse(static_cast<int>(argv.size()), argv.data(), envp.data());
}

// The UsageError message parse() throws; fails the test when it throws nothing.
std::string usage_error(const std::vector<std::string>& args, const std::vector<std::string>& environment = {}) {
  try {
    parse(args, environment);
  } catch (const UsageError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    return message;
  }
  ADD_FAILURE() << "expected a UsageError";
  return {};
}

std::string duration_error(std::string_view text) {
  try {
    waitline::config::parse_duration(text, "--test");
  } catch (const UsageError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a UsageError for " << text;
  return {};
}

std::string endpoint_error(std::string_view text) {
  try {
    waitline::config::parse_endpoint(text, "--test");
  } catch (const UsageError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a UsageError for " << text;
  return {};
}

testing::AssertionResult contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << '"' << text << "\" does not contain \"" << part << '"';
}

// The one list of settings these tests know: each flag with a valid value other than its default.
struct Sample {
  std::string flag;  // without the leading "--"
  std::string value;
  std::function<bool(const Config&)> took_effect;
};

const std::vector<Sample>& samples() {
  static const std::vector<Sample> all = {
      {"redis-host", "redis.internal", [](auto& c) { return c.redis.host == "redis.internal"; }},
      {"redis-port", "6380", [](auto& c) { return c.redis.port == 6380; }},
      {"queue-name", "rubis", [](auto& c) { return c.queue_name == "rubis"; }},
      {"listen", "127.0.0.1:9000",
       [](auto& c) {
         return c.listen == Endpoint{"127.0.0.1", 9000};
       }},
      {"admin-listen", "127.0.0.1:9001",
       [](auto& c) {
         return c.admin_listen == Endpoint{"127.0.0.1", 9001};
       }},
      {"threads", "4", [](auto& c) { return c.threads == 4; }},
      {"queue-label", "Émeraude", [](auto& c) { return c.api.queue_label == "Émeraude"; }},
      {"redis-username", "waitline", [](auto& c) { return c.redis.username == "waitline"; }},
      {"redis-password-file", "/run/secrets/redis",
       [](auto& c) { return c.redis_password_file == "/run/secrets/redis"; }},
      {"redis-timeout", "250ms", [](auto& c) { return c.redis.timeout == 250ms; }},
      {"api-keys-file", "/run/keys", [](auto& c) { return c.api_keys_file == "/run/keys"; }},
      {"insecure-no-auth", "true", [](auto& c) { return c.insecure_no_auth; }},
      {"legacy-get", "false", [](auto& c) { return !c.api.legacy_get; }},
      {"access-log", "off", [](auto& c) { return !c.access_log; }},
      {"header-timeout", "5s", [](auto& c) { return c.http.header_timeout == 5s; }},
      {"idle-timeout", "2m", [](auto& c) { return c.http.idle_timeout == 2min; }},
      {"shutdown-timeout", "0s", [](auto& c) { return c.shutdown_timeout == 0s; }},
      {"max-header-bytes", "16384", [](auto& c) { return c.http.max_header_bytes == 16384; }},
      {"max-body-bytes", "0", [](auto& c) { return c.http.max_body_bytes == 0; }},
      {"max-connections", "512", [](auto& c) { return c.http.max_connections == 512; }},
      {"idempotency-ttl", "2h", [](auto& c) { return c.queue.idempotency_ttl == 2h; }},
      {"max-queue-length", "0", [](auto& c) { return c.queue.max_length == 0; }},
      {"rate-limit-key", "20", [](auto& c) { return c.rate_limits.key.per_second == 20; }},
      {"rate-limit-key-burst", "40", [](auto& c) { return c.rate_limits.key.burst == 40; }},
      {"rate-limit-client", "50", [](auto& c) { return c.rate_limits.client.per_second == 50; }},
      {"rate-limit-client-burst", "75", [](auto& c) { return c.rate_limits.client.burst == 75; }},
      {"trusted-proxies", "10.0.0.0/8, fd00::/8,127.0.0.1",
       [](auto& c) { return c.rate_limits.trusted_proxies == "10.0.0.0/8, fd00::/8,127.0.0.1"; }},
      {"events-retention", "500", [](auto& c) { return c.queue.events_retention == 500; }},
      {"max-event-streams", "10000", [](auto& c) { return c.events.max_streams == 10000; }},
      {"events-keepalive", "1s", [](auto& c) { return c.events.keepalive == 1s; }},
      {"ticket-secret-file", "/run/secrets/ticket",
       [](auto& c) { return c.ticket_secret_file == "/run/secrets/ticket"; }},
      {"session-ttl", "1h", [](auto& c) { return c.api.session_ttl == 1h; }},
      {"redis-sentinels", "s1:26379,s2:26379",
       [](auto& c) { return c.redis.sentinels.size() == 2 && c.redis.sentinels[1].text() == "s2:26379"; }},
      {"redis-primary-name", "prod", [](auto& c) { return c.redis.primary_name == "prod"; }},
      {"redis-ack-replicas", "2", [](auto& c) { return c.redis.ack_replicas == 2; }},
      {"redis-ack-timeout", "200ms", [](auto& c) { return c.redis.ack_timeout == 200ms; }},
  };
  return all;
}

std::string environment_name(const std::string& flag) {
  std::string name = "WAITLINE_";
  for (const char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

// The samples that configure authentication themselves must not get the key file on top.
std::vector<std::string> authentication_for(const Sample& sample) {
  if (sample.flag == "api-keys-file" || sample.flag == "insecure-no-auth") return {};
  return {keys_flag};
}

TEST(Config, DefaultsMatchTheOriginalApp) {
  const Config config = parse({keys_flag});
  EXPECT_EQ(config.redis.host, "127.0.0.1");
  EXPECT_EQ(config.redis.port, 6379);
  EXPECT_EQ(config.queue_name, "DEFAULT");
  EXPECT_EQ(config.listen, (Endpoint{"0.0.0.0", 8000}));
  EXPECT_TRUE(config.api.legacy_get);
}

TEST(Config, FirstArgumentIsAFlagNotTheProgramName) {
  EXPECT_EQ(parse({"--redis-port=6380", keys_flag}).redis.port, 6380);
}

TEST(Config, EveryFlagHasAnEnvironmentVariable) {
  for (const Sample& sample : samples()) {
    const Config config = parse(authentication_for(sample), {environment_name(sample.flag) + "=" + sample.value});
    EXPECT_TRUE(sample.took_effect(config)) << environment_name(sample.flag);
  }
}

TEST(Config, EveryFlagAcceptsTheEqualsForm) {
  for (const Sample& sample : samples()) {
    auto args = authentication_for(sample);
    args.push_back("--" + sample.flag + "=" + sample.value);
    EXPECT_TRUE(sample.took_effect(parse(args))) << sample.flag;
  }
}

TEST(Config, FlagValueMayBeTheNextArgument) {
  const Config config = parse({"--redis-host", "redis.internal", "--redis-port", "6380", keys_flag, "--queue-name",
                               "rubis", "--listen", "[::1]:9000", "--redis-timeout", "2s"});
  EXPECT_EQ(config.redis.host, "redis.internal");
  EXPECT_EQ(config.redis.port, 6380);
  EXPECT_EQ(config.queue_name, "rubis");
  EXPECT_EQ(config.listen, (Endpoint{"::1", 9000}));
  EXPECT_EQ(config.redis.timeout, 2s);
}

TEST(Config, FlagWinsOverEnvironment) {
  const Config config = parse({keys_flag, "--redis-port", "6381", "--legacy-get=false"},
                              {"WAITLINE_REDIS_PORT=6380", "WAITLINE_LEGACY_GET=true"});
  EXPECT_EQ(config.redis.port, 6381);
  EXPECT_FALSE(config.api.legacy_get);
}

TEST(Config, FlagOverridesABadEnvironmentVariableWithoutAnError) {
  const Config config = parse({keys_flag, "--redis-port=6380"}, {"WAITLINE_REDIS_PORT=tcp://x"});
  EXPECT_EQ(config.redis.port, 6380);
}

TEST(Config, LastOfARepeatedFlagWins) {
  EXPECT_EQ(parse({keys_flag, "--redis-port=6380", "--redis-port=6381"}).redis.port, 6381);
}

TEST(Config, UnknownWaitlineVariablesAreIgnored) {
  // Kubernetes injects these for a Service named "waitline".
  const Config config = parse({keys_flag}, {"WAITLINE_SERVICE_HOST=10.0.0.1", "WAITLINE_PORT=tcp://10.0.0.1:8000",
                                            "WAITLINE_PORT_8000_TCP_PORT=8000", "WAITLINE_REDIS_HOSTNAME=x"});
  EXPECT_EQ(config.redis.host, "127.0.0.1");
}

TEST(Config, SwitchStandingAloneIsTrue) {
  const Config config = parse({"--insecure-no-auth", "--access-log"});
  EXPECT_TRUE(config.insecure_no_auth);
  EXPECT_TRUE(config.access_log);
}

TEST(Config, SwitchAcceptsBooleanWordsInAnyCase) {
  for (const std::string word : {"true", "1", "yes", "on", "TRUE", "Yes", "oN"}) {
    EXPECT_TRUE(parse({keys_flag, "--legacy-get=false", "--legacy-get=" + word}).api.legacy_get) << word;
    EXPECT_TRUE(parse({keys_flag}, {"WAITLINE_ACCESS_LOG=" + word}).access_log) << word;
  }
  for (const std::string word : {"false", "0", "no", "off", "FALSE", "No", "Off"}) {
    EXPECT_FALSE(parse({keys_flag, "--legacy-get=" + word}).api.legacy_get) << word;
    EXPECT_FALSE(parse({keys_flag}, {"WAITLINE_ACCESS_LOG=" + word}).access_log) << word;
  }
}

TEST(Config, SwitchRejectsOtherWords) {
  EXPECT_EQ(usage_error({keys_flag, "--legacy-get=maybe"}),
            R"(--legacy-get: "maybe" is not a boolean (true/false, 1/0, yes/no, on/off))");
  EXPECT_TRUE(
      contains(usage_error({keys_flag}, {"WAITLINE_ACCESS_LOG="}), R"(WAITLINE_ACCESS_LOG: "" is not a boolean)"));
}

TEST(Config, SwitchDoesNotTakeTheNextArgument) {
  EXPECT_TRUE(contains(usage_error({keys_flag, "--legacy-get", "false"}), R"("false")"));
}

TEST(Config, PortOutsideTcpRangeIsRejected) {
  EXPECT_EQ(usage_error({keys_flag, "--redis-port", "70000"}), R"(--redis-port: "70000" is not a TCP port (1-65535))");
  for (const std::string port : {"0", "-1", "abc", "", "63 79", "+6379"}) {
    EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-port=" + port}), "is not a TCP port")) << port;
  }
}

TEST(Config, EnvironmentErrorNamesTheVariable) {
  EXPECT_EQ(usage_error({keys_flag}, {"WAITLINE_REDIS_PORT=0"}),
            R"(WAITLINE_REDIS_PORT: "0" is not a TCP port (1-65535))");
}

TEST(Config, QueueLabelIsUtf8TextWithoutControlCharacters) {
  EXPECT_EQ(parse({keys_flag, "--queue-label=Accueil général"}).api.queue_label, "Accueil général");
  EXPECT_EQ(parse({keys_flag, "--queue-label="}).api.queue_label, "") << "empty: the service names it";
  for (const std::string& bad : {std::string("caf\xc3"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                 std::string("a\tb"), std::string("a\x7f"), std::string("\xc2\x85")}) {
    EXPECT_TRUE(contains(usage_error({keys_flag, "--queue-label=" + bad}), "is not UTF-8 text")) << bad;
  }
  EXPECT_TRUE(contains(usage_error({keys_flag, "--queue-label=" + std::string(65, 'x')}), "is longer than 64 bytes"));
}

TEST(Config, EmptyRedisHostIsRejected) {
  EXPECT_EQ(usage_error({keys_flag, "--redis-host="}), "--redis-host: the host is empty");
}

TEST(Config, QueueNameIsOneTo64SafeCharacters) {
  EXPECT_EQ(parse({keys_flag, "--queue-name=Team_1.a:b-c"}).queue_name, "Team_1.a:b-c");
  EXPECT_EQ(parse({keys_flag, "--queue-name=" + std::string(64, 'q')}).queue_name.size(), 64u);
  EXPECT_EQ(usage_error({keys_flag, "--queue-name="}), "--queue-name: the queue name is empty");
  EXPECT_TRUE(contains(usage_error({keys_flag, "--queue-name=" + std::string(65, 'q')}), "64"));
  for (const std::string name : {"a b", "a/b", "a{b}", "caf\xc3\xa9"}) {
    EXPECT_TRUE(contains(usage_error({keys_flag, "--queue-name=" + name}), "is not a queue name")) << name;
  }
}

TEST(Config, DurationIsAnIntegerAndAUnit) {
  using waitline::config::parse_duration;
  EXPECT_EQ(parse_duration("500ms", "--test"), 500ms);
  EXPECT_EQ(parse_duration("1s", "--test"), 1s);
  EXPECT_EQ(parse_duration("2m", "--test"), 2min);
  EXPECT_EQ(parse_duration("0ms", "--test"), 0ms);
}

TEST(Config, MalformedDurationIsRejected) {
  EXPECT_EQ(duration_error("5"), R"(--test: "5" is not a duration (an integer and a unit: 500ms, 10s, 2m, 24h))");
  for (const std::string_view text : {"", "s", "-5s", "+5s", "1.5s", "5d", "5 s", "5sec", "s5"}) {
    EXPECT_TRUE(contains(duration_error(text), "is not a duration")) << text;
  }
}

TEST(Config, OverflowingDurationIsRejected) {
  EXPECT_TRUE(contains(duration_error("99999999999999999999ms"), "too long"));
  EXPECT_TRUE(contains(duration_error("9223372036854775807m"), "too long"));
}

TEST(Config, DurationOutOfRangeIsRejected) {
  EXPECT_EQ(usage_error({keys_flag, "--redis-timeout=5ms"}), R"(--redis-timeout: "5ms" is out of range (10ms to 1m))");
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-timeout=61s"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--header-timeout=99ms"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--header-timeout=11m"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--idle-timeout=61m"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--shutdown-timeout=601s"}), "out of range"));
  EXPECT_EQ(parse({keys_flag, "--idle-timeout=60m"}).http.idle_timeout, 1h);
  EXPECT_EQ(parse({keys_flag, "--shutdown-timeout=10m"}).shutdown_timeout, 10min);
}

TEST(Config, ADurationKeptInSecondsTakesWholeSeconds) {
  EXPECT_EQ(parse({keys_flag, "--session-ttl=90000ms"}).api.session_ttl, 90s);
  EXPECT_EQ(usage_error({keys_flag, "--session-ttl=1500ms"}),
            R"(--session-ttl: "1500ms" is not a whole number of seconds)");
}

TEST(Config, TrustedProxiesAreAddressesOrCidrs) {
  for (const char* proxies :
       {"10.0.0.0/33", "10.0.0/8", "fd00::/129", "10.0.0.0/8,,127.0.0.1", "proxy", "10.0.0.0/x"}) {
    EXPECT_TRUE(contains(usage_error({keys_flag, std::string("--trusted-proxies=") + proxies}),
                         "is not a comma-separated list of addresses or CIDRs"))
        << proxies;
  }
  EXPECT_EQ(parse({keys_flag, "--trusted-proxies=::1,192.168.0.0/16"}).rate_limits.trusted_proxies,
            "::1,192.168.0.0/16");
}

TEST(Config, CountsOutOfRangeAreRejected) {
  EXPECT_EQ(usage_error({keys_flag, "--threads=257"}), R"(--threads: "257" is out of range (0 to 256))");
  EXPECT_EQ(parse({keys_flag, "--threads=256"}).threads, 256u);
  EXPECT_TRUE(contains(usage_error({keys_flag, "--max-header-bytes=1023"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--max-header-bytes=1048577"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--max-body-bytes=16777217"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--rate-limit-key-burst=0"}), "out of range"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--rate-limit-client=1000001"}), "out of range"));
  EXPECT_EQ(usage_error({keys_flag, "--max-body-bytes=1k"}),
            R"(--max-body-bytes: "1k" is not a whole number (0 to 16777216))");
}

TEST(Config, EndpointIsHostAndPort) {
  using waitline::config::parse_endpoint;
  EXPECT_EQ(parse_endpoint("127.0.0.1:8000", "--test"), (Endpoint{"127.0.0.1", 8000}));
  EXPECT_EQ(parse_endpoint("localhost:80", "--test"), (Endpoint{"localhost", 80}));
  EXPECT_EQ(parse_endpoint("[::1]:8000", "--test"), (Endpoint{"::1", 8000}));
  EXPECT_EQ(parse_endpoint(":8000", "--test"), (Endpoint{"0.0.0.0", 8000}));
}

TEST(Config, MalformedEndpointIsRejected) {
  EXPECT_EQ(endpoint_error("8000"), R"(--test: "8000" is not ADDR:PORT (e.g. 127.0.0.1:8000, [::1]:8000, :8000))");
  for (const std::string_view text : {"", "::1:8000", "[]:80", "[::1]", "[::1]8000", "a:b:80", "[[a]:80", "a]:80"}) {
    EXPECT_TRUE(contains(endpoint_error(text), "is not ADDR:PORT")) << text;
  }
  for (const std::string_view text : {"host:", "host:0", "host:65536", "[::1]:x"}) {
    EXPECT_TRUE(contains(endpoint_error(text), "is not a TCP port")) << text;
  }
}

TEST(Config, ListenersMustNotOverlap) {
  EXPECT_EQ(usage_error({keys_flag, "--listen=127.0.0.1:9000"}, {"WAITLINE_ADMIN_LISTEN=127.0.0.1:9000"}),
            "--listen and WAITLINE_ADMIN_LISTEN: both are 127.0.0.1:9000; "
            "the API and admin listeners need different ports");
  // The wildcard address takes the port on every address.
  EXPECT_TRUE(contains(usage_error({keys_flag, "--listen=:9000", "--admin-listen=127.0.0.1:9000"}), "overlap"));
  const Config config = parse({keys_flag, "--listen=127.0.0.1:9000", "--admin-listen=10.0.0.1:9000"});
  EXPECT_EQ(config.admin_listen.port, 9000);
}

TEST(Config, AuthenticationMustBeChosen) {
  const std::string neither = usage_error({});
  EXPECT_TRUE(contains(neither, "--api-keys-file"));
  EXPECT_TRUE(contains(neither, "--insecure-no-auth"));
  EXPECT_TRUE(contains(neither, "give one of them"));
  EXPECT_TRUE(contains(usage_error({"--insecure-no-auth=false"}), "give one of them"));
}

TEST(Config, TheHealthcheckNeedsOnlyTheAdminAddress) {
  const char* argv[] = {"--admin-listen", "127.0.0.1:9001"};
  const char* envp[] = {nullptr};
  auto config = waitline::config::parse(2, argv, envp, waitline::config::Use::probe);
  EXPECT_EQ(config.admin_listen.port, 9001);
  EXPECT_THROW(waitline::config::parse(2, argv, envp, waitline::config::Use::serve), waitline::config::UsageError);
}

TEST(Config, AuthenticationCannotBeBothKeysAndNone) {
  EXPECT_EQ(usage_error({keys_flag}, {"WAITLINE_INSECURE_NO_AUTH=1"}),
            "--api-keys-file and WAITLINE_INSECURE_NO_AUTH: give only one of them");
  EXPECT_FALSE(parse({keys_flag, "--insecure-no-auth=false"}).insecure_no_auth);
}

TEST(Config, FlagWithoutItsValueIsRejected) {
  EXPECT_EQ(usage_error({keys_flag, "--redis-host"}), "--redis-host: needs a value (HOST)");
  EXPECT_EQ(usage_error({keys_flag, "--redis-host", "--queue-name", "rubis"}), "--redis-host: needs a value (HOST)");
}

TEST(Config, UnknownFlagIsRejected) {
  EXPECT_EQ(usage_error({keys_flag, "--redis-hots=x"}), "--redis-hots: unknown flag (see --help)");
  EXPECT_EQ(usage_error({keys_flag, "-p"}), "-p: unknown flag (see --help)");
}

TEST(Config, MessagesStayOneLineWhateverTheyQuote) {  // found by tests/fuzz
  EXPECT_EQ(usage_error({keys_flag, "--h-\r"}), "--h-\\x0d: unknown flag (see --help)");
  EXPECT_EQ(usage_error({keys_flag}, {"WAITLINE_REDIS_PORT=80\n81"}),
            R"(WAITLINE_REDIS_PORT: "80\x0a81" is not a TCP port (1-65535))");
}

TEST(Config, StrayArgumentIsRejected) {
  EXPECT_EQ(usage_error({keys_flag, "serve"}),
            R"("serve": unexpected argument; waitline takes only flags (see --help))");
}

TEST(Config, HelpIsRequestedEvenAmongBadArguments) {
  EXPECT_THROW(parse({"--help"}), HelpRequested);
  EXPECT_THROW(parse({"-h"}), HelpRequested);
  EXPECT_THROW(parse({"--bogus", "--redis-port=0", "-h"}, {"WAITLINE_REDIS_PORT=x"}), HelpRequested);
}

TEST(Config, HelpListsEveryFlagWithItsVariableAndDefault) {
  const std::string help = waitline::config::help_text();
  for (const Sample& sample : samples()) {
    EXPECT_TRUE(contains(help, "\n  --" + sample.flag));
    EXPECT_TRUE(contains(help, environment_name(sample.flag) + " "));
  }
  for (const std::string subcommand : {"serve", "healthcheck", "hash-key", "/readyz"}) {
    EXPECT_TRUE(contains(help, subcommand));
  }
  EXPECT_TRUE(contains(help, "WAITLINE_REDIS_HOST           127.0.0.1\n"));
  EXPECT_TRUE(contains(help, "WAITLINE_REDIS_PORT           6379\n"));
  EXPECT_TRUE(contains(help, "WAITLINE_QUEUE_NAME           DEFAULT\n"));
}

TEST(Config, HelpListsNoFlagTheseTestsDoNotKnow) {
  // Keeps samples() complete: a new flag must come with its test value.
  std::set<std::string> known;
  for (const Sample& sample : samples()) known.insert(sample.flag);
  std::istringstream help(waitline::config::help_text());
  std::set<std::string> listed;
  for (std::string line; std::getline(help, line);) {
    if (line.starts_with("  --")) listed.insert(line.substr(4, line.find_first_of(" [", 4) - 4));
  }
  EXPECT_EQ(listed, known);
}

TEST(Config, HelpFitsOnAScreen) {
  std::istringstream help(waitline::config::help_text());
  int lines = 0;
  for (std::string line; std::getline(help, line); ++lines) {
    EXPECT_LE(line.size(), 100u) << line;
  }
  // 41 settings of two lines each and the usage: a tall terminal's screen.
  EXPECT_LE(lines, 86);
}

// --- Sentinel and replicas (tests/integration/failover_test.cpp runs them) ----------------------

TEST(ConfigSentinel, SentinelsAreACommaListOfHostAndPort) {
  const Config config = parse({keys_flag, "--redis-sentinels=sentinel-1:26379,10.0.0.3:26380,[::1]:26381"});
  ASSERT_EQ(config.redis.sentinels.size(), 3u);
  EXPECT_EQ(config.redis.sentinels[0].text(), "sentinel-1:26379");
  EXPECT_EQ(config.redis.sentinels[1].text(), "10.0.0.3:26380");
  EXPECT_EQ(config.redis.sentinels[2].host, "::1");
  EXPECT_TRUE(parse({keys_flag}).redis.sentinels.empty()) << "none by default: --redis-host is the server";
  EXPECT_EQ(parse({keys_flag}, {"WAITLINE_REDIS_SENTINELS=s:1"}).redis.sentinels.front().text(), "s:1");
}

TEST(ConfigSentinel, ASentinelWithoutHostOrPortIsRejected) {
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-sentinels=sentinel-1"}), "is not ADDR:PORT"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-sentinels=s:26379,,t:1"}), "is not ADDR:PORT"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-sentinels=:26379"}), "without its host"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-sentinels=s:0"}), "is not a TCP port"));
}

TEST(ConfigSentinel, ThePrimaryNameIsOneWord) {
  EXPECT_EQ(parse({keys_flag}).redis.primary_name, "waitline");
  EXPECT_EQ(parse({keys_flag, "--redis-primary-name=waitline-prod"}).redis.primary_name, "waitline-prod");
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-primary-name=two words"}), "is not one word"));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-primary-name="}), "is not one word"));
}

TEST(ConfigSentinel, TheAckTimeoutStaysBelowTheRedisTimeoutWhenReplicasAreAwaited) {
  const Config config = parse({keys_flag, "--redis-ack-replicas=1", "--redis-ack-timeout=300ms"});
  EXPECT_EQ(config.redis.ack_replicas, 1u);
  EXPECT_EQ(config.redis.ack_timeout, 300ms);
  EXPECT_EQ(parse({keys_flag}).redis.ack_replicas, 0u) << "by default a change is answered at once";
  EXPECT_EQ(
      usage_error({keys_flag, "--redis-ack-replicas=1", "--redis-ack-timeout=1s"}),
      "--redis-ack-timeout and --redis-timeout: the ack timeout (1s) must be shorter than the Redis timeout (1s)");
  EXPECT_NO_THROW(parse({keys_flag, "--redis-ack-replicas=0", "--redis-ack-timeout=2s"}));
  EXPECT_TRUE(contains(usage_error({keys_flag, "--redis-ack-replicas=17"}), "out of range"));
}

}  // namespace
