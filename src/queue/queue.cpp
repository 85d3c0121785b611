#include "queue/queue.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

namespace waitline::queue {
namespace asio = boost::asio;
using redis::Reply;

namespace detail {
struct Script {
  std::string_view label;  // the command label in metrics
  std::string_view body;
  redis::Parse parse;      // how its reply is read
  std::string sha1;        // EVALSHA sends this instead of the body

  Script(std::string_view l, std::string_view b, redis::Parse p = redis::Parse::generic) : label(l), body(b), parse(p) {
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(b.data()), b.size(), digest.data());
    static constexpr char hex[] = "0123456789abcdef";
    for (auto byte : digest) {
      sha1.push_back(hex[byte >> 4]);
      sha1.push_back(hex[byte & 0xf]);
    }
  }
};
}  // namespace detail

namespace {
using detail::Script;

// KEYS[1] counter, KEYS[2] list. LPUSH answers the new length, so this is INCR + LPUSH + LLEN in
// one step. The number is pushed as the decimal text the original stored (Lua's own number
// formatting would write 1e+14 for large numbers).
const Script take_script{"take", R"lua(
local n = redis.call('INCR', KEYS[1])
return {n, redis.call('LPUSH', KEYS[2], string.format('%d', n))}
)lua"};

// KEYS[1] list. The oldest ticket is at the tail.
const Script call_script{"call", R"lua(
local t = redis.call('RPOP', KEYS[1])
return {t, redis.call('LLEN', KEYS[1])}
)lua"};

// KEYS[1] list, ARGV[1] how many of the oldest tickets. LRANGE -n -1 gives them newest first,
// as decimal strings that the reply parser reads straight into integers.
const Script list_script{"list", R"lua(
local n = tonumber(ARGV[1])
local waiting = redis.call('LLEN', KEYS[1])
if n <= 0 then return {waiting, {}} end
return {waiting, redis.call('LRANGE', KEYS[1], -n, -1)}
)lua", redis::Parse::integer_arrays};

// Redis error replies that mean "not now" rather than "never".
bool is_transient(std::string_view error) {
  for (std::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN", "NOAUTH", "NOPERM"})
    if (error.starts_with(prefix)) return true;
  return false;
}

std::optional<std::int64_t> to_int(const Reply& r) {
  if (r.type == Reply::Type::integer) return r.integer;
  if (r.type != Reply::Type::bulk) return std::nullopt;
  return redis::decimal(r.text);
}

template <class T>
Outcome<T> malformed(std::string_view what) {
  return {Failure::internal, "unexpected reply from redis to " + std::string(what), {}};
}

template <class T, class U>
Outcome<T> carry(Outcome<U>&& failed) {
  return {failed.failure, std::move(failed.detail), {}};
}

}  // namespace

TicketQueue::TicketQueue(redis::Client& client, std::string name, Observer& observer)
    : client_(client),
      name_(std::move(name)),
      counter_key_("ticket_number_" + name_),
      list_key_("queue_" + name_),
      observer_(observer) {}

asio::awaitable<Outcome<Reply>> TicketQueue::run(const Script& script, std::string_view arg) {
  const bool two_keys = &script == &take_script;
  auto exec = [&](std::string_view verb, std::string_view code) {
    return two_keys ? client_.exec(script.label, {verb, code, "2", counter_key_, list_key_}, script.parse)
                    : arg.empty() ? client_.exec(script.label, {verb, code, "1", list_key_}, script.parse)
                                  : client_.exec(script.label, {verb, code, "1", list_key_, arg}, script.parse);
  };
  auto result = co_await exec("EVALSHA", script.sha1);
  // A restarted or flushed Redis has forgotten the script: send it once in full.
  if (result.status == redis::Status::ok && result.reply.is_error() && result.reply.text.starts_with("NOSCRIPT"))
    result = co_await exec("EVAL", script.body);
  if (result.status != redis::Status::ok) co_return Outcome<Reply>{Failure::unavailable, std::move(result.detail), {}};
  if (result.reply.is_error()) {
    auto failure = is_transient(result.reply.text) ? Failure::unavailable : Failure::internal;
    co_return Outcome<Reply>{failure, "redis: " + result.reply.text, {}};
  }
  co_return Outcome<Reply>{Failure::none, {}, std::move(result.reply)};
}

asio::awaitable<Outcome<Taken>> TicketQueue::take() {
  auto r = co_await run(take_script);
  if (!r) co_return carry<Taken>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.size() != 2 || !to_int(e[0]) || !to_int(e[1]))
    co_return malformed<Taken>("take");
  Taken taken{*to_int(e[0]), *to_int(e[1])};
  observer_.issued();
  observer_.waiting(taken.waiting);
  co_return Outcome<Taken>{Failure::none, {}, taken};
}

asio::awaitable<Outcome<Called>> TicketQueue::call() {
  auto r = co_await run(call_script);
  if (!r) co_return carry<Called>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.empty() || e.size() > 2) co_return malformed<Called>("call");
  // Lua drops a trailing nil, and `false` becomes nil: {nil, 0} may arrive as a 2-array or {nil}.
  Called called;
  called.waiting = e.size() == 2 ? to_int(e[1]).value_or(-1) : 0;
  if (e.size() == 2 && e[0].type == Reply::Type::nil) {
    // empty queue
  } else if (auto t = to_int(e[0])) {
    called.ticket = *t;
  } else if (e[0].type != Reply::Type::nil) {
    co_return malformed<Called>("call (a ticket that is not a number: " + e[0].text + ")");
  }
  if (called.waiting < 0) co_return malformed<Called>("call");
  if (called.ticket) observer_.called();
  observer_.waiting(called.waiting);
  co_return Outcome<Called>{Failure::none, {}, called};
}

asio::awaitable<Outcome<Listing>> TicketQueue::list(std::int64_t limit) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, limit);
  auto r = co_await run(list_script, std::string_view(digits, static_cast<std::size_t>(end - digits)));
  if (!r) co_return carry<Listing>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.size() != 2 || !to_int(e[0]))
    co_return malformed<Listing>("list");
  // The parser made an array of numbers `integers`; an `array` holds something that is not one.
  if (e[1].type == Reply::Type::array) {
    auto foreign = std::ranges::find_if(e[1].elements, [](const Reply& t) { return !to_int(t); });
    co_return malformed<Listing>("list (a ticket that is not a number: " +
                                 (foreign == e[1].elements.end() ? std::string() : foreign->text) + ")");
  }
  if (e[1].type != Reply::Type::integers) co_return malformed<Listing>("list");
  Listing listing{*to_int(e[0]), std::vector<std::int64_t>(e[1].integers.rbegin(), e[1].integers.rend())};
  observer_.waiting(listing.waiting);
  co_return Outcome<Listing>{Failure::none, {}, std::move(listing)};
}

asio::awaitable<Outcome<std::int64_t>> TicketQueue::size() {
  // The command is built outside the coroutine body: g++ 12 mishandles braced lists inside one.
  auto r = co_await [this] { return client_.exec("llen", {"LLEN", list_key_}); }();
  if (r.status != redis::Status::ok) co_return Outcome<std::int64_t>{Failure::unavailable, std::move(r.detail), 0};
  if (r.reply.type != Reply::Type::integer) co_return malformed<std::int64_t>("LLEN");
  observer_.waiting(r.reply.integer);
  co_return Outcome<std::int64_t>{Failure::none, {}, r.reply.integer};
}

}  // namespace waitline::queue
