// The command line and the environment of the real binary: bad values, --help, WAITLINE_*
// variables, Redis starting late, Redis AUTH (password and ACL user), and `waitline healthcheck`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/testkit.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace kit;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Starts the binary on free ports with `args` (and `env`); it must refuse to start.
struct Refusal {
  int status;
  std::string out, err;
};
Refusal start_refused(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv{waitline_binary(), "--listen", address(free_port()), "--admin-listen",
                                address(free_port())};
  argv.insert(argv.end(), args.begin(), args.end());
  Process process(std::move(argv), std::move(env));
  const int status = process.wait(std::chrono::seconds(20));  // throws if it went on serving
  return {status, process.stdout_text(), process.stderr_text()};
}

TEST(CommandLine, BadValuesExitWithStatus2AndOneClearLine) {
  TempDir dir;
  const std::string directory = dir.path().string();
  const std::string empty = dir.write("empty", "");
  const std::string broken_keys = dir.write("keys", "kiosk take not-a-sha256\n");
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string named;  // the flag or variable the message must name
  };
  const std::vector<Case> cases{
      {{"--redis-port", "70000", "--insecure-no-auth"}, {}, "--redis-port"},
      {{"--redis-port", "0", "--insecure-no-auth"}, {}, "--redis-port"},
      {{"--redis-port", "http", "--insecure-no-auth"}, {}, "--redis-port"},
      {{"--queue-name", "", "--insecure-no-auth"}, {}, "--queue-name"},
      {{"--queue-name", "two words", "--insecure-no-auth"}, {}, "--queue-name"},
      {{"--redis-host", "", "--insecure-no-auth"}, {}, "--redis-host"},
      {{"--api-keys-file", "/nonexistent"}, {}, "/nonexistent"},
      {{"--api-keys-file", directory}, {}, "--api-keys-file"},
      {{"--api-keys-file", broken_keys}, {}, "--api-keys-file"},
      {{"--redis-password-file", "/nonexistent", "--insecure-no-auth"}, {}, "--redis-password-file"},
      {{"--redis-password-file", empty, "--insecure-no-auth"}, {}, "--redis-password-file"},
      {{"--redis-password-file", directory, "--insecure-no-auth"}, {}, "--redis-password-file"},
      {{"--redis-timeout", "5", "--insecure-no-auth"}, {}, "--redis-timeout"},
      {{"--threads", "-1", "--insecure-no-auth"}, {}, "--threads"},
      {{"--listen", "nonsense", "--insecure-no-auth"}, {}, "--listen"},
      {{"--no-such-flag", "--insecure-no-auth"}, {}, "--no-such-flag"},
      {{"--insecure-no-auth", "extra-argument"}, {}, "extra-argument"},
      {{"--insecure-no-auth"}, {{"WAITLINE_REDIS_PORT", "70000"}}, "WAITLINE_REDIS_PORT"},
      {{"--insecure-no-auth"}, {{"WAITLINE_QUEUE_NAME", ""}}, "WAITLINE_QUEUE_NAME"},
      {{}, {{"WAITLINE_INSECURE_NO_AUTH", "maybe"}}, "WAITLINE_INSECURE_NO_AUTH"},
      {{"--insecure-no-auth"}, {{"WAITLINE_REDIS_TIMEOUT", "soon"}}, "WAITLINE_REDIS_TIMEOUT"},
  };
  for (const Case& c : cases) {
    std::string shown;
    for (const auto& arg : c.args) shown += " '" + arg + "'";
    for (const auto& [name, value] : c.env) shown += " " + name + "='" + value + "'";
    SCOPED_TRACE("waitline" + shown);
    const Refusal refusal = start_refused(c.args, c.env);
    EXPECT_EQ(refusal.status, 2) << refusal.err;
    EXPECT_EQ(count_lines(refusal.err), 1u) << refusal.err;
    EXPECT_TRUE(refusal.err.starts_with("waitline: ")) << refusal.err;
    EXPECT_NE(refusal.err.find(c.named), std::string::npos) << refusal.err;
    EXPECT_EQ(refusal.out, "");
  }
}

TEST(CommandLine, TheSameApiAndAdminAddressExitsWithStatus2) {
  const std::string both = address(free_port());
  Process process({waitline_binary(), "--insecure-no-auth", "--listen", both, "--admin-listen", both});
  EXPECT_EQ(process.wait(std::chrono::seconds(20)), 2);
  EXPECT_EQ(count_lines(process.stderr_text()), 1u) << process.stderr_text();
}

// Each "  --flag ..." line of the help: the flag, its variable, its default.
struct HelpEntry {
  std::string variable, default_value;
};
std::map<std::string, HelpEntry> flags_in_help(const std::string& help) {
  std::map<std::string, HelpEntry> flags;
  for (const std::string& line : lines_of(help)) {
    if (!line.starts_with("  --")) continue;
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    std::string flag = words.front().substr(2);
    flag = flag.substr(0, flag.find('['));  // "--legacy-get[=BOOL]"
    HelpEntry entry;
    for (const std::string& word : words) {
      if (word.starts_with("WAITLINE_")) entry.variable = word;
    }
    entry.default_value = words.back();
    flags.emplace(flag, entry);
  }
  return flags;
}

std::string variable_for(const std::string& flag) {
  std::string name = "WAITLINE_";
  for (const char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

TEST(CommandLine, HelpExitsZeroAndDocumentsEveryFlagWithItsVariable) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"-h"}, {"serve", "--help"}, {"--redis-port", "70000", "--help"}}) {
    SCOPED_TRACE(args.front());
    std::vector<std::string> argv{waitline_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process process(std::move(argv));
    EXPECT_EQ(process.wait(std::chrono::seconds(20)), 0);
    EXPECT_EQ(process.stderr_text(), "");

    const auto flags = flags_in_help(process.stdout_text());
    const std::set<std::string> expected{"redis-host",
                                         "redis-port",
                                         "queue-name",
                                         "queue-label",
                                         "listen",
                                         "admin-listen",
                                         "threads",
                                         "redis-username",
                                         "redis-password-file",
                                         "redis-timeout",
                                         "api-keys-file",
                                         "insecure-no-auth",
                                         "legacy-get",
                                         "access-log",
                                         "header-timeout",
                                         "idle-timeout",
                                         "shutdown-timeout",
                                         "max-header-bytes",
                                         "max-body-bytes",
                                         "max-connections",
                                         "idempotency-ttl",
                                         "max-queue-length",
                                         "rate-limit-key",
                                         "rate-limit-key-burst",
                                         "rate-limit-client",
                                         "rate-limit-client-burst",
                                         "trusted-proxies",
                                         "events-retention",
                                         "max-event-streams",
                                         "events-keepalive",
                                         "ticket-secret-file",
                                         "session-ttl",
                                         "redis-sentinels",
                                         "redis-primary-name",
                                         "redis-ack-replicas",
                                         "redis-ack-timeout"};
    std::set<std::string> listed;
    for (const auto& [flag, entry] : flags) {
      listed.insert(flag);
      EXPECT_EQ(entry.variable, variable_for(flag)) << "--" << flag;
    }
    EXPECT_EQ(listed, expected);
    if (flags.size() != expected.size()) continue;
    // The original application's defaults, and the listeners'.
    EXPECT_EQ(flags.at("redis-host").default_value, "127.0.0.1");
    EXPECT_EQ(flags.at("redis-port").default_value, "6379");
    EXPECT_EQ(flags.at("queue-name").default_value, "DEFAULT");
    EXPECT_EQ(flags.at("listen").default_value, "0.0.0.0:8000");
    EXPECT_EQ(flags.at("admin-listen").default_value, "0.0.0.0:8001");
    EXPECT_EQ(flags.at("legacy-get").default_value, "true");
    EXPECT_EQ(flags.at("insecure-no-auth").default_value, "false");
    for (const std::string subcommand : {"healthcheck", "hash-key"}) {
      EXPECT_NE(process.stdout_text().find(subcommand), std::string::npos) << subcommand;
    }
  }
}

// --- The environment -------------------------------------------------------------------------

// Starts the binary with only `args` and `env`, and waits until it is ready.
std::unique_ptr<Process> start_ready(std::vector<std::string> args, std::map<std::string, std::string> env,
                                     std::uint16_t admin_port) {
  args.insert(args.begin(), waitline_binary());
  auto process = std::make_unique<Process>(std::move(args), std::move(env));
  const bool ready = eventually([&] {
    if (!process->running()) return true;
    try {
      return HttpClient(admin_port).get("/readyz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  });
  if (!ready || !process->running()) {
    throw std::runtime_error("waitline did not become ready; stderr: " + process->stderr_text() +
                             "\nstdout: " + process->stdout_text());
  }
  return process;
}

TEST(Environment, VariablesConfigureTheService) {
  RedisServer redis;
  const std::uint16_t port = free_port(), admin_port = free_port();
  ASSERT_NE(port, admin_port);
  const auto process = start_ready({},
                                   {{"WAITLINE_REDIS_HOST", "127.0.0.1"},
                                    {"WAITLINE_REDIS_PORT", std::to_string(redis.port())},
                                    {"WAITLINE_QUEUE_NAME", "saphir"},
                                    {"WAITLINE_INSECURE_NO_AUTH", "true"},
                                    {"WAITLINE_LISTEN", address(port)},
                                    {"WAITLINE_ADMIN_LISTEN", address(admin_port)},
                                    {"WAITLINE_LEGACY_GET", "false"},
                                    {"WAITLINE_THREADS", "1"}},
                                   admin_port);
  HttpClient client(port);
  const Response taken = client.post("/get_ticket");
  ASSERT_EQ(taken.status, 200u) << taken.body;
  EXPECT_EQ(parse_object(taken.body).at("queue"), "saphir");
  EXPECT_EQ(redis.cli({"GET", "ticket_number_saphir"}), "1");
  EXPECT_EQ(client.get("/get_ticket").status, 405u);  // WAITLINE_LEGACY_GET=false

  bool started = false;
  for (const json::object& line : event_lines(*process, "waitline started")) {
    started = true;
    EXPECT_EQ(line.at("threads"), 1);
    EXPECT_EQ(line.at("queue"), "saphir");
  }
  EXPECT_TRUE(started);
}

TEST(Environment, FlagsWinOverVariablesWhichAreThenNotEvenChecked) {
  RedisServer redis;
  TempDir dir;
  const ApiKey key = make_key("kiosk", "take");
  const std::string keys = dir.write("keys", key_file({key}));
  const std::uint16_t port = free_port(), admin_port = free_port();
  ASSERT_NE(port, admin_port);
  const auto process = start_ready({"--queue-name", "emeraude", "--redis-port", std::to_string(redis.port()),
                                    "--listen", address(port), "--admin-listen", address(admin_port)},
                                   {{"WAITLINE_QUEUE_NAME", "saphir"},
                                    {"WAITLINE_REDIS_PORT", "70000"},  // overridden: ignored
                                    {"WAITLINE_API_KEYS_FILE", keys}},
                                   admin_port);
  HttpClient client(port);
  EXPECT_EQ(client.post("/get_ticket").status, 401u);  // the key file came from the environment
  const Response taken = client.post("/get_ticket", bearer(key.key));
  ASSERT_EQ(taken.status, 200u) << taken.body;
  EXPECT_EQ(parse_object(taken.body).at("queue"), "emeraude");
  EXPECT_EQ(redis.cli({"GET", "ticket_number_emeraude"}), "1");
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_saphir"}), "0");
}

// --- Redis --------------------------------------------------------------------------------------

TEST(RedisSettings, TheServiceStartedBeforeRedisBecomesReadyWhenRedisStarts) {
  RedisServer redis;
  redis.stop();  // the port stays reserved: Redis "is not up yet"
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}, .wait_ready = false});
  HttpClient admin(service.admin_port());
  HttpClient client(service.port());

  EXPECT_EQ(admin.get("/livez").status, 200u);
  EXPECT_EQ(admin.get("/readyz").status, 503u);
  const Response refused = client.post("/get_ticket");
  EXPECT_TRUE(is_error(refused, 503, "redis_unavailable"));
  EXPECT_FALSE(refused.header("Retry-After").empty());

  redis.start();
  ASSERT_TRUE(readyz_becomes(service.admin_port(), 200)) << service.process().stdout_text();
  const Response taken = client.post("/get_ticket");
  ASSERT_EQ(taken.status, 200u) << taken.body;
  EXPECT_EQ(parse_object(taken.body).at("ticket"), 1);
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "1");
}

TEST(RedisSettings, AuthenticatesWithAPasswordFromAFile) {
  RedisServer redis({"--requirepass", "s3cret"});
  TempDir dir;
  const std::string password = dir.write("redis-password", "s3cret\n");  // newline tolerated
  Service service(
      {.redis_port = redis.port(), .extra_args = {"--insecure-no-auth", "--redis-password-file", password}});
  HttpClient client(service.port());
  const Response taken = client.post("/get_ticket");
  ASSERT_EQ(taken.status, 200u) << taken.body;
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "1");
  const std::string output = service.process().stdout_text() + service.process().stderr_text();
  EXPECT_EQ(output.find("s3cret"), std::string::npos) << "the password appears in the logs";
}

// The "redis unavailable" log lines' reasons.
std::vector<std::string> unavailable_reasons(const Process& process) {
  std::vector<std::string> reasons;
  for (const json::object& line : event_lines(process, "redis unavailable")) {
    if (line.contains("reason")) reasons.emplace_back(line.at("reason").as_string());
  }
  return reasons;
}

TEST(RedisSettings, AWrongOrMissingPasswordKeepsTheServiceUnreadyAndTheLogSaysWhy) {
  RedisServer redis({"--requirepass", "s3cret"});
  TempDir dir;
  const std::string wrong = dir.write("wrong", "not-the-password");
  struct Case {
    std::vector<std::string> args;
    std::string reason;
  };
  for (const Case& c : {Case{{"--redis-password-file", wrong}, "WRONGPASS"}, Case{{}, "NOAUTH"}}) {
    SCOPED_TRACE(c.reason);
    std::vector<std::string> args{"--insecure-no-auth"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Service service({.redis_port = redis.port(), .extra_args = args, .wait_ready = false});

    ASSERT_TRUE(eventually([&] { return !unavailable_reasons(service.process()).empty(); }))
        << service.process().stdout_text();
    const std::string reason = unavailable_reasons(service.process()).front();
    EXPECT_NE(reason.find(c.reason), std::string::npos) << reason;
    EXPECT_EQ(HttpClient(service.admin_port()).get("/readyz").status, 503u);
    EXPECT_TRUE(is_error(HttpClient(service.port()).post("/get_ticket"), 503, "redis_unavailable"));
    EXPECT_TRUE(service.process().running());
    EXPECT_EQ(service.process().stdout_text().find("not-the-password"), std::string::npos);
  }
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");
}

TEST(RedisSettings, AuthenticatesAsAnAclUser) {
  // The default user has another password, so only the named user can get in with this one.
  RedisServer redis({"--requirepass", "admin-password"});
  ASSERT_EQ(redis.cli({"ACL", "SETUSER", "waitline", "on", ">pw", "~*", "+@all"}), "OK");
  TempDir dir;
  const std::string password = dir.write("redis-password", "pw");
  Service service(
      {.redis_port = redis.port(),
       .extra_args = {"--insecure-no-auth", "--redis-username", "waitline", "--redis-password-file", password}});
  HttpClient client(service.port());
  const Response taken = client.post("/get_ticket");
  ASSERT_EQ(taken.status, 200u) << taken.body;
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "1");

  // The service's connection is the ACL user's.
  const std::string clients = redis.cli({"CLIENT", "LIST"});
  EXPECT_NE(clients.find("user=waitline"), std::string::npos) << clients;
}

// --- healthcheck -------------------------------------------------------------------------------

TEST(Healthcheck, ExitsZeroWhenReadyAndOneWhenRedisIsDownOrTheServiceIsGone) {
  RedisServer redis;
  auto service = std::make_unique<Service>(
      Service::Options{.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}});
  // The container's health check runs with the service's settings (its environment).
  const std::vector<std::string> check{waitline_binary(), "healthcheck", "--insecure-no-auth", "--admin-listen",
                                       address(service->admin_port())};
  const RunResult ready = run(check);
  EXPECT_EQ(ready.status, 0) << ready.output;

  // The probe needs only the admin address, whatever the service's authentication settings.
  const RunResult admin_only = run(
      {waitline_binary(), "healthcheck", "--admin-listen", address(service->admin_port())});
  EXPECT_EQ(admin_only.status, 0) << admin_only.output;

  const RunResult from_environment = run({waitline_binary(), "healthcheck"},
                                         {{"WAITLINE_ADMIN_LISTEN", address(service->admin_port())},
                                          {"WAITLINE_INSECURE_NO_AUTH", "1"}});
  EXPECT_EQ(from_environment.status, 0) << from_environment.output;

  redis.stop();
  ASSERT_TRUE(readyz_becomes(service->admin_port(), 503));
  const RunResult down = run(check);
  EXPECT_EQ(down.status, 1) << down.output;
  EXPECT_NE(down.output.find("not ready"), std::string::npos) << down.output;

  redis.start();
  ASSERT_TRUE(readyz_becomes(service->admin_port(), 200));
  EXPECT_EQ(run(check).status, 0);

  service.reset();  // nothing listens any more
  const RunResult gone = run(check);
  EXPECT_EQ(gone.status, 1) << gone.output;
}

}  // namespace
}  // namespace waitline::test
