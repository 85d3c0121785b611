// The ticket queue, stored exactly as the original application stored it:
//   ticket_number_<queue>  a counter (INCR; the first ticket is 1; never reset)
//   queue_<queue>          a list of waiting tickets (LPUSH to add, RPOP to call: FIFO)
//
// Each operation is one Lua script, so it is atomic in Redis whatever the number of replicas:
// no number issued twice, no ticket called twice, none lost.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "redis/client.hpp"

namespace waitline::queue {

namespace detail {
struct Script;
}

enum class Failure : std::uint8_t {
  none,
  unavailable,  // Redis unreachable, too slow, or not serving (LOADING, OOM...): worth a retry
  internal,     // Redis refused or answered something we cannot read: a bug or foreign data
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
};
struct Called {
  std::optional<std::int64_t> ticket;  // empty when the queue was empty
  std::int64_t waiting = 0;
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
};

class TicketQueue {
 public:
  TicketQueue(redis::Client& client, std::string name, Observer& observer);

  const std::string& name() const noexcept { return name_; }
  boost::asio::awaitable<Outcome<Taken>> take();
  boost::asio::awaitable<Outcome<Called>> call();
  boost::asio::awaitable<Outcome<Listing>> list(std::int64_t limit);
  boost::asio::awaitable<Outcome<std::int64_t>> size();

 private:
  boost::asio::awaitable<Outcome<redis::Reply>> run(const detail::Script& script, std::string_view arg = {});

  redis::Client& client_;
  std::string name_;
  std::string counter_key_;
  std::string list_key_;
  Observer& observer_;
};

}  // namespace waitline::queue
