// The hub's fan-out on one lane, against a real redis-server: each event wakes every subscription
// that wants it, even when the wake-ups are spread over several turns of the event loop and
// subscriptions leave between them.
#include "events/hub.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

#include "app/telemetry.hpp"
#include "queue/queue.hpp"
#include "redis/client.hpp"
#include "support/support.hpp"

namespace waitline::events {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

redis::Options on_port(std::uint16_t port, std::chrono::milliseconds timeout) {
  redis::Options options;
  options.port = port;
  options.timeout = timeout;
  options.max_backoff = 100ms;
  return options;
}

struct HubTest : ::testing::Test {
  static constexpr Options options{.block = 200ms, .retry = 50ms};

  test::RedisServer redis_server;
  asio::io_context io;
  app::Telemetry telemetry{"rubis"};
  redis::Client redis{io.get_executor(), on_port(redis_server.port(), 1s)};
  redis::Client reader_redis{io.get_executor(), on_port(redis_server.port(), 2s)};  // longer than the block
  queue::TicketQueue queue{redis, "rubis", {}, telemetry};
  queue::TicketQueue reader{reader_redis, "rubis", {}, telemetry};
  Hub hub{"rubis", 1, options, telemetry};

  void SetUp() override {
    hub.attach(0, io.get_executor());
    redis.start();
    reader_redis.start();
    asio::co_spawn(io, hub.follow(reader), asio::detached);
    ASSERT_TRUE(run_until([&] { return hub.following(); }));
  }
  void TearDown() override {
    hub.close();
    run_until([] { return false; }, 300ms);  // the subscriptions see `closed` and end; the reader returns
    redis.stop();
    reader_redis.stop();
  }

  // Runs the event loop until `done` holds (checked between handlers) or `timeout` passes.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io.restart();
      io.run_one_for(20ms);
    }
    return true;
  }

  void take() {
    bool answered = false, taken = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          taken = static_cast<bool>(co_await queue.take());
          answered = true;
        },
        asio::detached);
    ASSERT_TRUE(run_until([&] { return answered; }));
    ASSERT_TRUE(taken);
  }
};

// A stream as the API runs one: pull, then wait until woken (here for an hour: only a wake-up
// brings it an event), until it has `wanted` events; then it leaves.
asio::awaitable<void> subscriber(Hub& hub, std::size_t wanted, std::size_t& subscribed, std::size_t& received) {
  Subscription subscription(hub, 0, hub.newest());
  ++subscribed;
  std::vector<FramePtr> frames;
  while (received < wanted) {
    switch (subscription.pull(frames, 64)) {
      case Subscription::Pulled::frames: received += frames.size(); break;
      case Subscription::Pulled::nothing: co_await subscription.wait(std::chrono::steady_clock::now() + 1h); break;
      default: co_return;  // closed, or an unexpected state: the counts tell
    }
  }
}

TEST_F(HubTest, EverySubscriptionIsWokenThoughHalfOfThemLeaveWhileTheWakeUpsAreUnderWay) {
  // Many more than one turn of wake-ups on the lane. Every other one leaves after its first event:
  // it leaves as soon as it has run, between two turns, and each that leaves moves another in the
  // lane's list into its place.
  constexpr std::size_t count = 3000;
  std::vector<std::size_t> received(count, 0);
  std::size_t subscribed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    asio::co_spawn(io, subscriber(hub, i % 2 == 0 ? 1 : 2, subscribed, received[i]), asio::detached);
  }
  ASSERT_TRUE(run_until([&] { return subscribed == count; }));  // each one then runs on to its wait

  take();
  std::size_t with_first = 0;
  ASSERT_TRUE(run_until(
      [&] {
        with_first = static_cast<std::size_t>(std::ranges::count_if(received, [](std::size_t n) { return n >= 1; }));
        return with_first == count;
      },
      10s))
      << with_first << " of " << count << " subscriptions have the first event";

  take();
  std::size_t with_second = 0;
  ASSERT_TRUE(run_until(
      [&] {
        with_second = static_cast<std::size_t>(std::ranges::count_if(received, [](std::size_t n) { return n == 2; }));
        return with_second == count / 2;
      },
      10s))
      << with_second << " of " << count / 2 << " staying subscriptions have the second event";
  EXPECT_EQ(std::ranges::count(received, 1), static_cast<std::ptrdiff_t>(count / 2));
}

}  // namespace
}  // namespace waitline::events
