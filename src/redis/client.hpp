// An asynchronous Redis client on Asio: one connection, pipelined, reconnecting by itself, to a
// fixed server or to the primary that Sentinel names, which it follows through a failover.
//
//   redis::Client client(io.get_executor(), {.host = "127.0.0.1", .port = 6379});
//   client.start();
//   redis::Result r = co_await client.exec("incr", {"INCR", "counter"});
//   redis::Result t = co_await client.exec_transaction("both", {{"LLEN", "l"}, {"LRANGE", "l", "0", "9"}});
//   redis::Result w = co_await client.exec("take", {"EVALSHA", sha, "1", "k"}, Parse::generic, Ack::replicated);
//
// Commands from every coroutine are queued on one connection and written together; replies come
// back in order. No thread ever waits: while Redis is away, exec() fails at once with
// `unavailable`; a command that gets no reply within `timeout` fails, and since Redis answers in
// order the connection is then considered stalled and is replaced. A command that failed after
// it was handed to the socket is `unknown`, never `unavailable`: Redis may have run it.
//
// With Sentinels (Options::sentinels), each connection first asks them where the primary is and
// checks that the server it reaches says it is the primary (ROLE); a lost connection, or a server
// that refuses a write as a replica would (READONLY) or as a primary cut from its replicas would
// (NOREPLICAS), sends it back to the Sentinels: after a failover it finds the new primary by
// itself. A command sent with Ack::replicated is answered only once Options::ack_replicas
// replicas hold it: the writer follows each batch of them with one WAIT; when WAIT counts fewer
// replicas, they are `unknown` (they ran on the primary; a failover may still lose them).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "redis/options.hpp"
#include "redis/resp.hpp"

namespace waitline::redis {

namespace detail {
class Connection;
}

enum class Status : std::uint8_t {
  ok,           // reply holds Redis's answer (which may itself be an error reply)
  unavailable,  // never sent: not connected, or the connection was lost before it went out
  unknown,      // sent (at least in part), then no reply: lost connection or timeout; it may have run
};

struct Result {
  Status status = Status::unavailable;
  Reply reply;
  std::string detail;  // why unavailable or unknown, for logs
};

// When a command's reply is handed back: as soon as the server answers, or once
// Options::ack_replicas replicas acknowledged it too (changes that must survive a failover).
enum class Ack : std::uint8_t { reply, replicated };

// Called after every command with its label and how long it took to be answered (for
// Ack::replicated, until the replicas confirmed it).
using LatencyObserver = std::function<void(std::string_view label, std::chrono::nanoseconds)>;
struct StateChange {
  bool connected = false;
  std::string_view server;  // connected: the address reached ("host:port"; the primary's, with Sentinel)
  std::string_view reason;  // not connected: why the connection or the attempt failed
};
// Called when the connection comes up, and when it goes down or an attempt fails.
using StateObserver = std::function<void(const StateChange&)>;

class Client {
 public:
  Client(const boost::asio::any_io_executor& executor, Options options, LatencyObserver on_latency = {},
         StateObserver on_state = {});
  // Stops the connection; posting that to its strand allocates, and failing to is fatal anyway.
  ~Client();  // NOLINT(bugprone-exception-escape)
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void start();  // connects in the background, and again whenever the connection is lost
  void stop();   // closes; pending and later commands fail as unavailable

  // `label` names the command in metrics; `args` is the command and its arguments; `parse` says
  // how to read its reply's arrays.
  boost::asio::awaitable<Result> exec(std::string_view label, std::span<const std::string_view> args,
                                      Parse parse = Parse::generic, Ack ack = Ack::reply);
  boost::asio::awaitable<Result> exec(std::string_view label, std::initializer_list<std::string_view> args,
                                      Parse parse = Parse::generic, Ack ack = Ack::reply) {
    return exec(label, std::span(args.begin(), args.size()), parse, ack);
  }
  // The commands as one transaction (MULTI, the commands, EXEC): no other client's command runs
  // between them. The reply is EXEC's: an array of the commands' replies, or the error that
  // discarded the transaction.
  boost::asio::awaitable<Result> exec_transaction(
      std::string_view label, std::initializer_list<std::initializer_list<std::string_view>> commands,
      Parse parse = Parse::generic);
  // The same, for commands whose arguments are known only at run time (HMGET of several fields).
  boost::asio::awaitable<Result> exec_transaction(std::string_view label,
                                                  std::span<const std::span<const std::string_view>> commands,
                                                  Parse parse = Parse::generic);

  bool connected() const noexcept;

 private:
  // `skipped`: replies before the one that answers (MULTI's OK, each QUEUED).
  boost::asio::awaitable<Result> send(std::string_view label, std::string encoded, Parse parse, std::size_t skipped,
                                      Ack ack);

  std::shared_ptr<detail::Connection> connection_;
};

}  // namespace waitline::redis
