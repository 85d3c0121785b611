// The ticket queue, stored exactly as the original application stored it:
//   ticket_number_<queue>  a counter (INCR; the first ticket is 1; never reset)
//   queue_<queue>          a list of waiting tickets (LPUSH to add, RPOP to call: FIFO)
// and, new with this service:
//   last_called_<queue>        the last ticket called (SET by every call that removed one)
//   idempotency_<queue>:<key>  the first outcome of a take, call or recall sent with that key
//   events_<queue>             a stream: one entry per take, call and recall (type, ticket,
//                              waiting, counter), trimmed to Options::events_retention
//   taken_at_<queue>           a list beside queue_<queue>: "<ms>:<estimate>" of each ticket
//                              taken by this service, so a call knows how long its ticket waited
//   recent_calls_<queue>       the last 10 to 20 calls, newest first: "<ms>:<ticket>:<counter>"
//   pace_<queue>               the queue's pace as of its last call: "<ms between calls>:<ms>"
//   called_<queue>             a hash: ticket -> "<ms>:<counter>" of the last called tickets
//   counters_<queue>           a hash: counter -> the last ticket it called (for a recall)
//
//   queue::TicketQueue queue(redis, "rubis", {}, telemetry);
//   auto taken = co_await queue.take("kiosk-7-0042");   // a retry with that key replays it
//   auto called = co_await queue.call("desk-1", "3");   // counter "3"
//
// Each change (take, call, recall) is one Lua script that also appends its event to the stream,
// so it is atomic in Redis whatever the number of replicas: no number issued twice, no ticket
// called twice, none lost, no change without its event and no event without its change; the
// outcome recorded for an idempotency key is written by the same script, so it exists iff the
// change happened. Reads of several keys are one transaction (MULTI/EXEC) or one script. Changes
// are sent with redis::Ack::replicated: with a client set to wait for replicas, a change is
// answered only once a replica holds it (else Failure::unknown: it may survive a failover or not).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "queue/options.hpp"
#include "redis/client.hpp"

namespace waitline::queue {

namespace detail {
struct Script;
}

enum class Failure : std::uint8_t {
  none,
  unavailable,        // not sent to Redis, or Redis did not run it (LOADING, OOM...): nothing happened
  unknown,            // sent, and no reply came: it may have happened
  internal,           // Redis answered an error, or something we cannot read: a bug or foreign data
  full,               // take: the queue holds Options::max_length tickets; nothing was stored
  key_reused,         // the idempotency key belongs to another operation (take, call, recall)
  nothing_to_recall,  // recall: that counter (or the queue) has called no ticket
};

template <class T>
struct Outcome {
  Failure failure = Failure::none;
  std::string detail;  // for logs, when failure != none
  T value{};
  explicit operator bool() const noexcept { return failure == Failure::none; }
};

// A stream entry's id, "<ms>-<seq>": the time Redis added it (ms since the epoch) and a sequence
// within that millisecond. Ids only grow, so they order the events.
struct EventId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  static std::optional<EventId> parse(std::string_view text) noexcept;
  std::string text() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 mistakes the defaulted comparison's 0
  friend auto operator<=>(const EventId&, const EventId&) = default;
};

enum class EventType : std::uint8_t { taken, called, recalled };
inline constexpr std::size_t event_types = 3;
std::string_view name(EventType type) noexcept;

struct Event {
  EventId id;
  EventType type = EventType::taken;
  std::int64_t ticket = 0;
  std::int64_t waiting = 0;   // after the change
  std::string counter;        // called and recalled; empty when the desk named none
  std::int64_t pace_ms = -1;  // called: the queue's pace after this call (-1: none yet)
};

// The estimated wait, in seconds, of a ticket with `ahead` tickets before it: `ahead` intervals
// of the queue's pace (the mean interval between its recent calls) and what remains of the
// current one. None without a pace (pace_ms < 0), or when the last call is more than an hour old.
// docs/service.md, "Wait estimates".
std::optional<std::int64_t> estimate_wait(std::int64_t ahead, std::int64_t pace_ms,
                                          std::int64_t since_last_call_ms) noexcept;

// Counter names: 1 to 32 of A-Z a-z 0-9 _ . - (checked by the API before they reach Redis).
bool is_counter_name(std::string_view text) noexcept;
inline constexpr std::size_t max_counter_name = 32;

struct Taken {
  std::int64_t ticket = 0;
  std::int64_t waiting = 0;
  std::optional<std::int64_t> estimate_seconds;  // none while the queue has no pace yet
  bool replayed = false;                         // the outcome recorded for the idempotency key, not a new ticket
};
struct Called {
  std::optional<std::int64_t> ticket;  // empty when the queue was empty
  std::int64_t waiting = 0;
  std::string counter;
  bool replayed = false;
};
struct Recalled {
  std::int64_t ticket = 0;
  std::int64_t waiting = 0;
  std::string counter;
  bool replayed = false;
};
struct Listing {
  std::int64_t waiting = 0;
  std::vector<std::int64_t> tickets;  // oldest first
};
struct Call {
  std::int64_t ticket = 0;
  std::string counter;
  std::int64_t at_ms = 0;  // 0 when unknown (a call made before this service recorded them)
};
struct LastCall {
  std::optional<std::int64_t> ticket;  // empty when none was ever called
  std::string counter;
};

enum class TicketState : std::uint8_t { waiting, called, gone };
std::string_view name(TicketState state) noexcept;
struct TicketStatus {
  TicketState state = TicketState::gone;
  std::int64_t ahead = 0;                        // waiting: tickets to be called before it
  std::optional<std::int64_t> estimate_seconds;  // waiting: when the queue has a pace
  std::int64_t pace_ms = -1;                     // waiting: what the estimate is made of
  std::int64_t last_call_ms = -1;                //   (-1: none), to make it again later
  std::string counter;                           // called: the counter it was called to
  std::int64_t called_at_ms = 0;                 // called
};

// What a live stream starts from: the queue at one instant, and the last event id then.
struct Snapshot {
  std::int64_t waiting = 0;
  std::vector<std::int64_t> tickets;  // the first waiting, oldest first
  std::vector<Call> calls;            // the recent calls, newest first
  EventId cursor;                     // the last event in the stream then; {0,0} when none
  std::int64_t at_ms = 0;             // Redis's clock then
};
struct EventPage {
  // false: events after the given id may have been trimmed from the stream (it is older than the
  // retention, or the data was lost): the page cannot be trusted to be the whole story.
  bool complete = true;
  std::vector<Event> events;
};

// What the queue reports to metrics after each operation.
struct Observer {
  virtual ~Observer() = default;
  virtual void waiting(std::int64_t count) = 0;
  virtual void issued() = 0;
  virtual void called() = 0;
  virtual void refused_full() = 0;  // a take refused because the queue is full
  // A ticket taken through this service was called after `waited`; it had been told
  // `estimate_seconds` at its take (none when the queue had no pace then).
  virtual void waited(std::chrono::milliseconds waited, std::optional<std::int64_t> estimate_seconds) = 0;
};

class TicketQueue {
 public:
  TicketQueue(redis::Client& client, std::string name, Options options, Observer& observer);

  const std::string& name() const noexcept { return name_; }
  // `idempotency_key` empty: none. Its characters, and the counter's, are checked by the caller.
  boost::asio::awaitable<Outcome<Taken>> take(std::string_view idempotency_key = {});
  boost::asio::awaitable<Outcome<Called>> call(std::string_view idempotency_key = {}, std::string_view counter = {});
  // Announces again the last ticket `counter` called; with no counter, the queue's last call.
  boost::asio::awaitable<Outcome<Recalled>> recall(std::string_view idempotency_key, std::string_view counter);
  boost::asio::awaitable<Outcome<Listing>> list(std::int64_t limit);
  boost::asio::awaitable<Outcome<std::int64_t>> size();
  boost::asio::awaitable<Outcome<LastCall>> last_called();
  // nullopt: no such ticket was ever issued. Costs Redis O(1) whatever the queue's length.
  // Statuses asked in the same turn of the event loop are read together, in one transaction: call
  // it from the executor of the queue's client only (one thread, as each worker has its own).
  boost::asio::awaitable<Outcome<std::optional<TicketStatus>>> status(std::int64_t ticket);
  boost::asio::awaitable<Outcome<Snapshot>> snapshot(std::int64_t tickets);
  // The events after `after`, oldest first, at most `count`.
  boost::asio::awaitable<Outcome<EventPage>> events_after(EventId after, std::int64_t count);
  // XREAD BLOCK: the events after `after`, waiting up to `block` for one (empty when none came).
  // For a connection of its own: it holds the connection for as long as it waits.
  boost::asio::awaitable<Outcome<std::vector<Event>>> read_events(EventId after, std::int64_t count,
                                                                  std::chrono::milliseconds block);

 private:
  template <class Exec>
  boost::asio::awaitable<Outcome<redis::Reply>> run(const detail::Script& script, Exec exec, Failure sent_unanswered);
  // A change (take, call, recall): its script with `keys`, then the idempotency record's key when
  // the request has an Idempotency-Key (the scripts look for it after their own keys), then `args`.
  // Not a coroutine: the lists are copied before it returns.
  boost::asio::awaitable<Outcome<redis::Reply>> change(const detail::Script& script,
                                                       std::initializer_list<std::string_view> keys,
                                                       std::string_view idempotency_key,
                                                       std::initializer_list<std::string_view> args);
  boost::asio::awaitable<Outcome<redis::Reply>> send_change(const detail::Script& script,
                                                            std::vector<std::string_view> command, std::size_t keys,
                                                            std::string record);

  struct StatusRead;
  boost::asio::awaitable<Outcome<redis::Reply>> read_statuses(const StatusRead& read);

  redis::Client& client_;
  std::shared_ptr<StatusRead> gathering_;  // the statuses still to be read together, if any
  std::string name_;
  std::string counter_key_;
  std::string list_key_;
  std::string last_called_key_;
  std::string idempotency_prefix_;
  std::string events_key_;
  std::string taken_at_key_;
  std::string recent_calls_key_;
  std::string called_key_;
  std::string counters_key_;
  std::string pace_key_;
  std::string ttl_seconds_;
  std::string max_length_;
  std::string retention_;
  Observer& observer_;
};

}  // namespace waitline::queue
