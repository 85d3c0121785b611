// An asynchronous Redis client on Asio: one connection, pipelined, reconnecting by itself.
//
//   redis::Client client(io.get_executor(), {.host = "127.0.0.1", .port = 6379});
//   client.start();
//   redis::Result r = co_await client.exec("incr", {"INCR", "counter"});
//   redis::Result t = co_await client.exec_transaction("both", {{"LLEN", "l"}, {"LRANGE", "l", "0", "9"}});
//
// Commands from every coroutine are queued on one connection and written together; replies come
// back in order. No thread ever waits: while Redis is away, exec() fails at once with
// `unavailable`; a command that gets no reply within `timeout` fails, and since Redis answers in
// order the connection is then considered stalled and is replaced. A command that failed after
// it was handed to the socket is `unknown`, never `unavailable`: Redis may have run it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "redis/options.hpp"
#include "redis/resp.hpp"

namespace waitline::redis {

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

// Called after every command with its label and how long Redis took to answer.
using LatencyObserver = std::function<void(std::string_view label, std::chrono::nanoseconds)>;
// Called when the connection comes up, and when it goes down or an attempt fails (with why).
using StateObserver = std::function<void(bool connected, std::string_view reason)>;

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
  boost::asio::awaitable<Result> exec(std::string_view label, std::initializer_list<std::string_view> args,
                                      Parse parse = Parse::generic);
  // The commands as one transaction (MULTI, the commands, EXEC): no other client's command runs
  // between them. The reply is EXEC's: an array of the commands' replies, or the error that
  // discarded the transaction.
  boost::asio::awaitable<Result> exec_transaction(
      std::string_view label, std::initializer_list<std::initializer_list<std::string_view>> commands,
      Parse parse = Parse::generic);

  bool connected() const noexcept;

 private:
  // `skipped`: replies before the one that answers (MULTI's OK, each QUEUED).
  boost::asio::awaitable<Result> send(std::string_view label, std::string encoded, Parse parse, std::size_t skipped);

  struct Connection;
  std::shared_ptr<Connection> connection_;
};

}  // namespace waitline::redis
