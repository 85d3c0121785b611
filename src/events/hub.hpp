// A queue's live events, read once per process and fanned out to every stream it serves.
//
//   events::Hub hub("rubis", 2, {}, telemetry);
//   hub.attach(0, io0.get_executor());
//   hub.attach(1, io1.get_executor());
//   asio::co_spawn(io0, hub.follow(reader_queue), asio::detached);   // one XREAD BLOCK loop
//
//   // in a stream, on lane 1's thread:
//   events::Subscription sub(hub, 1, snapshot.cursor);
//   for (;;) {
//     co_await sub.wait(keepalive_due);
//     auto pulled = sub.pull(frames);   // frames: the events after the cursor, SSE text ready
//     ...
//   }
//
// One coroutine reads the queue's Redis stream on a connection of its own (XREAD BLOCK), renders
// each event once as Server-Sent Events text, keeps the last ones in a ring per event type and
// wakes the subscriptions of each lane (an event loop run by one thread) on that lane's thread,
// a slice at a time so that the lane's other work (a desk's answer) does not wait for them all.
// A subscription holds only its cursor: the bytes live once, in the rings, whoever reads them.
// Rings per type, and lanes' lists per type, are what let ten thousand phones that follow calls
// cost nothing when a ticket is taken: a take touches neither them nor what they read. One that
// loses a wanted event off its ring's end while subscribed did not read fast enough and is told
// `slow`; one that joins behind a ring it wants is told `behind` and catches up from Redis first.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "events/options.hpp"
#include "queue/queue.hpp"

namespace waitline::events {

// --- Server-Sent Events text (the WHATWG HTML standard's event stream) --------------------------

// "id: <id>\nevent: <type>\ndata: <json>\n\n"; data {"queue","ticket","waiting","counter","at"}
// (counter only for called and recalled: null when the desk named none).
std::string render(std::string_view queue, const queue::Event& event);
// Any event: "id: <id>\n" when `id` is set, "event: <name>\ndata: <json>\n\n".
std::string render(std::string_view name, std::string_view id, std::string_view json);
// "retry: <ms>\n\n": how long a client waits before it reconnects.
std::string retry(std::chrono::milliseconds delay);
// A comment line that keeps an idle connection (and the proxies on its way) open.
inline constexpr std::string_view keepalive = ": keepalive\n\n";

struct Frame {
  queue::Event event;
  std::string text;  // render(queue, event)
};
using FramePtr = std::shared_ptr<const Frame>;

// What the hub reports; implemented by the process's telemetry.
struct Observer {
  virtual ~Observer() = default;
  virtual void events_received(std::size_t count) = 0;
  virtual void reader_state(bool up, std::string_view reason) = 0;
};

class Subscription;

// Which events a subscription wants: its types, and (for a ticket's stream) tickets up to one.
struct Interest {
  static constexpr unsigned all_types = (1u << queue::event_types) - 1;
  unsigned types = all_types;  // bit (1 << EventType)
  std::int64_t up_to_ticket = INT64_MAX;
  bool wants(const queue::Event& event) const noexcept {
    return (types & (1u << static_cast<unsigned>(event.type))) != 0 && event.ticket <= up_to_ticket;
  }
};

class Hub {
 public:
  Hub(std::string queue, std::size_t lanes, Options options, Observer& observer);
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;
  ~Hub() = default;

  const std::string& queue() const noexcept { return queue_; }
  const Options& options() const noexcept { return options_; }
  // The event loop of lane `lane`, before any subscription there.
  void attach(std::size_t lane, boost::asio::any_io_executor executor) {
    lanes_.at(lane).executor = std::move(executor);
  }
  // The newest event read so far (a subscription from here gets only what comes next).
  queue::EventId newest() const;

  // Follows the queue's stream from its end until close(). `source` must use a Redis connection
  // of its own, whose timeout exceeds Options::block.
  boost::asio::awaitable<void> follow(queue::TicketQueue& source);
  // Every subscription sees `closed` and ends; follow() returns after its current read.
  void close();
  bool closed() const noexcept { return closed_.load(); }
  // Whether the reader has found the stream's end (before that, subscriptions only wait).
  bool following() const;

  // A place among Options::max_streams, held for as long as the Slot lives; empty when full.
  class Slot {
   public:
    Slot() = default;
    explicit Slot(Hub* hub) : hub_(hub) {}
    Slot(Slot&& other) noexcept : hub_(std::exchange(other.hub_, nullptr)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot();
    explicit operator bool() const noexcept { return hub_ != nullptr; }

   private:
    Hub* hub_ = nullptr;
  };
  Slot open_stream();
  std::size_t streams() const noexcept { return streams_.load(); }

 private:
  friend class Subscription;
  struct Lane {
    boost::asio::any_io_executor executor;
    // The subscriptions that want each type; touched only on the lane's thread.
    std::array<std::vector<Subscription*>, queue::event_types> subscriptions;
  };
  // The last events of one type, oldest first; every event of that type after `floor` that the
  // reader read is here.
  struct Ring {
    std::deque<FramePtr> frames;
    queue::EventId floor;
  };

  void start(queue::EventId cursor);  // the reader's position; everything after it is in the ring
  void reset(queue::EventId cursor);  // events were lost: every subscription starts again
  void publish(std::vector<queue::Event> events);
  void wake_all();
  // Wakes, on each lane, the subscriptions that want one of `frames`; no other is looked at.
  void wake_interested(const std::shared_ptr<const std::vector<FramePtr>>& frames);
  struct Waking;

  const std::string queue_;
  const Options options_;
  Observer& observer_;
  std::vector<Lane> lanes_;
  std::atomic<bool> closed_{false};
  std::atomic<std::size_t> streams_{0};

  mutable std::mutex mutex_;
  bool started_ = false;                        // guarded by mutex_
  std::uint64_t epoch_ = 0;                     // guarded: increased by reset()
  queue::EventId newest_;                       // guarded: the last event read (or where the reader started)
  std::array<Ring, queue::event_types> rings_;  // guarded
};

// One stream's place in the hub. Made, used and destroyed on its lane's thread.
class Subscription {
 public:
  // `cursor`: the last event the stream has already delivered.
  Subscription(Hub& hub, std::size_t lane, queue::EventId cursor, Interest interest = {});
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Until there may be something to pull, or `until`, or interrupt().
  boost::asio::awaitable<void> wait(std::chrono::steady_clock::time_point until);
  void interrupt() { timer_.cancel(); }

  enum class Pulled {
    nothing,  // no new event
    frames,   // `out` (emptied first) holds the wanted events after the cursor, in order (at most
              // `max`); the cursor moved past them and past the unwanted ones between
    behind,   // a ring wanted does not reach back to the cursor: catch up from Redis, then moved_to()
    slow,     // a wanted event fell off its ring while subscribed: the client does not read fast enough
    reset,    // the hub lost events (Redis lost data): start again from a snapshot
    closed,   // the process is shutting down
  };
  Pulled pull(std::vector<FramePtr>& out, std::size_t max);
  queue::EventId cursor() const noexcept { return cursor_; }
  void moved_to(queue::EventId cursor);  // after a catch-up from Redis, or a new snapshot

 private:
  friend class Hub;
  bool wants(std::size_t type) const noexcept { return (interest_.types & (1u << type)) != 0; }
  Hub& hub_;
  std::size_t lane_;
  Interest interest_;
  std::array<std::size_t, queue::event_types> index_{};  // in the lane's lists of the types wanted
  boost::asio::steady_timer timer_;
  queue::EventId cursor_;
  std::uint64_t epoch_;
  bool joined_ = false;  // has pulled from the ring once: falling behind now means slow
};

}  // namespace waitline::events
