#include "redis/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <random>

#include "redis/handshake.hpp"

namespace waitline::redis::detail {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds first_backoff{50};
// With Sentinels, a failed attempt usually means a failover is under way: it ends in seconds, and
// asking the Sentinels again costs them one short command, so the client keeps asking often.
constexpr std::chrono::milliseconds sentinel_backoff_cap{500};
constexpr std::size_t read_chunk = std::size_t{16} * 1024;
// A primary cut from the Sentinels and its replicas still answers the clients that reach it (reads,
// and writes until its lag bound): a connection asks the Sentinels this often whether it still
// goes to the primary. Each time, one short connection to one Sentinel.
constexpr std::chrono::milliseconds follow_interval{1000};

std::string encode_wait(const Options& options) {
  std::string out;
  encode_command(out, {"WAIT", std::to_string(options.ack_replicas), std::to_string(options.ack_timeout.count())});
  return out;
}

// A write the server refused because it is not a primary that may write: a replica (READONLY),
// or a primary that lost its replicas (NOREPLICAS, min-replicas-to-write). It ran nothing.
bool refused_as_not_primary(const Reply& reply) {
  return reply.is_error() && (reply.text.starts_with("READONLY") || reply.text.starts_with("NOREPLICAS"));
}

std::string milliseconds_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Connection::Connection(const asio::any_io_executor& executor, Options options, LatencyObserver on_latency,
                       StateObserver on_state)
    : strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      on_latency_(std::move(on_latency)),
      on_state_(std::move(on_state)),
      sentinels_(options_),
      wait_command_(encode_wait(options_)),
      socket_(strand_),
      write_signal_(strand_),
      watchdog_timer_(strand_),
      sleep_timer_(strand_) {}

void Connection::start() {
  asio::co_spawn(
      strand_, [c = shared_from_this()]() -> asio::awaitable<void> { co_await c->run(); }, asio::detached);
}

void Connection::stop() {
  asio::dispatch(strand_, [c = shared_from_this()] {
    c->stopped_ = true;
    c->up_ = false;
    boost::system::error_code ignored;
    c->socket_.close(ignored);
    c->sleep_timer_.cancel();
  });
}

void Connection::submit(Pending command, const std::string& encoded) {
  if (!up()) {
    command.waiter->complete(Result{Status::unavailable, {}, "not connected to redis"});
    return;
  }
  if (pending_.empty()) watchdog_timer_.cancel();
  if (command.kind == Pending::Kind::replicated && options_.ack_replicas == 0) command.kind = Pending::Kind::command;
  if (command.kind == Pending::Kind::replicated) unsent_replicated_ = true;
  command.sent = clock::now();
  pending_.push_back(std::move(command));
  outgoing_ += encoded;
  ++unsent_;
  write_signal_.cancel();
}

void Connection::report(bool connected, std::string_view detail) {
  if (reported_ == connected && detail == last_reported_) return;
  reported_ = connected;
  last_reported_ = detail;
  if (!on_state_) return;
  if (connected) on_state_(StateChange{.connected = true, .server = detail, .reason = {}});
  else on_state_(StateChange{.connected = false, .server = {}, .reason = detail});
}

// Commands handed to the socket may have reached Redis: their outcome is unknown; so is that of
// replicated commands that ran but were not confirmed.
void Connection::fail_all(std::string_view reason) {
  for (auto& held : held_) held.command.waiter->complete(Result{Status::unknown, {}, std::string(reason)});
  held_.clear();
  const std::size_t sent = pending_.size() - unsent_;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (!pending_[i].waiter) continue;  // a WAIT
    pending_[i].waiter->complete(Result{i < sent ? Status::unknown : Status::unavailable, {}, std::string(reason)});
  }
  pending_.clear();
  outgoing_.clear();
  unsent_ = 0;
  unsent_replicated_ = false;
}

// --- the life of one connection: find, connect, greet, then reader || writer || watchdog -------

asio::awaitable<void> Connection::run() {
  int attempt = 0;
  while (!stopped_) {
    std::string reason = co_await connect_and_greet();
    if (reason.empty()) {
      attempt = 0;
      up_ = true;
      report(true, server_);
      reason = co_await serve();
      up_ = false;
    }
    fail_all(reason);
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (stopped_) break;
    report(false, reason);
    co_await sleep(backoff(attempt++));
  }
}

std::chrono::milliseconds Connection::backoff(int attempt) const {
  const auto cap = sentinels_.empty() ? options_.max_backoff : std::min(options_.max_backoff, sentinel_backoff_cap);
  auto delay = std::min<std::chrono::milliseconds>(cap, first_backoff * (1LL << std::min(attempt, 10)));
  thread_local std::minstd_rand random{std::random_device{}()};
  // Jitter so that many replicas do not reconnect in lock step.
  return delay + std::chrono::milliseconds(random() % (delay.count() / 4 + 1));
}

asio::awaitable<void> Connection::sleep(std::chrono::milliseconds delay) {
  sleep_timer_.expires_after(delay);
  co_await sleep_timer_.async_wait(use_tuple);
}

// Returns why it failed, or an empty string once the connection is ready for commands.
asio::awaitable<std::string> Connection::connect_and_greet() {
  Address server{options_.host, options_.port};
  if (!sentinels_.empty()) {
    auto found = co_await sentinels_.primary();
    if (auto* why = std::get_if<std::string>(&found)) co_return std::move(*why);
    server = std::get<Address>(std::move(found));
  }
  server_ = server.text();
  co_return co_await within(options_.timeout, establish(std::move(server)),
                            server_ + " did not answer within " + milliseconds_text(options_.timeout));
}

asio::awaitable<std::string> Connection::establish(Address server) {
  if (auto failed = co_await connect(socket_, server); !failed.empty()) co_return failed;
  std::string hello;
  std::size_t count = encode_auth(hello, options_);
  // PING proves the server serves commands (it answers LOADING while it replays its AOF).
  encode_command(hello, {"PING"});
  ++count;
  // ROLE: the address a Sentinel gave may be a primary demoted since.
  if (!sentinels_.empty()) encode_command(hello, {"ROLE"}), ++count;
  std::vector<Reply> replies;
  if (auto failed = co_await exchange(socket_, hello, count, replies); !failed.empty())
    co_return server.text() + ": " + failed;
  if (!sentinels_.empty()) {
    const Reply& role = replies.back();
    if (role.type != Reply::Type::array || role.elements.empty() || role.elements[0].text != "master")
      co_return server.text() +
          " is not the primary (ROLE: " + (role.elements.empty() ? std::string("?") : role.elements[0].text) + ")";
  }
  co_return std::string();
}

// Runs until the connection fails, or the primary moves; returns why.
asio::awaitable<std::string> Connection::serve() {
  std::string reason;
  if (sentinels_.empty()) co_await (reader(reason) || writer(reason) || watchdog(reason));
  else co_await (reader(reason) || writer(reason) || watchdog(reason) || follow(reason));
  co_return reason.empty() ? std::string("connection closed") : reason;
}

asio::awaitable<void> Connection::reader(std::string& reason) {
  // Replies are parsed straight from `chunk` (left uninitialised: zeroing 16 KiB per read cost
  // more than a whole reply); only a reply cut by the end of a read is copied into `carried`.
  auto chunk = std::make_unique_for_overwrite<char[]>(read_chunk);
  std::string carried;
  for (;;) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk.get(), read_chunk), use_tuple);
    if (ec) {
      if (reason.empty()) reason = "connection to redis lost: " + ec.message();
      co_return;
    }
    std::string_view unread(chunk.get(), n);
    if (!carried.empty()) unread = carried.append(unread);
    try {
      while (reason.empty()) {
        const bool skipping = !pending_.empty() && pending_.front().skipped > 0;
        Reply reply;
        auto used = parse_reply(unread, reply, pending_.empty() || skipping ? Parse::generic : pending_.front().parse);
        if (used == 0) break;
        unread.remove_prefix(used);
        reason = deliver(std::move(reply));
      }
    } catch (const ProtocolError& e) {
      reason = e.what();
    }
    if (!reason.empty()) co_return;
    if (carried.empty()) carried.assign(unread);
    else carried.erase(0, carried.size() - unread.size());
  }
}

// Gives one reply to the oldest pending command; returns why the connection must end, if it must.
std::string Connection::deliver(Reply reply) {
  if (pending_.empty()) return "redis sent a reply nobody asked for";
  // MULTI's OK and each QUEUED come before EXEC's reply, which answers (an error among them
  // discards the transaction, and EXEC's reply says so).
  if (pending_.front().skipped > 0) {
    --pending_.front().skipped;
    return {};
  }
  Pending done = std::move(pending_.front());
  pending_.pop_front();
  if (done.kind == Pending::Kind::wait) {
    confirm(reply);
    return {};
  }
  const bool refused = refused_as_not_primary(reply);
  if (done.kind == Pending::Kind::replicated && !refused) {
    held_.push_back({std::move(done), std::move(reply)});
    return {};
  }
  if (on_latency_) on_latency_(done.label, clock::now() - done.sent);
  std::string refusal = refused ? reply.text.substr(0, reply.text.find(' ')) : std::string();
  done.waiter->complete(Result{Status::ok, std::move(reply), {}});
  // Another server is the primary by now, or will be: the Sentinels say which.
  if (refused && !sentinels_.empty()) return server_ + " refused a write (" + refusal + "): asking the sentinels again";
  return {};
}

// WAIT's reply (how many replicas hold every write so far) answers the replicated commands held.
void Connection::confirm(const Reply& wait_reply) {
  const auto wanted = static_cast<std::int64_t>(options_.ack_replicas);
  const bool confirmed = wait_reply.type == Reply::Type::integer && wait_reply.integer >= wanted;
  std::string why;
  if (wait_reply.is_error()) why = "redis refused WAIT: " + wait_reply.text;
  else if (!confirmed)
    why = "no replica confirmed the change within " + milliseconds_text(options_.ack_timeout) + " (" +
          std::to_string(wait_reply.integer) + " of " + std::to_string(wanted) + ")";
  const auto now = clock::now();
  for (auto& held : held_) {
    if (!confirmed) {
      held.command.waiter->complete(Result{Status::unknown, {}, why});
      continue;
    }
    if (on_latency_) on_latency_(held.command.label, now - held.command.sent);
    held.command.waiter->complete(Result{Status::ok, std::move(held.reply), {}});
  }
  held_.clear();
}

// The writer and the watchdog sleep on timers that wake them for work, so they ask `group`
// whether the wake-up was the reader || writer || watchdog group being torn down.
asio::awaitable<void> Connection::writer(std::string& reason) {
  auto group = co_await asio::this_coro::cancellation_state;
  std::string writing;
  for (;;) {
    if (outgoing_.empty()) {
      write_signal_.expires_at(clock::time_point::max());
      co_await write_signal_.async_wait(use_tuple);
      if (group.cancelled() != asio::cancellation_type::none) co_return;
      continue;
    }
    writing.swap(outgoing_);
    unsent_ = 0;
    // One WAIT after the batch confirms every replicated command in it at once.
    if (std::exchange(unsent_replicated_, false)) {
      writing += wait_command_;
      pending_.push_back({.kind = Pending::Kind::wait, .label = "wait", .sent = clock::now(), .waiter = {}});
    }
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(writing), use_tuple);
    if (ec) {
      if (reason.empty()) reason = "cannot write to redis: " + ec.message();
      co_return;
    }
    writing.clear();
  }
}

// Ends the connection when the Sentinels name another primary than the server it goes to.
asio::awaitable<void> Connection::follow(std::string& reason) {
  auto group = co_await asio::this_coro::cancellation_state;
  asio::steady_timer timer(strand_);
  for (;;) {
    timer.expires_after(follow_interval);
    co_await timer.async_wait(use_tuple);
    if (group.cancelled() != asio::cancellation_type::none) co_return;
    auto found = co_await sentinels_.primary();
    if (group.cancelled() != asio::cancellation_type::none) co_return;
    if (const auto* primary = std::get_if<Address>(&found); primary && primary->text() != server_) {
      if (reason.empty()) reason = "the sentinels name " + primary->text() + " as the primary now";
      co_return;
    }
  }
}

// Redis answers in order, so when the oldest command is late the connection is stalled.
asio::awaitable<void> Connection::watchdog(std::string& reason) {
  auto group = co_await asio::this_coro::cancellation_state;
  for (;;) {
    watchdog_timer_.expires_at(pending_.empty() ? clock::time_point::max() : pending_.front().sent + options_.timeout);
    co_await watchdog_timer_.async_wait(use_tuple);
    if (group.cancelled() != asio::cancellation_type::none) co_return;
    if (!pending_.empty() && clock::now() - pending_.front().sent >= options_.timeout) {
      reason = "redis did not answer within " + milliseconds_text(options_.timeout);
      co_return;
    }
  }
}

}  // namespace waitline::redis::detail
