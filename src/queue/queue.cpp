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

// Every script answers {status, ...} with status 0 done, 1 replayed (the outcome recorded for
// the idempotency key), 2 queue full, 3 idempotency key of the other operation. A record is
// "take:<ticket>:<waiting>" or "call:<ticket or empty>:<waiting>". Numbers are written with
// string.format('%d'): Lua's own formatting would write 1e+14 for large numbers, and the list
// holds the decimal text the original stored.
constexpr std::int64_t done = 0, replayed = 1, full = 2, key_reused = 3;

// KEYS[1] counter, KEYS[2] list, KEYS[3] idempotency record (optional); ARGV[1] maximum length
// (0: none), ARGV[2] record TTL in seconds. INCR + LPUSH (whose answer is the new length) in one
// step; a full queue stores nothing.
const Script take_script{"take", R"lua(
if KEYS[3] then
  local record = redis.call('GET', KEYS[3])
  if record then
    local kind, ticket, waiting = string.match(record, '^(%a+):(%d+):(%d+)$')
    if kind ~= 'take' then return {3, 0, 0} end
    return {1, tonumber(ticket), tonumber(waiting)}
  end
end
local max = tonumber(ARGV[1])
if max > 0 then
  local waiting = redis.call('LLEN', KEYS[2])
  if waiting >= max then return {2, 0, waiting} end
end
local n = redis.call('INCR', KEYS[1])
local waiting = redis.call('LPUSH', KEYS[2], string.format('%d', n))
if KEYS[3] then
  redis.call('SET', KEYS[3], string.format('take:%d:%d', n, waiting), 'EX', ARGV[2])
end
return {0, n, waiting}
)lua"};

// KEYS[1] list, KEYS[2] last called, KEYS[3] idempotency record (optional); ARGV[1] record TTL
// in seconds. The oldest ticket is at the tail; it comes last in the answer, as Lua drops a
// trailing nil (an empty queue).
const Script call_script{"call", R"lua(
if KEYS[3] then
  local record = redis.call('GET', KEYS[3])
  if record then
    local kind, ticket, waiting = string.match(record, '^(%a+):([^:]*):(%d+)$')
    if kind ~= 'call' then return {3, 0} end
    if ticket == '' then return {1, tonumber(waiting)} end
    return {1, tonumber(waiting), ticket}
  end
end
local t = redis.call('RPOP', KEYS[1])
local waiting = redis.call('LLEN', KEYS[1])
if t then redis.call('SET', KEYS[2], t) end
if KEYS[3] then
  redis.call('SET', KEYS[3], 'call:' .. (t or '') .. ':' .. string.format('%d', waiting), 'EX', ARGV[1])
end
if t then return {0, waiting, t} end
return {0, waiting}
)lua"};

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

std::string decimal_text(std::int64_t n) { return std::to_string(n); }

// What Redis's answer means. `sent_unanswered`: the failure of a command that may have run
// (unknown for a change; for a read, nothing changed: unavailable).
Outcome<Reply> outcome_of(redis::Result&& result, Failure sent_unanswered) {
  if (result.status == redis::Status::unknown) return {sent_unanswered, std::move(result.detail), {}};
  if (result.status != redis::Status::ok) return {Failure::unavailable, std::move(result.detail), {}};
  if (result.reply.is_error()) {
    auto failure = is_transient(result.reply.text) ? Failure::unavailable : Failure::internal;
    return {failure, "redis: " + result.reply.text, {}};
  }
  return {Failure::none, {}, std::move(result.reply)};
}

}  // namespace

TicketQueue::TicketQueue(redis::Client& client, std::string name, Options options, Observer& observer)
    : client_(client),
      name_(std::move(name)),
      counter_key_("ticket_number_" + name_),
      list_key_("queue_" + name_),
      last_called_key_("last_called_" + name_),
      idempotency_prefix_("idempotency_" + name_ + ":"),
      ttl_seconds_(decimal_text(std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::seconds>(options.idempotency_ttl).count()))),
      max_length_(decimal_text(options.max_length)),
      observer_(observer) {}

// `exec(verb, code)` sends the script by its SHA1 (EVALSHA) or in full (EVAL) with its keys and
// arguments.
template <class Exec>
asio::awaitable<Outcome<Reply>> TicketQueue::run(const Script& script, Exec exec) {
  auto result = co_await exec("EVALSHA", script.sha1);
  // A restarted or flushed Redis has forgotten the script: send it once in full.
  if (result.status == redis::Status::ok && result.reply.is_error() && result.reply.text.starts_with("NOSCRIPT"))
    result = co_await exec("EVAL", script.body);
  co_return outcome_of(std::move(result), Failure::unknown);
}

// The script's status, when the reply is an array that starts with a known one.
std::optional<std::int64_t> status_of(const Reply& r) {
  if (r.type != Reply::Type::array || r.elements.empty() || r.elements[0].type != Reply::Type::integer) return std::nullopt;
  auto status = r.elements[0].integer;
  if (status < done || status > key_reused) return std::nullopt;
  return status;
}

template <class T>
Outcome<T> refused(std::int64_t status) {
  return status == full ? Outcome<T>{Failure::full, "the queue is full", {}}
                        : Outcome<T>{Failure::key_reused, "the idempotency key belongs to the other operation", {}};
}

asio::awaitable<Outcome<Taken>> TicketQueue::take(std::string_view idempotency_key) {
  const std::string record = idempotency_key.empty() ? std::string() : idempotency_prefix_ + std::string(idempotency_key);
  auto r = co_await run(take_script, [&](std::string_view verb, std::string_view code) {
    return record.empty()
               ? client_.exec(take_script.label, {verb, code, "2", counter_key_, list_key_, max_length_, ttl_seconds_})
               : client_.exec(take_script.label, {verb, code, "3", counter_key_, list_key_, record, max_length_, ttl_seconds_});
  });
  if (!r) co_return carry<Taken>(std::move(r));
  const auto status = status_of(r.value);
  const auto& e = r.value.elements;
  if (!status || e.size() != 3 || !to_int(e[1]) || !to_int(e[2])) co_return malformed<Taken>("take");
  if (*status == full || *status == key_reused) {
    if (*status == full) {
      observer_.refused_full();
      observer_.waiting(*to_int(e[2]));
    }
    co_return refused<Taken>(*status);
  }
  Taken taken{*to_int(e[1]), *to_int(e[2]), *status == replayed};
  if (!taken.replayed) {
    observer_.issued();
    observer_.waiting(taken.waiting);
  }
  co_return Outcome<Taken>{Failure::none, {}, taken};
}

asio::awaitable<Outcome<Called>> TicketQueue::call(std::string_view idempotency_key) {
  const std::string record = idempotency_key.empty() ? std::string() : idempotency_prefix_ + std::string(idempotency_key);
  auto r = co_await run(call_script, [&](std::string_view verb, std::string_view code) {
    return record.empty() ? client_.exec(call_script.label, {verb, code, "2", list_key_, last_called_key_, ttl_seconds_})
                          : client_.exec(call_script.label, {verb, code, "3", list_key_, last_called_key_, record, ttl_seconds_});
  });
  if (!r) co_return carry<Called>(std::move(r));
  const auto status = status_of(r.value);
  const auto& e = r.value.elements;
  if (status == key_reused) co_return refused<Called>(*status);
  if (!status || *status == full || e.size() < 2 || e.size() > 3 || !to_int(e[1]) || *to_int(e[1]) < 0)
    co_return malformed<Called>("call");
  Called called;
  called.waiting = *to_int(e[1]);
  called.replayed = *status == replayed;
  if (e.size() == 3) {
    auto t = to_int(e[2]);
    if (!t) co_return malformed<Called>("call (a ticket that is not a number: " + e[2].text + ")");
    called.ticket = *t;
  }
  if (!called.replayed) {
    if (called.ticket) observer_.called();
    observer_.waiting(called.waiting);
  }
  co_return Outcome<Called>{Failure::none, {}, called};
}

asio::awaitable<Outcome<Listing>> TicketQueue::list(std::int64_t limit) {
  // A transaction, not a script: the count and the tickets are read at one instant all the same,
  // and Redis serves LRANGE's reply as it stands, where a script makes a Lua table of it and back
  // (a third of the cost, and of Redis's time for a list). LRANGE -n -1 gives the n oldest,
  // newest first, as decimal strings that the reply parser reads straight into integers.
  // A limit of 0 reads no ticket: LRANGE 1 0 is empty ("-0" would be the whole list).
  char digits[24] = {'-'};
  auto [end, ec] = std::to_chars(digits + 1, digits + sizeof digits, limit);
  const std::string_view from = limit > 0 ? std::string_view(digits, static_cast<std::size_t>(end - digits)) : "1";
  const std::string_view to = limit > 0 ? "-1" : "0";
  auto r = outcome_of(co_await [&] {
    return client_.exec_transaction("list", {{"LLEN", list_key_}, {"LRANGE", list_key_, from, to}},
                                    redis::Parse::integer_arrays);
  }(), Failure::unavailable);
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

asio::awaitable<Outcome<std::optional<std::int64_t>>> TicketQueue::last_called() {
  using Last = std::optional<std::int64_t>;
  auto r = co_await [this] { return client_.exec("last_called", {"GET", last_called_key_}); }();
  // A read: whether or not it reached Redis, nothing changed.
  if (r.status != redis::Status::ok) co_return Outcome<Last>{Failure::unavailable, std::move(r.detail), {}};
  if (r.reply.type == Reply::Type::nil) co_return Outcome<Last>{Failure::none, {}, std::nullopt};
  auto ticket = to_int(r.reply);
  if (!ticket) co_return malformed<Last>("GET " + last_called_key_);
  co_return Outcome<Last>{Failure::none, {}, *ticket};
}

}  // namespace waitline::queue
