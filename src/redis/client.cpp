#include "redis/client.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <deque>
#include <optional>
#include <random>

namespace waitline::redis {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds first_backoff{50};
constexpr std::size_t read_chunk = std::size_t{16} * 1024;
}  // namespace

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
    auto executor = asio::get_associated_executor(handler);
    asio::post(executor, asio::append(std::move(handler), std::move(result)));
  }
  Handler handler;
};

struct Client::Connection : std::enable_shared_from_this<Connection> {
  struct Pending {
    std::string label;
    Parse parse;
    std::size_t skipped;  // replies still to come before the one that answers
    clock::time_point sent;
    std::unique_ptr<Waiter> waiter;
  };

  Connection(const asio::any_io_executor& executor, Options opts, LatencyObserver latency, StateObserver state)
      : strand(asio::make_strand(executor)),
        options(std::move(opts)),
        on_latency(std::move(latency)),
        on_state(std::move(state)),
        socket(strand),
        write_signal(strand),
        watchdog_timer(strand),
        sleep_timer(strand) {}

  asio::strand<asio::any_io_executor> strand;
  const Options options;
  const LatencyObserver on_latency;
  const StateObserver on_state;
  tcp::socket socket;
  asio::steady_timer write_signal;    // cancelled to wake the writer
  asio::steady_timer watchdog_timer;  // cancelled when a command arrives at an empty queue
  asio::steady_timer sleep_timer;     // backoff between attempts
  std::deque<Pending> pending;        // sent or about to be sent, oldest first
  std::string outgoing;               // encoded commands not yet handed to the socket
  std::size_t unsent = 0;             // the last `unsent` of `pending` are still in `outgoing`
  std::atomic<bool> up{false};
  bool stopped = false;
  std::optional<bool> reported;  // last state given to on_state
  std::string last_reason;

  void report(bool connected, std::string_view reason) {
    if (reported == connected && (connected || reason == last_reason)) return;
    reported = connected;
    last_reason = reason;
    if (on_state) on_state(connected, reason);
  }

  void submit(std::string label, Parse parse, std::size_t skipped, const std::string& encoded,
              std::unique_ptr<Waiter> waiter) {
    if (!up.load(std::memory_order_relaxed)) {
      waiter->complete(Result{Status::unavailable, {}, "not connected to redis"});
      return;
    }
    if (pending.empty()) watchdog_timer.cancel();
    pending.push_back({std::move(label), parse, skipped, clock::now(), std::move(waiter)});
    outgoing += encoded;
    ++unsent;
    write_signal.cancel();
  }

  // Commands handed to the socket may have reached Redis: their outcome is unknown.
  void fail_all(std::string_view reason) {
    const std::size_t sent = pending.size() - unsent;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      pending[i].waiter->complete(Result{i < sent ? Status::unknown : Status::unavailable, {}, std::string(reason)});
    }
    pending.clear();
    outgoing.clear();
    unsent = 0;
  }

  // --- the life of one connection: connect, handshake, then reader || writer || watchdog ---

  asio::awaitable<void> run() {
    int attempt = 0;
    while (!stopped) {
      std::string reason = co_await connect_and_greet();
      if (reason.empty()) {
        attempt = 0;
        up = true;
        report(true, {});
        reason = co_await serve();
        up = false;
      }
      fail_all(reason);
      boost::system::error_code ignored;
      socket.close(ignored);
      if (stopped) break;
      report(false, reason);
      co_await sleep(backoff(attempt++));
    }
  }

  std::chrono::milliseconds backoff(int attempt) const {
    auto delay = std::min<std::chrono::milliseconds>(options.max_backoff,
                                                     first_backoff * (1LL << std::min(attempt, 10)));
    thread_local std::minstd_rand random{std::random_device{}()};
    // Jitter so that many replicas do not reconnect in lock step.
    return delay + std::chrono::milliseconds(random() % (delay.count() / 4 + 1));
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds delay) {
    sleep_timer.expires_after(delay);
    co_await sleep_timer.async_wait(use_tuple);
  }

  // Returns why it failed, or an empty string once the connection is ready for commands.
  asio::awaitable<std::string> connect_and_greet() {
    auto outcome = co_await (establish() || timeout_after(options.timeout));
    if (outcome.index() == 1)
      co_return "redis did not answer within " + std::to_string(options.timeout.count()) + " ms";
    co_return std::get<0>(outcome);
  }

  asio::awaitable<void> timeout_after(std::chrono::milliseconds delay) const {
    asio::steady_timer timer(strand);
    timer.expires_after(delay);
    co_await timer.async_wait(use_tuple);
  }

  asio::awaitable<std::string> establish() {
    tcp::resolver resolver(strand);
    auto [rec, endpoints] = co_await resolver.async_resolve(options.host, std::to_string(options.port), use_tuple);
    if (rec) co_return "cannot resolve " + options.host + ": " + rec.message();
    auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
    if (cec) co_return "cannot connect to " + options.host + ":" + std::to_string(options.port) + ": " + cec.message();
    socket.set_option(tcp::no_delay(true));

    std::string hello;
    std::size_t expected = 1;
    if (!options.password.empty()) {
      if (options.username.empty()) encode_command(hello, {"AUTH", options.password});
      else encode_command(hello, {"AUTH", options.username, options.password});
      ++expected;
    }
    // PING proves the server serves commands (it answers LOADING while it replays its AOF).
    encode_command(hello, {"PING"});
    auto [wec, written] = co_await asio::async_write(socket, asio::buffer(hello), use_tuple);
    if (wec) co_return "cannot write to redis: " + wec.message();

    std::string buffer;
    while (expected > 0) {
      auto old = buffer.size();
      buffer.resize(old + read_chunk);
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer.data() + old, read_chunk), use_tuple);
      buffer.resize(old + n);
      if (ec) co_return "redis closed the connection during the handshake: " + ec.message();
      Reply reply;
      std::size_t used = 0;
      while (expected > 0 && (used = parse_reply(buffer, reply)) > 0) {
        buffer.erase(0, used);
        --expected;
        if (reply.is_error()) co_return "redis refused the handshake: " + reply.text;
      }
    }
    co_return std::string();
  }

  // Runs until the connection fails; returns why.
  asio::awaitable<std::string> serve() {
    std::string reason;
    co_await (reader(reason) || writer(reason) || watchdog(reason));
    co_return reason.empty() ? std::string("connection closed") : reason;
  }

  asio::awaitable<void> reader(std::string& reason) {
    // Replies are parsed straight from `chunk` (left uninitialised: zeroing 16 KiB per read cost
    // more than a whole reply); only a reply cut by the end of a read is copied into `carried`.
    auto chunk = std::make_unique_for_overwrite<char[]>(read_chunk);
    std::string carried;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk.get(), read_chunk), use_tuple);
      if (ec) {
        if (reason.empty()) reason = "connection to redis lost: " + ec.message();
        co_return;
      }
      std::string_view unread(chunk.get(), n);
      if (!carried.empty()) unread = carried.append(unread);
      try {
        for (;;) {
          Reply reply;
          const bool skipping = !pending.empty() && pending.front().skipped > 0;
          auto used = parse_reply(unread, reply, pending.empty() || skipping ? Parse::generic : pending.front().parse);
          if (used == 0) break;
          unread.remove_prefix(used);
          if (pending.empty()) {
            reason = "redis sent a reply nobody asked for";
            co_return;
          }
          // An error among them discards the transaction, and EXEC's reply says so.
          if (skipping) {
            --pending.front().skipped;
            continue;
          }
          auto done = std::move(pending.front());
          pending.pop_front();
          if (on_latency) on_latency(done.label, clock::now() - done.sent);
          done.waiter->complete(Result{Status::ok, std::move(reply), {}});
        }
      } catch (const ProtocolError& e) {
        reason = e.what();
        co_return;
      }
      if (carried.empty()) carried.assign(unread);
      else carried.erase(0, carried.size() - unread.size());
    }
  }

  // The writer and the watchdog sleep on timers that wake them for work, so they ask `group`
  // whether the wake-up was the reader || writer || watchdog group being torn down.
  asio::awaitable<void> writer(std::string& reason) {
    auto group = co_await asio::this_coro::cancellation_state;
    std::string writing;
    for (;;) {
      if (outgoing.empty()) {
        write_signal.expires_at(clock::time_point::max());
        co_await write_signal.async_wait(use_tuple);
        if (group.cancelled() != asio::cancellation_type::none) co_return;
        continue;
      }
      writing.swap(outgoing);
      unsent = 0;
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer(writing), use_tuple);
      if (ec) {
        if (reason.empty()) reason = "cannot write to redis: " + ec.message();
        co_return;
      }
      writing.clear();
    }
  }

  // Redis answers in order, so when the oldest command is late the connection is stalled.
  asio::awaitable<void> watchdog(std::string& reason) {
    auto group = co_await asio::this_coro::cancellation_state;
    for (;;) {
      watchdog_timer.expires_at(pending.empty() ? clock::time_point::max() : pending.front().sent + options.timeout);
      co_await watchdog_timer.async_wait(use_tuple);
      if (group.cancelled() != asio::cancellation_type::none) co_return;
      if (!pending.empty() && clock::now() - pending.front().sent >= options.timeout) {
        reason = "redis did not answer within " + std::to_string(options.timeout.count()) + " ms";
        co_return;
      }
    }
  }
};

Client::Client(const asio::any_io_executor& executor, Options options, LatencyObserver on_latency,
               StateObserver on_state)
    : connection_(
          std::make_shared<Connection>(executor, std::move(options), std::move(on_latency), std::move(on_state))) {}

Client::~Client() { stop(); }  // NOLINT(bugprone-exception-escape): see client.hpp

void Client::start() {
  auto c = connection_;
  asio::co_spawn(
      c->strand, [c]() -> asio::awaitable<void> { co_await c->run(); }, asio::detached);
}

void Client::stop() {
  auto c = connection_;
  asio::dispatch(c->strand, [c] {
    c->stopped = true;
    c->up = false;
    boost::system::error_code ignored;
    c->socket.close(ignored);
    c->sleep_timer.cancel();
  });
}

bool Client::connected() const noexcept { return connection_->up.load(std::memory_order_relaxed); }

// Not coroutines: the commands are encoded now, while `args` still point at live strings.
asio::awaitable<Result> Client::exec(std::string_view label, std::initializer_list<std::string_view> args,
                                     Parse parse) {
  std::string encoded;
  encode_command(encoded, args);
  return send(label, std::move(encoded), parse, 0);
}

asio::awaitable<Result> Client::exec_transaction(
    std::string_view label, std::initializer_list<std::initializer_list<std::string_view>> commands, Parse parse) {
  std::string encoded;
  encode_command(encoded, {"MULTI"});
  for (auto command : commands) encode_command(encoded, command);
  encode_command(encoded, {"EXEC"});
  return send(label, std::move(encoded), parse, commands.size() + 1);
}

asio::awaitable<Result> Client::send(std::string_view label, std::string encoded, Parse parse, std::size_t skipped) {
  // Weak: the awaitable keeps this initiation in the caller's coroutine frame until the reply, and
  // that frame waits inside the connection's `pending`; a strong pointer made a cycle that leaked
  // the connection when the process stopped with commands in flight (shutdown_test.cpp,
  // StoppingWithCommandsRedisNeverAnsweredFreesEverything).
  std::weak_ptr<Connection> weak = connection_;
  return asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      [weak, parse, skipped](auto handler, std::string name, std::string bytes) {
        std::unique_ptr<Waiter> waiter = std::make_unique<WaiterFor<decltype(handler)>>(std::move(handler));
        auto c = weak.lock();
        if (!c) {
          waiter->complete(Result{Status::unavailable, {}, "the redis client is stopped"});
          return;
        }
        asio::dispatch(c->strand, [c, parse, skipped, w = std::move(waiter), name = std::move(name),
                                   bytes = std::move(bytes)]() mutable {
          c->submit(std::move(name), parse, skipped, bytes, std::move(w));
        });
      },
      asio::use_awaitable, std::string(label), std::move(encoded));
}

}  // namespace waitline::redis
