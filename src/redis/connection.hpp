// The inside of redis::Client: one connection and its life, on one strand. For src/redis only.
//
//   auto c = std::make_shared<detail::Connection>(executor, options, on_latency, on_state);
//   c->start();                                   // connects, and again whenever it is lost
//   asio::dispatch(c->strand(), [c, ...] { c->submit(std::move(pending), encoded); });
//
// Life: find the server (the Sentinels' primary, or the fixed host), connect and greet it, then
// serve (reader || writer || watchdog) until the connection fails; fail what was pending; back
// off; again. Replies come back in order, so each is matched with the oldest pending command.
// With Sentinels, `follow` also ends the connection when they name another primary.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "redis/client.hpp"
#include "redis/sentinel.hpp"

namespace waitline::redis::detail {

using clock = std::chrono::steady_clock;

// Whoever awaits a command: completing it resumes them on their own executor, never inline on
// the connection's strand.
struct Waiter {
  virtual ~Waiter() = default;
  virtual void complete(Result result) = 0;
};

template <class Handler>
struct WaiterFor final : Waiter {
  explicit WaiterFor(Handler h) : handler(std::move(h)) {}
  void complete(Result result) override {
    auto executor = boost::asio::get_associated_executor(handler);
    boost::asio::post(executor, boost::asio::append(std::move(handler), std::move(result)));
  }
  Handler handler;
};

// A command from submit() until it is answered.
struct Pending {
  enum class Kind : std::uint8_t {
    command,     // answered with its reply
    replicated,  // its reply waits for the WAIT written after it to count enough replicas
    wait,        // that WAIT (no waiter: it answers the replicated commands before it)
  };
  Kind kind = Kind::command;
  std::string label;
  Parse parse = Parse::generic;
  std::size_t skipped = 0;  // replies still to come before the one that answers
  clock::time_point sent{};
  std::unique_ptr<Waiter> waiter;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(const boost::asio::any_io_executor& executor, Options options, LatencyObserver on_latency,
             StateObserver on_state);

  void start();  // runs the connection's life on the strand
  void stop();   // closes; pending and later commands fail as unavailable
  bool up() const noexcept { return up_.load(std::memory_order_relaxed); }
  const boost::asio::strand<boost::asio::any_io_executor>& strand() const noexcept { return strand_; }
  // On the strand: hands `encoded` to the writer, or fails the command at once when not connected.
  void submit(Pending command, const std::string& encoded);

 private:
  // A replicated command whose reply came, until its WAIT's reply.
  struct Held {
    Pending command;
    Reply reply;
  };

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<std::string> connect_and_greet();
  boost::asio::awaitable<std::string> establish(Address server);
  boost::asio::awaitable<std::string> serve();
  boost::asio::awaitable<void> reader(std::string& reason);
  std::string deliver(Reply reply);
  void confirm(const Reply& wait_reply);
  boost::asio::awaitable<void> writer(std::string& reason);
  boost::asio::awaitable<void> watchdog(std::string& reason);
  boost::asio::awaitable<void> follow(std::string& reason);
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds delay);
  std::chrono::milliseconds backoff(int attempt) const;
  void fail_all(std::string_view reason);
  void report(bool connected, std::string_view detail);

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  const Options options_;
  const LatencyObserver on_latency_;
  const StateObserver on_state_;
  Sentinels sentinels_;
  const std::string wait_command_;  // WAIT <ack_replicas> <ack_timeout>, encoded
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer write_signal_;    // cancelled to wake the writer
  boost::asio::steady_timer watchdog_timer_;  // cancelled when a command arrives at an empty queue
  boost::asio::steady_timer sleep_timer_;     // backoff between attempts
  std::deque<Pending> pending_;               // sent or about to be sent, oldest first
  std::deque<Held> held_;                     // answered, waiting for their WAIT
  std::string outgoing_;                      // encoded commands not yet handed to the socket
  std::size_t unsent_ = 0;                    // the last `unsent_` of `pending_` are in `outgoing_`
  bool unsent_replicated_ = false;            // `outgoing_` holds a replicated command
  std::string server_;                        // where the current connection goes, "host:port"
  std::atomic<bool> up_{false};
  bool stopped_ = false;
  std::optional<bool> reported_;  // last state given to on_state
  std::string last_reported_;
};

}  // namespace waitline::redis::detail
