// Redis away (issue 2, acceptance 5): with Redis stopped, stalled or crashed, the ticket endpoints
// answer 503 redis_unavailable with Retry-After within the configured --redis-timeout, /readyz
// fails while /livez passes, and the service recovers by itself when Redis returns. A 200 on a
// take means the ticket is stored: after a crash of an fsync-always Redis, every acknowledged
// ticket is still in the list.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/testkit.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using kit::ticket_of;
using kit::tickets_in_redis;

constexpr auto kRedisTimeout = 300ms;
// Added to the Redis timeout for the HTTP round trip, on a loaded machine and under sanitizers.
// This bounds a failure path (the answer must not wait for anything but the timeout); it is no
// speed claim.
constexpr auto kMargin = 500ms;

// Every test here expects answers within kRedisTimeout unless it passes its own --redis-timeout.
Service start_service(const RedisServer& redis, std::vector<std::string> extra = {}, bool wait_ready = true) {
  extra.insert(extra.begin(), {"--redis-timeout", "300ms"});
  return kit::insecure_service(redis, std::move(extra), wait_ready);
}

std::string error_code_of(const Response& response) {
  try {
    return std::string(boost::json::parse(response.body).at("error").at("code").as_string());
  } catch (const std::exception&) {
    return "<not a JSON error: " + response.body + ">";
  }
}

// Polls /readyz until it answers `status`; returns how long that took, or throws after `limit`.
clock::duration await_readiness(Service& service, unsigned status, std::chrono::seconds limit = 20s) {
  const auto start = clock::now();
  HttpClient admin(service.admin_port());
  for (;;) {
    if (admin.get("/readyz").status == status) return clock::now() - start;
    if (clock::now() - start > limit) {
      throw std::runtime_error("/readyz did not answer " + std::to_string(status) + " within " +
                               std::to_string(limit.count()) + " s");
    }
    std::this_thread::sleep_for(20ms);
  }
}

double ms(clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Each ticket endpoint answers 503 redis_unavailable with Retry-After, within the timeout.
void expect_unavailable(HttpClient& client, const char* when) {
  struct Call {
    const char* method;
    const char* target;
  };
  for (int round = 0; round < 3; ++round) {
    for (const Call call : {Call{"POST", "/get_ticket"}, Call{"POST", "/call_ticket"}, Call{"GET", "/list_tickets"},
                            Call{"GET", "/get_ticket"}}) {
      SCOPED_TRACE(std::string(when) + ": " + call.method + " " + call.target);
      const auto start = clock::now();
      const Response response = client.request(call.method, call.target);
      const auto took = clock::now() - start;
      EXPECT_EQ(response.status, 503u) << response.body;
      EXPECT_EQ(error_code_of(response), "redis_unavailable");
      EXPECT_FALSE(response.header("Retry-After").empty());
      EXPECT_EQ(response.header("Content-Type"), "application/json");
      EXPECT_LT(took, kRedisTimeout + kMargin) << "answered after " << ms(took) << " ms";
    }
  }
}

void expect_live_not_ready(Service& service) {
  HttpClient admin(service.admin_port());
  EXPECT_EQ(admin.get("/livez").status, 200u);
  const Response ready = admin.get("/readyz");
  EXPECT_EQ(ready.status, 503u) << ready.body;
  EXPECT_NE(ready.body.find("\"redis\":false"), std::string::npos) << ready.body;
}

TEST(RedisAway, StoppedRedisGives503WithinTheTimeoutAndTheServiceRecoversWithoutRestart) {
  RedisServer redis({"--appendonly", "yes"});
  Service service = start_service(redis);
  const int pid = service.process().pid();
  HttpClient client(service.port());
  ASSERT_EQ(client.post("/get_ticket").status, 200u);

  redis.stop();
  ASSERT_NO_THROW(await_readiness(service, 503));
  expect_live_not_ready(service);
  expect_unavailable(client, "redis stopped");
  // Not just the first moments: still 503 at once while the client backs off between attempts.
  std::this_thread::sleep_for(1s);
  expect_unavailable(client, "redis stopped for a while");

  redis.start();
  clock::duration recovery{};
  ASSERT_NO_THROW(recovery = await_readiness(service, 200));
  std::cout << "redis back: /readyz 200 after " << ms(recovery) << " ms\n";
  const Response take = client.post("/get_ticket");
  ASSERT_EQ(take.status, 200u) << take.body;
  EXPECT_EQ(ticket_of(take), 2);  // the data survived in the append-only file
  const Response call = client.post("/call_ticket");
  ASSERT_EQ(call.status, 200u) << call.body;
  EXPECT_EQ(ticket_of(call), 1);
  EXPECT_TRUE(service.process().running());
  EXPECT_EQ(service.process().pid(), pid);
}

TEST(RedisAway, AServiceStartedBeforeRedisServesOnceRedisArrives) {
  RedisServer redis;
  redis.stop();
  Service service = start_service(redis, {}, /*wait_ready=*/false);
  expect_live_not_ready(service);
  HttpClient client(service.port());
  expect_unavailable(client, "redis not started yet");

  redis.start();
  ASSERT_NO_THROW(await_readiness(service, 200));
  const Response take = client.post("/get_ticket");
  ASSERT_EQ(take.status, 200u) << take.body;
  EXPECT_EQ(ticket_of(take), 1);
}

TEST(RedisAway, StalledRedisGives504ThenUnavailableWithinTheTimeoutAndTheServiceRecoversWhenItResumes) {
  RedisServer redis;
  Service service = start_service(redis);
  ASSERT_GT(redis.pid(), 0);
  HttpClient client(service.port());
  std::set<std::int64_t> acknowledged;
  const Response first = client.post("/get_ticket");
  ASSERT_EQ(first.status, 200u);
  acknowledged.insert(ticket_of(first));

  redis.signal(SIGSTOP);  // the TCP connection stays up, nothing answers
  // Requests in flight when Redis stalls: eight at once, each on its own connection.
  std::vector<std::thread> threads;
  std::vector<Response> answers(8);
  std::vector<clock::duration> took(8);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    threads.emplace_back([&, i] {
      HttpClient own(service.port());
      const auto start = clock::now();
      answers[i] = own.post("/get_ticket");
      took[i] = clock::now() - start;
    });
  }
  // And a list in flight: a read changes nothing, so its answer does say "retry".
  Response listed;
  threads.emplace_back([&] { listed = HttpClient(service.port()).get("/list_tickets"); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(listed.status, 503u) << listed.body;
  EXPECT_EQ(error_code_of(listed), "redis_unavailable");
  EXPECT_FALSE(listed.header("Retry-After").empty());
  // They were sent to Redis: their outcome is unknown, and the answer must not say "retry".
  for (std::size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i].status, 504u) << answers[i].body;
    EXPECT_EQ(error_code_of(answers[i]), "outcome_unknown");
    EXPECT_TRUE(answers[i].header("Retry-After").empty());
    EXPECT_LT(took[i], kRedisTimeout + kMargin) << "answered after " << ms(took[i]) << " ms";
  }
  ASSERT_NO_THROW(await_readiness(service, 503));
  expect_live_not_ready(service);
  expect_unavailable(client, "redis stalled");

  redis.signal(SIGCONT);
  clock::duration recovery{};
  ASSERT_NO_THROW(recovery = await_readiness(service, 200));
  std::cout << "redis resumed: /readyz 200 after " << ms(recovery) << " ms\n";
  for (int i = 0; i < 3; ++i) {
    const Response take = client.post("/get_ticket");
    ASSERT_EQ(take.status, 200u) << take.body;
    acknowledged.insert(ticket_of(take));
  }
  // Every acknowledged ticket is stored. (A take that timed out may still have run when Redis
  // resumed: its 504 said "outcome unknown", not "not taken".)
  const std::vector<std::int64_t> stored = tickets_in_redis(redis, "rubis");
  const std::set<std::int64_t> stored_set(stored.begin(), stored.end());
  for (std::int64_t t : acknowledged)
    EXPECT_TRUE(stored_set.contains(t)) << "ticket " << t << " acknowledged, not stored";
  std::cout << "stalled redis: " << acknowledged.size() << " tickets acknowledged, " << stored.size()
            << " stored (the difference: takes answered 504 that Redis ran after resuming)\n";
}

TEST(RedisAway, NoTicketIsAcknowledgedThatRedisDoesNotHoldAfterACrash) {
  RedisServer redis({"--appendonly", "yes", "--appendfsync", "always"});
  Service service = start_service(redis, {"--redis-timeout", "2s"});

  std::mutex mutex;
  std::vector<std::int64_t> acknowledged;
  int unavailable = 0;
  std::vector<std::string> failures;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      HttpClient client(service.port());
      while (!stop) {
        bool refused = false;
        try {
          const Response response = client.post("/get_ticket");
          std::lock_guard lock(mutex);
          if (response.status == 200) {
            acknowledged.push_back(ticket_of(response));
          } else if ((response.status == 503 && error_code_of(response) == "redis_unavailable") ||
                     (response.status == 504 && error_code_of(response) == "outcome_unknown")) {
            ++unavailable;
            refused = true;
          } else {
            failures.push_back(std::to_string(response.status) + " " + response.body);
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(mutex);
          failures.push_back(e.what());
          return;
        }
        if (refused) std::this_thread::sleep_for(5ms);  // no busy loop while Redis is away
      }
    });
  }
  auto acknowledged_count = [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size();
  };
  auto await_acknowledged = [&](std::size_t count) {
    const auto deadline = clock::now() + 60s;
    while (acknowledged_count() < count && clock::now() < deadline) std::this_thread::sleep_for(10ms);
    return acknowledged_count() >= count;
  };

  EXPECT_TRUE(await_acknowledged(300));
  redis.kill();  // SIGKILL in the middle of the takes
  const std::size_t before_crash = acknowledged_count();
  std::this_thread::sleep_for(300ms);
  redis.start();  // same port and directory: it replays its append-only file
  EXPECT_NO_THROW(await_readiness(service, 200, 30s));
  EXPECT_TRUE(await_acknowledged(before_crash + 300));
  stop = true;
  for (auto& c : clients) c.join();

  for (std::size_t i = 0; i < failures.size() && i < 10; ++i) ADD_FAILURE() << failures[i];
  EXPECT_TRUE(failures.empty());
  const std::vector<std::int64_t> stored = tickets_in_redis(redis, "rubis");
  const std::set<std::int64_t> stored_set(stored.begin(), stored.end());
  const std::set<std::int64_t> acknowledged_set(acknowledged.begin(), acknowledged.end());
  EXPECT_EQ(acknowledged_set.size(), acknowledged.size()) << "a ticket number was acknowledged twice";
  EXPECT_EQ(stored_set.size(), stored.size()) << "a ticket number is stored twice";
  int ghosts = 0;
  for (std::int64_t t : acknowledged_set) {
    if (!stored_set.contains(t)) {
      if (++ghosts <= 10) ADD_FAILURE() << "ticket " << t << " got a 200 but Redis does not hold it";
    }
  }
  EXPECT_EQ(ghosts, 0);
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), std::to_string(*stored_set.rbegin()));
  std::cout << "crash: " << acknowledged.size() << " tickets acknowledged (" << before_crash << " before SIGKILL), "
            << unavailable << " answered 503 or 504 around the crash, " << stored.size() << " stored, " << ghosts
            << " ghosts\n";
}

}  // namespace
}  // namespace waitline::test
