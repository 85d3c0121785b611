#include "redis/client.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "redis/connection.hpp"

namespace waitline::redis {

namespace asio = boost::asio;

namespace {

// MULTI, the commands, EXEC: the bytes of a transaction.
template <class Commands>
std::string transaction(const Commands& commands) {
  std::string encoded;
  encode_command(encoded, {"MULTI"});
  for (const auto& command : commands) encode_command(encoded, command);
  encode_command(encoded, {"EXEC"});
  return encoded;
}

}  // namespace

Client::Client(const asio::any_io_executor& executor, Options options, LatencyObserver on_latency,
               StateObserver on_state)
    : connection_(std::make_shared<detail::Connection>(executor, std::move(options), std::move(on_latency),
                                                       std::move(on_state))) {}

Client::~Client() { stop(); }  // NOLINT(bugprone-exception-escape): see client.hpp

void Client::start() { connection_->start(); }

void Client::stop() { connection_->stop(); }

bool Client::connected() const noexcept { return connection_->up(); }

// Not coroutines: the commands are encoded now, while `args` still point at live strings.
asio::awaitable<Result> Client::exec(std::string_view label, std::span<const std::string_view> args, Parse parse,
                                     Ack ack) {
  std::string encoded;
  encode_command(encoded, args);
  return send(label, std::move(encoded), parse, 0, ack);
}

asio::awaitable<Result> Client::exec_transaction(
    std::string_view label, std::initializer_list<std::initializer_list<std::string_view>> commands, Parse parse) {
  return send(label, transaction(commands), parse, commands.size() + 1, Ack::reply);
}

asio::awaitable<Result> Client::exec_transaction(std::string_view label,
                                                 std::span<const std::span<const std::string_view>> commands,
                                                 Parse parse) {
  return send(label, transaction(commands), parse, commands.size() + 1, Ack::reply);
}

asio::awaitable<Result> Client::send(std::string_view label, std::string encoded, Parse parse, std::size_t skipped,
                                     Ack ack) {
  // Weak: the awaitable keeps this initiation in the caller's coroutine frame until the reply, and
  // that frame waits inside the connection's `pending`; a strong pointer made a cycle that leaked
  // the connection when the process stopped with commands in flight (shutdown_test.cpp,
  // StoppingWithCommandsRedisNeverAnsweredFreesEverything).
  std::weak_ptr<detail::Connection> weak = connection_;
  const auto kind = ack == Ack::replicated ? detail::Pending::Kind::replicated : detail::Pending::Kind::command;
  return asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      [weak, parse, skipped, kind](auto handler, std::string name, std::string bytes) {
        std::unique_ptr<detail::Waiter> waiter = std::make_unique<detail::WaiterFor<decltype(handler)>>(
            std::move(handler));
        auto c = weak.lock();
        if (!c) {
          waiter->complete(Result{Status::unavailable, {}, "the redis client is stopped"});
          return;
        }
        detail::Pending command{.kind = kind,
                                .label = std::move(name),
                                .parse = parse,
                                .skipped = skipped,
                                .sent = {},
                                .waiter = std::move(waiter)};
        asio::dispatch(c->strand(), [c, command = std::move(command), bytes = std::move(bytes)]() mutable {
          c->submit(std::move(command), bytes);
        });
      },
      asio::use_awaitable, std::string(label), std::move(encoded));
}

}  // namespace waitline::redis
