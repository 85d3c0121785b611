// The ticket queue, stored exactly as the original application stored it:
//   ticket_number_<queue>  a counter (INCR; the first ticket is 1; never reset)
//   queue_<queue>          a list of waiting tickets (LPUSH to add, RPOP to call: FIFO)
// and, new with this service:
//   last_called_<queue>        the last ticket called (SET by every call that removed one)
//   idempotency_<queue>:<key>  the first outcome of a take or call sent with that key, for a TTL
//
//   queue::TicketQueue queue(redis, "rubis", {}, telemetry);
//   auto taken = co_await queue.take("kiosk-7-0042");   // a retry with that key replays it
//
// Each operation is one Lua script, so it is atomic in Redis whatever the number of replicas:
// no number issued twice, no ticket called twice, none lost; the outcome recorded for an
// idempotency key is written by the same script as the operation, so it exists iff the
// operation happened.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "queue/options.hpp"
#include "redis/client.hpp"

namespace waitline::queue {

namespace detail {
struct Script;
}

enum class Failure : std::uint8_t {
  none,
  unavailable,  // not sent to Redis, or Redis did not run it (LOADING, OOM...): nothing happened
  unknown,      // sent, and no reply came: it may have happened
  internal,     // Redis refused or answered something we cannot read: a bug or foreign data
  full,         // take: the queue holds Options::max_length tickets; nothing was stored
  key_reused,   // the idempotency key belongs to the other operation (take vs call)
};

template <class T>
struct Outcome {
  Failure failure = Failure::none;
  std::string detail;  // for logs, when failure != none
  T value{};
  explicit operator bool() const noexcept { return failure == Failure::none; }
};

struct Taken {
  std::int64_t ticket = 0;
  std::int64_t waiting = 0;
  bool replayed = false;  // the outcome recorded for the idempotency key, not a new ticket
};
struct Called {
  std::optional<std::int64_t> ticket;  // empty when the queue was empty
  std::int64_t waiting = 0;
  bool replayed = false;
};
struct Listing {
  std::int64_t waiting = 0;
  std::vector<std::int64_t> tickets;  // oldest first
};

// What the queue reports to metrics after each operation.
struct Observer {
  virtual ~Observer() = default;
  virtual void waiting(std::int64_t count) = 0;
  virtual void issued() = 0;
  virtual void called() = 0;
  virtual void refused_full() = 0;  // a take refused because the queue is full
};

class TicketQueue {
 public:
  TicketQueue(redis::Client& client, std::string name, Options options, Observer& observer);

  const std::string& name() const noexcept { return name_; }
  // `idempotency_key` empty: none. Its characters are checked by the caller (the API).
  boost::asio::awaitable<Outcome<Taken>> take(std::string_view idempotency_key = {});
  boost::asio::awaitable<Outcome<Called>> call(std::string_view idempotency_key = {});
  boost::asio::awaitable<Outcome<Listing>> list(std::int64_t limit);
  boost::asio::awaitable<Outcome<std::int64_t>> size();
  // The last ticket called, empty when none ever was.
  boost::asio::awaitable<Outcome<std::optional<std::int64_t>>> last_called();

 private:
  template <class Exec>
  boost::asio::awaitable<Outcome<redis::Reply>> run(const detail::Script& script, Exec exec);

  redis::Client& client_;
  std::string name_;
  std::string counter_key_;
  std::string list_key_;
  std::string last_called_key_;
  std::string idempotency_prefix_;
  std::string ttl_seconds_;
  std::string max_length_;
  Observer& observer_;
};

}  // namespace waitline::queue
