// Production's Redis as Sentinel runs it, for real: a primary, two replicas and three Sentinels
// (redis-server processes in a network namespace of the test's own), and the service finding the
// primary through the Sentinels and acknowledging a change only once a replica holds it
// (--redis-ack-replicas 1). Under a load of takes and calls, each with its own Idempotency-Key
// and sent again with it until answered, the primary is killed, or cut from its replicas and the
// Sentinels by a firewall while the service still reaches it. What they prove: the service
// follows the new primary without a restart (and says so: a log line, a metric); no acknowledged
// take or call is lost, none happens twice; the cut primary refuses writes within its lag bound;
// the old primary comes back as a replica holding exactly the new primary's data.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "integration/testkit.hpp"
#include "support/replication.hpp"

namespace waitline::test {
namespace {

using namespace kit;
using clock = std::chrono::steady_clock;

constexpr auto kLagBound = 2s;  // min-replicas-max-lag: a primary cut from its replicas refuses writes after it

// Every Redis of the set: a primary that stops writing when no replica acknowledged for
// kLagBound (min-replicas-to-write 1), DEBUG DIGEST to compare the data sets.
std::vector<std::string> redis_args(std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--protected-mode",        "no",
                                "--min-replicas-to-write", "1",
                                "--min-replicas-max-lag",  std::to_string(kLagBound.count()),
                                "--enable-debug-command",  "yes"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// A replica reaches its primary from kCutSide, and is reached at 127.0.0.1.
std::vector<std::string> replica_of(const RedisServer& primary) {
  return redis_args({"--replicaof", "127.0.0.1", std::to_string(primary.port()), "--bind-source-addr", kCutSide,
                     "--replica-announce-ip", "127.0.0.1"});
}

std::string address_of(const RedisServer& redis) { return "127.0.0.1:" + std::to_string(redis.port()); }

// The replica has every write its primary made: linked, at the primary's replication offset.
bool caught_up(const RedisServer& replica, const RedisServer& primary) {
  const auto field = [](const std::string& info, const std::string& name) {
    const auto at = info.find(name + ":");
    if (at == std::string::npos) return std::string();
    const auto end = info.find_first_of("\r\n", at);
    return info.substr(at + name.size() + 1, end - at - name.size() - 1);
  };
  const std::string mine = replica.cli({"INFO", "replication"});
  const std::string theirs = primary.cli({"INFO", "replication"});
  return field(mine, "master_link_status") == "up" &&
         field(mine, "slave_repl_offset") == field(theirs, "master_repl_offset");
}

// Takers and desks through the service, each operation with its own key and sent again with it
// until a 200, as a careful client does; the desks call until the takers are stopped and the
// queue is empty. Records every acknowledgement and the time of every answer.
class KeyedLoad {
 public:
  KeyedLoad(std::uint16_t port, int takers, int desks) : port_(port) {
    for (int t = 0; t < takers; ++t) threads_.emplace_back([this, t] { take(t); });
    for (int d = 0; d < desks; ++d) threads_.emplace_back([this, d] { call(d); });
    takers_ = takers;
  }
  ~KeyedLoad() { finish(); }

  std::size_t taken() const {
    std::lock_guard lock(mutex_);
    return taken_.size();
  }
  void finish() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }
  // Seconds from the first answer after `fault` that was not a 200 to the first 200 to a request
  // sent after that one (a request sent before the fault may still be answered after it).
  double gap_after(clock::time_point fault) const {
    std::lock_guard lock(mutex_);
    std::optional<clock::time_point> failed;
    for (const auto& answer : answers_) {
      if (!answer.ok && answer.answered >= fault && (!failed || answer.answered < *failed)) failed = answer.answered;
    }
    if (!failed) return 0;
    std::optional<clock::time_point> good;
    for (const auto& answer : answers_) {
      if (answer.ok && answer.sent > *failed && (!good || answer.answered < *good)) good = answer.answered;
    }
    return good ? std::chrono::duration<double>(*good - *failed).count() : -1;
  }

  std::map<std::string, std::int64_t> taken_, called_;  // key -> ticket
  int replays = 0, unknown = 0, unavailable = 0, other = 0;

 private:
  Response until_answered(HttpClient& client, const std::string& path, const std::string& key) {
    for (;;) {
      std::optional<Response> r;
      const auto sent = clock::now();
      try {
        r = client.post(path, {{"Idempotency-Key", key}});
      } catch (const std::exception&) {
      }
      {
        std::lock_guard lock(mutex_);
        answers_.push_back({sent, clock::now(), r && r->status == 200});
        if (r && r->status == 200) {
          replays += r->header("Idempotent-Replayed") == "true";
          return *r;
        }
        if (!r) ++other;
        else if (r->status == 504) ++unknown;
        else if (r->status == 503) ++unavailable;
        else ++other;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  void take(int t) {
    HttpClient client(port_);
    for (int i = 0; !stop_; ++i) {
      const std::string key = "take-" + std::to_string(t) + "-" + std::to_string(i);
      const Response r = until_answered(client, "/get_ticket", key);
      std::lock_guard lock(mutex_);
      taken_[key] = ticket_of(r);
      std::this_thread::sleep_for(2ms);
    }
    ++takers_done_;
  }
  void call(int d) {
    HttpClient client(port_);
    for (int i = 0;; ++i) {
      const std::string key = "call-" + std::to_string(d) + "-" + std::to_string(i);
      const bool all_taken = takers_done_ == takers_;  // read before the call: no ticket comes after
      const Response r = until_answered(client, "/call_ticket", key);
      const auto ticket = parse_object(r.body).at("ticket");
      if (ticket.is_null()) {
        if (all_taken) return;
        std::this_thread::sleep_for(10ms);
        continue;
      }
      std::lock_guard lock(mutex_);
      called_[key] = ticket.as_int64();
    }
  }

  std::uint16_t port_;
  int takers_ = 0;
  std::atomic<int> takers_done_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  struct Answer {
    clock::time_point sent, answered;
    bool ok;
  };
  std::vector<Answer> answers_;
  std::vector<std::thread> threads_;
};

class Failover : public ::testing::Test {
 protected:
  // First: every server below lives in the test's own network namespace.
  struct PrivateNetwork {
    PrivateNetwork() { private_network(); }
  } network;
  RedisServer primary{redis_args()};
  RedisServer replica1{replica_of(primary)};
  RedisServer replica2{replica_of(primary)};
  Sentinel sentinels[3] = {{primary.port(), {.source = kCutSide}},
                           {primary.port(), {.source = kCutSide}},
                           {primary.port(), {.source = kCutSide}}};
  std::optional<Service> service;

  void SetUp() override {
    // The Sentinels know each other and both replicas: a failover can be agreed and elected.
    ASSERT_TRUE(eventually(
        [&] {
          for (const auto& s : sentinels) {
            const std::string master = s.cli({"SENTINEL", "MASTER", "waitline"});
            if (master.find("num-slaves\n2\n") == std::string::npos ||
                master.find("num-other-sentinels\n2\n") == std::string::npos)
              return false;
          }
          return true;
        },
        60s, 100ms))
        << sentinels[0].cli({"SENTINEL", "MASTER", "waitline"});
    std::string list;
    for (const auto& s : sentinels) list += (list.empty() ? "" : ",") + ("127.0.0.1:" + std::to_string(s.port()));
    service.emplace(
        Service::Options{.redis_port = primary.port(),
                         .extra_args = {"--insecure-no-auth", "--redis-sentinels", list, "--redis-ack-replicas", "1",
                                        "--redis-ack-timeout", "300ms", "--redis-timeout", "1s"}});
  }

  // The Sentinels name a primary other than `old`; returns its address.
  std::string await_new_primary(const std::string& old) {
    std::string now;
    EXPECT_TRUE(eventually([&] { return (now = sentinels[0].primary()) != old && !now.empty(); }, 60s, 50ms))
        << "no failover from " << old;
    return now;
  }
  RedisServer& server_at(const std::string& address) { return address == address_of(replica1) ? replica1 : replica2; }

  // No acknowledged take lost, none issued twice, every ticket reported to exactly one desk, and
  // the counter counts each acknowledged take once.
  void expect_nothing_lost_nothing_doubled(const KeyedLoad& load, const RedisServer& now_primary) {
    std::set<std::int64_t> issued, reported;
    for (const auto& [key, ticket] : load.taken_)
      EXPECT_TRUE(issued.insert(ticket).second) << "ticket " << ticket << " issued twice";
    for (const auto& [key, ticket] : load.called_)
      EXPECT_TRUE(reported.insert(ticket).second) << "ticket " << ticket << " called twice";
    EXPECT_EQ(reported, issued) << "an acknowledged ticket was lost";
    EXPECT_TRUE(tickets_in_redis(now_primary, "rubis").empty());
    EXPECT_EQ(now_primary.cli({"GET", "ticket_number_rubis"}), std::to_string(issued.size()))
        << "a take happened twice, or one was lost";
    EXPECT_EQ(load.other, 0);
  }

  // The service followed the new primary and said so: its log, its metric.
  void expect_the_service_followed(const std::string& from, const std::string& to) {
    const auto moves = event_lines(service->process(), "redis primary moved: following it");
    ASSERT_FALSE(moves.empty()) << service->process().stdout_text().substr(0, 4000);
    EXPECT_EQ(moves.front().at("from").as_string(), from);
    EXPECT_EQ(moves.front().at("to").as_string(), to);
    EXPECT_GE(metric(scrape(service->admin_port()), "waitline_redis_primary_moves_total", {}).value_or(0), 1);
  }
};

TEST_F(Failover, KillingThePrimaryLosesNoAcknowledgedChangeAndItComesBackAsAReplicaWithTheSameData) {
  const std::string old = address_of(primary);
  KeyedLoad load(service->port(), 4, 2);
  ASSERT_TRUE(eventually([&] { return load.taken() >= 100; }));
  const auto killed_at = clock::now();
  primary.kill();
  const std::string now = await_new_primary(old);
  RedisServer& promoted = server_at(now);
  const std::size_t before = load.taken();
  ASSERT_TRUE(eventually([&] { return load.taken() >= before + 100; })) << "no take acknowledged after the failover";
  load.finish();

  expect_nothing_lost_nothing_doubled(load, promoted);
  expect_the_service_followed(old, now);
  const double gap = load.gap_after(killed_at);
  EXPECT_GT(gap, 0) << "the kill never reached a request";

  // Back on its port, empty: a Sentinel makes it a replica of the new primary, which it copies.
  primary.start();
  ASSERT_TRUE(eventually([&] { return primary.cli({"ROLE"}).starts_with("slave"); }, 60s, 100ms))
      << primary.cli({"ROLE"});
  ASSERT_TRUE(eventually([&] { return caught_up(primary, promoted); }, 60s, 100ms));
  EXPECT_EQ(primary.cli({"DEBUG", "DIGEST"}), promoted.cli({"DEBUG", "DIGEST"})) << "the data diverged";
  std::cout << "primary killed: " << load.taken_.size() << " takes and " << load.called_.size()
            << " calls acknowledged, lost 0, duplicates 0; first failed answer to first good one " << gap << " s; "
            << load.unknown << " x 504, " << load.unavailable << " x 503, " << load.replays
            << " replays; the old primary rejoined as a replica with the same data\n";
}

TEST_F(Failover, APrimaryCutFromItsReplicasRefusesWritesWithinItsLagBoundAndNothingAcknowledgedIsLost) {
  const std::string old = address_of(primary);
  KeyedLoad load(service->port(), 4, 2);
  ASSERT_TRUE(eventually([&] { return load.taken() >= 100; }));
  // Its replicas and the Sentinels lose it; the service (and redis-cli here) still reach it.
  Partition cut(primary.port(), kCutSide);
  const auto cut_at = clock::now();
  std::string refusal;
  ASSERT_TRUE(eventually(
      [&] {
        return (refusal = primary.cli({"SET", "probe", "written-while-cut"})).starts_with("NOREPLICAS");
      },
      30s, 50ms))
      << refusal;
  const double refused_after = std::chrono::duration<double>(clock::now() - cut_at).count();
  EXPECT_LE(refused_after, std::chrono::duration<double>(kLagBound).count() + 2) << "the lag bound is not kept";
  const std::string now = await_new_primary(old);
  RedisServer& promoted = server_at(now);
  const std::size_t before = load.taken();
  ASSERT_TRUE(eventually([&] { return load.taken() >= before + 100; })) << "no take acknowledged after the failover";

  cut.heal();
  ASSERT_TRUE(eventually([&] { return primary.cli({"ROLE"}).starts_with("slave"); }, 60s, 100ms))
      << primary.cli({"ROLE"});
  load.finish();
  ASSERT_TRUE(eventually([&] { return caught_up(primary, promoted); }, 60s, 100ms));
  expect_nothing_lost_nothing_doubled(load, promoted);
  expect_the_service_followed(old, now);
  EXPECT_EQ(primary.cli({"DEBUG", "DIGEST"}), promoted.cli({"DEBUG", "DIGEST"})) << "the data diverged";
  const double gap = load.gap_after(cut_at);
  std::cout << "primary cut off: it refused writes " << refused_after << " s after the cut (lag bound "
            << kLagBound.count() << " s); " << load.taken_.size() << " takes and " << load.called_.size()
            << " calls acknowledged, lost 0, duplicates 0; first failed answer to first good one " << gap << " s; "
            << load.unknown << " x 504, " << load.unavailable << " x 503, " << load.replays
            << " replays; after the heal it rejoined as a replica with the same data\n";
}

// Without Sentinel: the service's WAIT alone. A replica that does not confirm makes the change
// 504 outcome_unknown (it ran on the primary); its keyed retry replays it once the replica has it.
TEST(AckReplicas, AChangeNoReplicaConfirmsIs504OutcomeUnknownAndItsKeyedRetryReplaysIt) {
  RedisServer primary({"--protected-mode", "no"});
  RedisServer replica({"--protected-mode", "no", "--replicaof", "127.0.0.1", std::to_string(primary.port())});
  ASSERT_TRUE(eventually([&] { return caught_up(replica, primary); }));
  Service service({.redis_port = primary.port(),
                   .extra_args = {"--insecure-no-auth", "--redis-ack-replicas", "1", "--redis-ack-timeout", "200ms"}});
  HttpClient client(service.port());
  ASSERT_EQ(client.post("/get_ticket", {{"Idempotency-Key", "first"}}).status, 200u);

  replica.signal(SIGSTOP);
  const auto sent = clock::now();
  EXPECT_TRUE(is_error(client.post("/get_ticket", {{"Idempotency-Key", "second"}}), 504, "outcome_unknown"));
  EXPECT_LT(clock::now() - sent, 1s) << "the answer waited longer than the ack timeout";
  EXPECT_EQ(primary.cli({"GET", "ticket_number_rubis"}), "2") << "the take ran on the primary";

  replica.signal(SIGCONT);
  ASSERT_TRUE(eventually([&] { return caught_up(replica, primary); }));
  const Response replay = client.post("/get_ticket", {{"Idempotency-Key", "second"}});
  EXPECT_EQ(replay.status, 200u) << replay.body;
  EXPECT_EQ(replay.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(ticket_of(replay), 2);
  EXPECT_EQ(primary.cli({"GET", "ticket_number_rubis"}), "2") << "the retry took a second ticket";
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_redis_primary_moves_total", {}), 0.0);
}

}  // namespace
}  // namespace waitline::test
