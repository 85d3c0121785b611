// The service's threads: each runs its own event loop with its own Redis connection, and the
// listener deals client connections to them in turn, so a request never waits for another
// thread. Seen from Redis (MONITOR): as many connections as threads, each one carrying the takes
// of the client connections its thread serves.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/testkit.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using kit::eventually;

constexpr int kThreads = 3;
constexpr int kClients = 2 * kThreads;
constexpr int kTakesPerClient = 2;

// The scripts each client connection of the service sent, by the connection's address, from
// `redis-cli MONITOR` output ("<time> [<db> <address>] "EVALSHA" ..."; the commands a script
// runs are listed as "[<db> lua]" and left out).
std::map<std::string, int> scripts_by_connection(const std::string& monitor) {
  static const std::regex script_line(R"re(\[\d+ (\d+\.\d+\.\d+\.\d+:\d+)\] "(EVALSHA|EVAL)")re");
  std::map<std::string, int> count;
  std::istringstream in(monitor);
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (std::regex_search(line, match, script_line)) ++count[match[1]];
  }
  return count;
}

// The "connection" of each "redis connected" line of the service's log.
std::set<std::int64_t> connections_logged(const Process& service) {
  std::set<std::int64_t> connections;
  for (const auto& line : kit::event_lines(service, "redis connected")) {
    connections.insert(line.at("connection").as_int64());
  }
  return connections;
}

TEST(Threads, EachThreadServesItsClientsThroughItsOwnRedisConnection) {
  RedisServer redis;
  Process monitor({"redis-cli", "-p", std::to_string(redis.port()), "monitor"});
  ASSERT_TRUE(eventually([&] { return monitor.stdout_text().starts_with("OK"); })) << monitor.stderr_text();
  Service service = kit::insecure_service(redis, {"--threads", std::to_string(kThreads)});

  // Ready means every thread's connection is up, and the events reader's (the last one); each
  // says so (its line may follow readiness by a moment: the connection is up before it reports).
  std::set<std::int64_t> connected;
  EXPECT_TRUE(eventually([&] {
    connected = connections_logged(service.process());
    return connected.size() == std::size_t{kThreads + 1};
  }));
  EXPECT_EQ(connected, (std::set<std::int64_t>{1, 2, 3, 4}));

  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<HttpClient>(service.port()));
  std::set<std::int64_t> tickets;
  for (int round = 0; round < kTakesPerClient; ++round) {
    for (auto& client : clients) {
      const Response taken = client->post("/get_ticket");
      ASSERT_EQ(taken.status, 200u) << taken.body;
      tickets.insert(kit::ticket_of(taken));
    }
  }
  EXPECT_EQ(tickets.size(), std::size_t{kClients * kTakesPerClient});
  EXPECT_EQ(redis.cli({"LLEN", "queue_rubis"}), std::to_string(kClients * kTakesPerClient));

  // Dealt in turn: each thread got two client connections, and ran their four takes on its own
  // Redis connection.
  std::map<std::string, int> scripts;
  ASSERT_TRUE(eventually([&] {
    scripts = scripts_by_connection(monitor.stdout_text());
    int total = 0;
    for (const auto& [address, count] : scripts) total += count;
    return total >= kClients * kTakesPerClient;
  })) << monitor.stdout_text();
  ASSERT_EQ(scripts.size(), std::size_t{kThreads}) << monitor.stdout_text();
  for (const auto& [address, count] : scripts) {
    // A script Redis does not hold yet is sent again in full: EVALSHA, NOSCRIPT, then EVAL.
    EXPECT_GE(count, kClients / kThreads * kTakesPerClient) << address;
    EXPECT_LE(count, kClients / kThreads * kTakesPerClient + 1) << address;
  }
}

}  // namespace
}  // namespace waitline::test
