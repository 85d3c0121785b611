// Faults between the service and Redis, made real: a relay that keeps Redis's replies back (and
// delivers them late, on the connection the service may have given up), one that cuts the
// connection right after a command went through, and Redis SIGKILLed under load. What they prove:
// an answer says "retry" (503 + Retry-After) only when nothing happened; when a command may have
// run the answer is 504 outcome_unknown; a late reply never answers another request; and with an
// Idempotency-Key a retry learns the outcome: every ticket that leaves the queue is reported to
// exactly one client, and a retried take adds exactly one ticket.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "integration/testkit.hpp"
#include "support/relay.hpp"

namespace waitline::test {
namespace {

using namespace kit;

constexpr auto kRedisTimeout = "300ms";

Service service_behind(const Relay& relay) {
  return Service({.redis_port = relay.port(), .extra_args = {"--insecure-no-auth", "--redis-timeout", kRedisTimeout}});
}

std::map<std::string, std::string> with_key(const std::string& key) { return {{"Idempotency-Key", key}}; }

// The service's Redis connection is back through the relay.
void await_ready(const Service& service) {
  ASSERT_TRUE(readyz_becomes(service.admin_port(), 200)) << "the service did not reconnect";
}

// Redis learns each script on its first use (EVALSHA, NOSCRIPT, EVAL): the tests call on an empty
// queue first, so that a held or cut command is the script itself and runs.
class Fault : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(client.post("/call_ticket").status, 200u); }
  RedisServer redis;
  Relay relay{redis.port()};
  Service service = service_behind(relay);
  HttpClient client{service.port()};

  // `path` with an Idempotency-Key while Redis's reply is held (504 outcome_unknown), then the
  // same request once Redis answers again: that replay, checked to be 200 and marked.
  Response replay_after_held_reply(const std::string& path, const std::string& key) {
    relay.set(Relay::Mode::hold_replies);
    EXPECT_TRUE(is_error(client.post(path, with_key(key)), 504, "outcome_unknown"));
    relay.set(Relay::Mode::pass);
    await_ready(service);
    Response replay = client.post(path, with_key(key));
    EXPECT_EQ(replay.status, 200u) << replay.body;
    EXPECT_EQ(replay.header("Idempotent-Replayed"), "true");
    return replay;
  }
};

TEST_F(Fault, HeldRepliesGive504OutcomeUnknownWithoutRetryAfterAndTheTakeDidHappen) {
  ASSERT_EQ(client.post("/get_ticket").status, 200u);  // ticket 1
  relay.set(Relay::Mode::hold_replies);
  const Response take = client.post("/get_ticket");
  EXPECT_TRUE(is_error(take, 504, "outcome_unknown"));
  EXPECT_EQ(take.header("Retry-After"), "") << "a take that may have run must not say 'retry'";
  // It did run: Redis holds ticket 2, which nobody was told about.
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "2");
  relay.set(Relay::Mode::pass);
  await_ready(service);

  relay.set(Relay::Mode::hold_replies);
  const Response call = client.post("/call_ticket");
  EXPECT_TRUE(is_error(call, 504, "outcome_unknown"));
  EXPECT_EQ(call.header("Retry-After"), "");
  relay.set(Relay::Mode::pass);
  await_ready(service);
  // The desk recovers the ticket it called from /last_called.
  const Response last = client.get("/last_called");
  ASSERT_EQ(last.status, 200u) << last.body;
  EXPECT_EQ(ticket_of(last), 1);
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), std::vector<std::int64_t>{2});
}

TEST_F(Fault, HeldRepliesThenARetryWithTheSameKeyReplaysTheSameTicket) {
  client.post("/get_ticket");  // ticket 1, answered
  const Response retried = replay_after_held_reply("/get_ticket", "kiosk-1");
  ASSERT_EQ(retried.status, 200u) << retried.body;
  EXPECT_EQ(ticket_of(retried), 2);
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), (std::vector<std::int64_t>{2, 1})) << "the retry added a ticket";

  const Response called = replay_after_held_reply("/call_ticket", "desk-1");
  ASSERT_EQ(called.status, 200u) << called.body;
  EXPECT_EQ(ticket_of(called), 1);
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), std::vector<std::int64_t>{2}) << "the retry called a second ticket";
}

TEST_F(Fault, ACutAfterTheCommandGives504AndTheKeyedRetryReplays) {
  ASSERT_EQ(client.post("/get_ticket").status, 200u);  // ticket 1
  relay.set(Relay::Mode::drop_after_command);
  const Response unkeyed = client.post("/get_ticket");
  EXPECT_TRUE(is_error(unkeyed, 504, "outcome_unknown"));
  EXPECT_EQ(unkeyed.header("Retry-After"), "");
  relay.set(Relay::Mode::pass);
  await_ready(service);
  relay.set(Relay::Mode::drop_after_command);
  EXPECT_TRUE(is_error(client.post("/get_ticket", with_key("kiosk-2")), 504, "outcome_unknown"));
  EXPECT_GE(relay.drops(), 2);
  relay.set(Relay::Mode::pass);
  await_ready(service);
  const Response retried = client.post("/get_ticket", with_key("kiosk-2"));
  ASSERT_EQ(retried.status, 200u) << retried.body;
  EXPECT_EQ(retried.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(ticket_of(retried), 3);
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "3");
}

TEST_F(Fault, AReplyDeliveredLateOnTheTimedOutConnectionNeverAnswersAnotherRequest) {
  ASSERT_EQ(ticket_of(client.post("/get_ticket")), 1);
  relay.set(Relay::Mode::hold_replies);
  EXPECT_TRUE(is_error(client.post("/get_ticket", with_key("late-1")), 504, "outcome_unknown"));
  ASSERT_GE(relay.held(), 1) << "Redis ran the take (ticket 2) and its reply is held";
  relay.set(Relay::Mode::pass);  // ticket 2's reply now goes, late, to the connection it belongs to
  ASSERT_TRUE(eventually([&] { return relay.late() + relay.lost() == relay.held(); }));
  await_ready(service);
  // The next take is answered by its own reply, never by the late one.
  const Response next = client.post("/get_ticket");
  ASSERT_EQ(next.status, 200u) << next.body;
  EXPECT_EQ(ticket_of(next), 3);
  const Response retried = client.post("/get_ticket", with_key("late-1"));
  ASSERT_EQ(retried.status, 200u) << retried.body;
  EXPECT_EQ(ticket_of(retried), 2);
  EXPECT_EQ(retried.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "3");
  std::cout << "late reply: " << relay.held() << " held, " << relay.late() << " delivered late on their connection, "
            << relay.lost() << " lost (the service had closed it)\n";
}

// Keyed takers while the relay holds Redis's replies past --redis-timeout, then lets them through
// late, several times. Whatever reaches the service late, on whichever connection, every answer
// to a key names that key's ticket, no two keys share a ticket, and each key took one.
TEST(FaultLate, LateRepliesUnderLoadNeitherAnswerTheWrongRequestNorDoubleAnAcknowledgement) {
  RedisServer redis;
  Relay relay{redis.port()};
  Service service = service_behind(relay);
  ASSERT_EQ(HttpClient(service.port()).post("/call_ticket").status, 200u);  // Redis learns the call script
  ASSERT_EQ(HttpClient(service.port()).post("/get_ticket", with_key("warm-up")).status, 200u);  // and the take's
  constexpr int takers = 4, holds = 4;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<std::string, std::set<std::int64_t>> answered;  // key -> the tickets its 200 answers named
  int replays = 0, unknown = 0, unavailable = 0, other = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < takers; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(service.port());
      for (int i = 0; !stop; ++i) {
        const std::string key = "late-" + std::to_string(t) + "-" + std::to_string(i);
        // Asked until answered 200, and once more: that replay must name the same ticket.
        for (int answers = 0; answers < 2;) {
          Response r;
          try {
            r = client.post("/get_ticket", with_key(key));
          } catch (const std::exception&) {
            std::this_thread::sleep_for(20ms);
            continue;
          }
          {
            std::lock_guard lock(mutex);
            if (r.status == 200) {
              answered[key].insert(ticket_of(r));
              replays += r.header("Idempotent-Replayed") == "true";
              ++answers;
              continue;
            }
            if (r.status == 504) {
              ++unknown;
            } else if (r.status == 503) {
              ++unavailable;
            } else {
              ++other;
              ADD_FAILURE() << r.status << " " << r.body;
            }
          }
          std::this_thread::sleep_for(10ms);
        }
      }
    });
  }
  for (int hold = 0; hold < holds; ++hold) {
    std::this_thread::sleep_for(200ms);
    relay.set(Relay::Mode::hold_replies);
    std::this_thread::sleep_for(450ms);  // past the 300 ms timeout: the service gives up, Redis ran them
    relay.set(Relay::Mode::pass);
  }
  std::this_thread::sleep_for(200ms);
  stop = true;
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(eventually([&] { return relay.late() + relay.lost() == relay.held(); }));

  std::set<std::int64_t> tickets;
  for (const auto& [key, named] : answered) {
    EXPECT_EQ(named.size(), 1u) << key << " was answered with several tickets";
    for (const auto ticket : named)
      EXPECT_TRUE(tickets.insert(ticket).second) << "ticket " << ticket << " answered twice";
  }
  EXPECT_EQ(std::stoll(redis.cli({"GET", "ticket_number_rubis"})), static_cast<std::int64_t>(answered.size()) + 1)
      << "a take doubled, or one was lost";
  std::cout << "late replies under load: " << answered.size() << " keyed takes, " << holds << " holds, " << relay.held()
            << " replies held, " << relay.late() << " delivered late, " << relay.lost() << " lost; " << unknown
            << " x 504, " << unavailable << " x 503, " << replays << " replays, " << other << " other\n";
  EXPECT_GT(relay.held(), 0);
  EXPECT_GT(unknown, 0) << "no take was left without its reply";
  EXPECT_EQ(other, 0);
}

TEST(FaultWithoutRedis, NothingSentMeans503WithRetryAfterAndNothingStored) {
  RedisServer redis;
  Service service = insecure_service(redis);
  HttpClient client(service.port());
  redis.stop();
  ASSERT_TRUE(readyz_becomes(service.admin_port(), 503));
  const Response take = client.post("/get_ticket", with_key("kiosk-3"));
  EXPECT_TRUE(is_error(take, 503, "redis_unavailable"));
  EXPECT_EQ(take.header("Retry-After"), "1");
  redis.start();
  ASSERT_TRUE(readyz_becomes(service.admin_port(), 200));
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");
  const Response retried = client.post("/get_ticket", with_key("kiosk-3"));
  ASSERT_EQ(retried.status, 200u);
  EXPECT_EQ(retried.header("Idempotent-Replayed"), "") << "nothing had happened: this is the first outcome";
  EXPECT_EQ(ticket_of(retried), 1);
}

// Takers and desks with a key per operation, each retried until it gets an answer, while Redis
// (with an fsync'ed append-only file) is SIGKILLed and restarted twice. Each kill lands on
// requests in flight: the relay first keeps Redis's replies back, and Redis dies as soon as it
// has run a command whose reply the service never gets (well within --redis-timeout).
TEST(FaultUnderLoad, RedisKilledUnderLoadEveryTicketIsReportedToExactlyOneClient) {
  RedisServer redis({"--appendonly", "yes", "--appendfsync", "always"});
  Relay relay{redis.port()};
  Service service = service_behind(relay);
  constexpr int takers = 4, takes_each = 40, desks = 2;
  std::mutex mutex;
  std::map<std::string, std::int64_t> taken;   // key -> ticket
  std::map<std::string, std::int64_t> called;  // key -> ticket (calls that found one)
  int replays = 0, unknown = 0, unavailable = 0, other = 0;
  std::atomic<int> takers_done{0};
  std::atomic<int> in_flight{0};  // requests sent by the clients and not yet answered

  // One operation with its own key, retried until a 200; returns the answer.
  auto until_answered = [&](HttpClient& client, const std::string& path, const std::string& key) {
    for (;;) {
      Response r;
      try {
        ++in_flight;
        r = client.post(path, with_key(key));
        --in_flight;
      } catch (const std::exception&) {
        --in_flight;
        std::this_thread::sleep_for(20ms);
        continue;
      }
      {
        std::lock_guard lock(mutex);
        if (r.status == 200) {
          if (r.header("Idempotent-Replayed") == "true") ++replays;
          return r;
        }
        if (r.status == 504) ++unknown;
        else if (r.status == 503) ++unavailable;
        else ++other;
      }
      std::this_thread::sleep_for(10ms);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < takers; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(service.port());
      for (int i = 0; i < takes_each; ++i) {
        const std::string key = "take-" + std::to_string(t) + "-" + std::to_string(i);
        const Response r = until_answered(client, "/get_ticket", key);
        std::lock_guard lock(mutex);
        taken[key] = ticket_of(r);
      }
      ++takers_done;
    });
  }
  for (int d = 0; d < desks; ++d) {
    threads.emplace_back([&, d] {
      HttpClient client(service.port());
      for (int i = 0;; ++i) {
        const std::string key = "call-" + std::to_string(d) + "-" + std::to_string(i);
        const bool all_taken = takers_done == takers;  // read before the call: no ticket comes after
        const Response r = until_answered(client, "/call_ticket", key);
        const auto ticket = parse_object(r.body).at("ticket");
        if (ticket.is_null()) {
          if (all_taken) return;  // everything taken has been called
          std::this_thread::sleep_for(5ms);
          continue;
        }
        std::lock_guard lock(mutex);
        called[key] = ticket.as_int64();
      }
    });
  }
  int held_at_kills = 0, in_flight_at_kills = 0;
  const auto taken_so_far = [&] {
    std::lock_guard lock(mutex);
    return taken.size();
  };
  for (int kill = 0; kill < 2; ++kill) {
    // While the takers are busy: after a third of the takes, then after two thirds.
    EXPECT_TRUE(eventually([&] { return taken_so_far() >= (kill + 1) * takers * takes_each / 3u; }, kPatience, 1ms));
    const int held_before = relay.held();
    relay.set(Relay::Mode::hold_replies);
    EXPECT_TRUE(eventually([&] { return relay.held() > held_before; }, kPatience, 1ms)) << "no command reached Redis";
    in_flight_at_kills += in_flight;
    redis.kill();
    held_at_kills += relay.held() - held_before;
    relay.set(Relay::Mode::pass);
    std::this_thread::sleep_for(200ms);
    redis.start();
  }
  for (auto& thread : threads) thread.join();

  std::set<std::int64_t> issued, reported;
  for (const auto& [key, ticket] : taken)
    EXPECT_TRUE(issued.insert(ticket).second) << "ticket " << ticket << " issued twice";
  for (const auto& [key, ticket] : called)
    EXPECT_TRUE(reported.insert(ticket).second) << "ticket " << ticket << " reported to two desks";
  const auto remaining = tickets_in_redis(redis, "rubis");
  const std::int64_t counter = std::stoll(redis.cli({"GET", "ticket_number_rubis"}));
  const std::int64_t removed = counter - static_cast<std::int64_t>(remaining.size());
  std::cout << "fault under load: " << takers * takes_each << " keyed takes, counter " << counter << ", "
            << issued.size() << " tickets issued; " << removed << " tickets removed from the queue, " << reported.size()
            << " reported to a desk, " << remaining.size() << " left; " << replays << " replays, " << unknown
            << " x 504 outcome_unknown, " << unavailable << " x 503, " << other << " other; at the 2 kills "
            << held_at_kills << " Redis replies held back, " << in_flight_at_kills << " client requests in flight\n";
  EXPECT_GE(held_at_kills, 2) << "each kill must land on commands Redis ran and did not answer";
  EXPECT_GE(in_flight_at_kills, 2);
  EXPECT_GT(unknown, 0) << "a command cut by the kill is answered 504 outcome_unknown";
  EXPECT_EQ(counter, takers * takes_each) << "a retried take added a ticket, or one was lost";
  EXPECT_EQ(issued.size(), static_cast<std::size_t>(takers * takes_each));
  EXPECT_TRUE(remaining.empty());
  EXPECT_EQ(removed, static_cast<std::int64_t>(reported.size())) << "a ticket left the queue without a desk told";
  EXPECT_EQ(reported, issued);
  EXPECT_EQ(other, 0);
}

}  // namespace
}  // namespace waitline::test
