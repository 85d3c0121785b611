#include "queue/queue.hpp"

#include <openssl/sha.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <array>
#include <charconv>
#include <ranges>
#include <string_view>

namespace waitline::queue {
namespace asio = boost::asio;
using redis::Reply;

namespace detail {
struct Script {
  std::string_view label;  // the command label in metrics
  std::string body;
  redis::Parse parse;  // how its reply is read
  std::string sha1;    // EVALSHA sends this instead of the body

  Script(std::string_view l, std::string b, redis::Parse p = redis::Parse::generic)
      : label(l), body(std::move(b)), parse(p) {
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest.data());
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
// the idempotency key), 2 queue full, 3 idempotency key of another operation, 4 nothing to
// recall. A record is "take:<ticket>:<waiting>:<pace>:<last call>:<ms>", "call:<ticket or empty>:
// <waiting>:<counter>" or "recall:<ticket>:<waiting>:<counter>" (records written before estimates
// and counters existed have only ticket and waiting). Numbers are written with string.format('%d'): Lua's own
// formatting would write 1e+14 for large numbers, and the list holds the decimal text the
// original stored.
constexpr std::int64_t done = 0, replayed = 1, full = 2, key_reused = 3, nothing_to_recall = 4;

// Redis's clock, in the scripts that need it.
constexpr std::string_view lua_now = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
)lua";

// KEYS[1] counter, KEYS[2] list, KEYS[3] taken_at, KEYS[4] pace, KEYS[5] stream, KEYS[6]
// idempotency record (optional); ARGV[1] maximum length (0: none), ARGV[2] record TTL in seconds,
// ARGV[3] stream retention. INCR + LPUSH (whose answer is the new length) + the event in one step;
// a full queue stores nothing. Answers {status, ticket, waiting, pace, last call, now}: what the
// estimate given to the ticket is made of, kept with it in taken_at ("<now>:<ahead>:<pace>:<last
// call>") for its call to measure.
const Script take_script{"take", std::string(lua_now) + R"lua(
if KEYS[6] then
  local record = redis.call('GET', KEYS[6])
  if record then
    local ticket, waiting, p, last, at = string.match(record, '^take:(%d+):(%d+):(-?%d+):(-?%d+):(%d+)$')
    if ticket then return {1, tonumber(ticket), tonumber(waiting), tonumber(p), tonumber(last), tonumber(at)} end
    local kind, t, w = string.match(record, '^(%a+):(%d+):(%d+)')
    if kind ~= 'take' then return {3, 0, 0, -1, -1, 0} end
    return {1, tonumber(t), tonumber(w), -1, -1, 0}
  end
end
local max = tonumber(ARGV[1])
if max > 0 then
  local waiting = redis.call('LLEN', KEYS[2])
  if waiting >= max then return {2, 0, waiting, -1, -1, 0} end
end
local now = now_ms()
local n = redis.call('INCR', KEYS[1])
local waiting = redis.call('LPUSH', KEYS[2], string.format('%d', n))
local p, last = string.match(redis.call('GET', KEYS[4]) or '', '^(-?%d+):(%d+)$')
p, last = tonumber(p) or -1, tonumber(last) or -1
redis.call('LPUSH', KEYS[3], string.format('%d:%d:%d:%d', now, waiting - 1, p, last))
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'type', 'taken', 'ticket', string.format('%d', n),
           'waiting', string.format('%d', waiting))
if KEYS[6] then
  redis.call('SET', KEYS[6], string.format('take:%d:%d:%d:%d:%d', n, waiting, p, last, now), 'EX', ARGV[2])
end
return {0, n, waiting, p, last, now}
)lua"};

// KEYS[1] list, KEYS[2] last called, KEYS[3] taken_at, KEYS[4] recent calls, KEYS[5] stream,
// KEYS[6] counters, KEYS[7] called, KEYS[8] pace, KEYS[9] idempotency record (optional); ARGV[1]
// record TTL in seconds, ARGV[2] retention, ARGV[3] counter (empty: none). Answers {status,
// waiting, waited ms, ahead, pace and time since the last call at the ticket's take (-1:
// unknown), counter, ticket}; the ticket comes last, as Lua drops a trailing nil (an empty
// queue).
// The queue's pace is the mean interval between its last calls (at most 10, all within the hour
// before this one, from the recent calls list; -1 with fewer than two): each call works it out
// once and keeps it with its own time in KEYS[8] ("<pace>:<ms>"), where a take and a ticket's
// status read it; the event carries it too, so that a ticket's stream estimates without Redis.
// The estimate made of it is estimate_wait() (queue.hpp), in the service.
// taken_at mirrors the newest tickets of the list: a ticket taken before this service (or by
// the original application) has no entry, and the entries are popped only while the lists have
// the same length. More entries than tickets is foreign data: trimmed to the list.
const Script call_script{"call", std::string(lua_now) + R"lua(
local function pace(calls_key, now)
  -- A queue called ten times within the hour, the common case: its tenth newest call is enough.
  local tenth = tonumber(string.match(redis.call('LINDEX', calls_key, 9) or '', '^(%d+):'))
  if tenth and now - tenth <= 3600000 then return math.floor((now - tenth) / 9 + 0.5) end
  local newest, oldest, k = nil, nil, 0
  for _, c in ipairs(redis.call('LRANGE', calls_key, 0, 9)) do
    local at = tonumber(string.match(c, '^(%d+):'))
    if not at or now - at > 3600000 then break end
    newest = newest or at
    oldest = at
    k = k + 1
  end
  if k < 2 then return -1 end
  return math.floor((newest - oldest) / (k - 1) + 0.5)
end
if KEYS[9] then
  local record = redis.call('GET', KEYS[9])
  if record then
    local kind, ticket, waiting, counter = string.match(record, '^(%a+):([^:]*):(%d+):?(.*)$')
    if kind ~= 'call' then return {3, 0, -1, -1, -1, -1, ''} end
    if ticket == '' then return {1, tonumber(waiting), -1, -1, -1, -1, counter} end
    return {1, tonumber(waiting), -1, -1, -1, -1, counter, ticket}
  end
end
local len = redis.call('LLEN', KEYS[1])
local timed = redis.call('LLEN', KEYS[3])
if timed > len then
  if len == 0 then redis.call('DEL', KEYS[3]) else redis.call('LTRIM', KEYS[3], 0, len - 1) end
  timed = len
end
local t = redis.call('RPOP', KEYS[1])
local waiting = t and len - 1 or 0
local waited, ahead, p, since = -1, -1, -1, -1
local c = ARGV[3]
if t then
  local now = now_ms()
  if timed == len then
    local at, a, tp, last = string.match(redis.call('RPOP', KEYS[3]) or '', '^(%d+):(%d+):(-?%d+):(-?%d+)$')
    if at then
      waited, ahead, p = now - tonumber(at), tonumber(a), tonumber(tp)
      if tonumber(last) >= 0 then since = tonumber(at) - tonumber(last) end
    end
  end
  redis.call('SET', KEYS[2], t)
  redis.call('HSET', KEYS[7], t, string.format('%d:', now) .. c)
  local n = tonumber(t)
  if n and n > tonumber(ARGV[2]) then redis.call('HDEL', KEYS[7], string.format('%d', n - tonumber(ARGV[2]))) end
  if c ~= '' then redis.call('HSET', KEYS[6], c, t) end
  -- Trimmed back to 10 once it holds 20: the readers need the newest 10, and a trim every tenth
  -- call costs a tenth of one at each.
  if redis.call('LPUSH', KEYS[4], string.format('%d:', now) .. t .. ':' .. c) > 20 then
    redis.call('LTRIM', KEYS[4], 0, 9)
  end
  local p = pace(KEYS[4], now)
  redis.call('SET', KEYS[8], string.format('%d:%d', p, now))
  local fields = {'type', 'called', 'ticket', t, 'waiting', string.format('%d', waiting), 'pace', string.format('%d', p)}
  if c ~= '' then
    table.insert(fields, 'counter')
    table.insert(fields, c)
  end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
end
if KEYS[9] then
  redis.call('SET', KEYS[9], 'call:' .. (t or '') .. ':' .. string.format('%d', waiting) .. ':' .. c, 'EX', ARGV[1])
end
if t then return {0, waiting, waited, ahead, p, since, c, t} end
return {0, waiting, -1, -1, -1, -1, c}
)lua"};

// KEYS[1] counters, KEYS[2] last called, KEYS[3] called, KEYS[4] list, KEYS[5] stream,
// KEYS[6] idempotency record (optional); ARGV[1] record TTL in seconds, ARGV[2] retention,
// ARGV[3] counter (empty: the queue's last call, at the counter it was called to). Answers
// {status, waiting, counter, ticket}.
const Script recall_script{"recall", R"lua(
if KEYS[6] then
  local record = redis.call('GET', KEYS[6])
  if record then
    local kind, ticket, waiting, counter = string.match(record, '^(%a+):(%d+):(%d+):(.*)$')
    if kind ~= 'recall' then return {3, 0, ''} end
    return {1, tonumber(waiting), counter, ticket}
  end
end
local c = ARGV[3]
local t
if c ~= '' then
  t = redis.call('HGET', KEYS[1], c)
else
  t = redis.call('GET', KEYS[2])
  if t then c = string.match(redis.call('HGET', KEYS[3], t) or '', '^%d+:(.*)$') or '' end
end
if not t then return {4, 0, ''} end
local waiting = redis.call('LLEN', KEYS[4])
if c ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'type', 'recalled', 'ticket', t,
             'waiting', string.format('%d', waiting), 'counter', c)
else
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'type', 'recalled', 'ticket', t,
             'waiting', string.format('%d', waiting))
end
if KEYS[6] then
  redis.call('SET', KEYS[6], 'recall:' .. t .. ':' .. string.format('%d', waiting) .. ':' .. c, 'EX', ARGV[1])
end
return {0, waiting, c, t}
)lua"};

// KEYS[1] stream; ARGV[1] after, ARGV[2] count. Answers {complete, entries...}: the events after
// ARGV[1], and 0 for `complete` when some of them may have been trimmed: the id is older than the
// stream's first entry and the stream was trimmed (entries-added > length), or it has vanished.
const Script events_after_script{"events_after", R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {ARGV[1] == '0-0' and 1 or 0} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local fields = {}
for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local ams, aseq = parts(ARGV[1])
local fms, fseq = parts(fields['recorded-first-entry-id'])
local complete = fields['entries-added'] == fields['length'] or ams > fms or (ams == fms and aseq >= fseq)
local reply = {complete and 1 or 0}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])) do
  table.insert(reply, entry)
end
return reply
)lua"};

// Redis error replies that mean "not now" rather than "never".
bool is_transient(std::string_view error) {
  constexpr std::string_view transient[] = {"LOADING", "BUSY",     "MASTERDOWN", "READONLY", "NOREPLICAS",
                                            "OOM",     "TRYAGAIN", "NOAUTH",     "NOPERM"};
  return std::ranges::any_of(transient, [&](std::string_view prefix) { return error.starts_with(prefix); });
}

std::optional<std::int64_t> to_int(const Reply& r) {
  if (r.type == Reply::Type::integer) return r.integer;
  if (r.type != Reply::Type::bulk) return std::nullopt;
  return redis::decimal(r.text);
}

constexpr auto not_a_number = [](const Reply& r) { return !to_int(r); };

// How the changes (take, call, recall) are sent: answered once a replica holds them, when the
// client is set to wait for replicas (redis::Options::ack_replicas).
constexpr auto generic = redis::Parse::generic;
constexpr auto replicated = redis::Ack::replicated;

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

// A stream entry as XRANGE and XREAD give it: [id, [field, value, ...]].
std::optional<Event> event_of(const Reply& entry) {
  if (entry.type != Reply::Type::array || entry.elements.size() != 2 || entry.elements[0].type != Reply::Type::bulk ||
      entry.elements[1].type != Reply::Type::array)
    return std::nullopt;
  auto id = EventId::parse(entry.elements[0].text);
  if (!id) return std::nullopt;
  Event event{*id, EventType::taken, 0, 0, {}};
  bool typed = false, ticketed = false;
  const auto& f = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    const std::string_view field = f[i].text, value = f[i + 1].text;
    if (field == "type") {
      for (auto type : {EventType::taken, EventType::called, EventType::recalled}) {
        if (value == name(type)) event.type = type, typed = true;
      }
    } else if (field == "ticket") {
      auto n = redis::decimal(value);
      if (n) event.ticket = *n, ticketed = true;
    } else if (field == "waiting") {
      event.waiting = redis::decimal(value).value_or(0);
    } else if (field == "counter") {
      event.counter = value;
    } else if (field == "pace") {
      event.pace_ms = redis::decimal(value).value_or(-1);
    }
  }
  if (!typed || !ticketed) return std::nullopt;
  return event;
}

// Entries [first, end) of an array of stream entries; nullopt when one cannot be read.
std::optional<std::vector<Event>> events_of(const std::vector<Reply>& entries, std::size_t first) {
  std::vector<Event> events;
  for (std::size_t i = first; i < entries.size(); ++i) {
    auto event = event_of(entries[i]);
    if (!event) return std::nullopt;
    events.push_back(std::move(*event));
  }
  return events;
}

// A recent call as the scripts write it: "<ms>:<ticket>:<counter>".
std::optional<Call> call_of(std::string_view text) {
  auto first = text.find(':');
  auto second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto at = redis::decimal(text.substr(0, first));
  auto ticket = redis::decimal(text.substr(first + 1, second - first - 1));
  if (!at || !ticket) return std::nullopt;
  return Call{*ticket, std::string(text.substr(second + 1)), *at};
}

}  // namespace

std::optional<EventId> EventId::parse(std::string_view text) noexcept {
  auto dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) return std::nullopt;
  EventId id;
  // As Redis writes them: decimal, no sign, no leading zero; so an id has one spelling.
  auto digits = [](std::string_view part, std::uint64_t& out) {
    if (part.size() > 1 && part.front() == '0') return false;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && end == part.data() + part.size() &&
           part.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits(text.substr(0, dash), id.ms) || !digits(text.substr(dash + 1), id.seq)) return std::nullopt;
  return id;
}

std::string EventId::text() const { return std::to_string(ms) + "-" + std::to_string(seq); }

std::string_view name(EventType type) noexcept {
  switch (type) {
    case EventType::taken: return "taken";
    case EventType::called: return "called";
    case EventType::recalled: return "recalled";
  }
  return "taken";
}

std::string_view name(TicketState state) noexcept {
  switch (state) {
    case TicketState::waiting: return "waiting";
    case TicketState::called: return "called";
    case TicketState::gone: return "gone";
  }
  return "gone";
}

std::optional<std::int64_t> estimate_wait(std::int64_t ahead, std::int64_t pace_ms,
                                          std::int64_t since_last_call_ms) noexcept {
  // A pace is that of the calls before the last one: an hour without a call, and it says nothing.
  constexpr std::int64_t hour = 3'600'000;
  if (pace_ms < 0 || ahead < 0 || since_last_call_ms > hour) return std::nullopt;
  const std::int64_t remaining = std::max<std::int64_t>(0, pace_ms - std::max<std::int64_t>(0, since_last_call_ms));
  return (ahead * pace_ms + remaining + 500) / 1000;
}

bool is_counter_name(std::string_view text) noexcept {
  return !text.empty() && text.size() <= max_counter_name &&
         text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
             std::string_view::npos;
}

TicketQueue::TicketQueue(redis::Client& client, std::string name, Options options, Observer& observer)
    : client_(client),
      name_(std::move(name)),
      counter_key_("ticket_number_" + name_),
      list_key_("queue_" + name_),
      last_called_key_("last_called_" + name_),
      idempotency_prefix_("idempotency_" + name_ + ":"),
      events_key_("events_" + name_),
      taken_at_key_("taken_at_" + name_),
      recent_calls_key_("recent_calls_" + name_),
      called_key_("called_" + name_),
      counters_key_("counters_" + name_),
      pace_key_("pace_" + name_),
      ttl_seconds_(decimal_text(
          std::max<std::int64_t>(1,
                                 std::chrono::duration_cast<std::chrono::seconds>(options.idempotency_ttl).count()))),
      max_length_(decimal_text(options.max_length)),
      retention_(decimal_text(options.events_retention)),
      observer_(observer) {}

// `exec(verb, code)` sends the script by its SHA1 (EVALSHA) or in full (EVAL) with its keys and
// arguments.
template <class Exec>
asio::awaitable<Outcome<Reply>> TicketQueue::run(const Script& script, Exec exec, Failure sent_unanswered) {
  auto result = co_await exec("EVALSHA", script.sha1);
  // A restarted or flushed Redis has forgotten the script: send it once in full.
  if (result.status == redis::Status::ok && result.reply.is_error() && result.reply.text.starts_with("NOSCRIPT"))
    result = co_await exec("EVAL", script.body);
  co_return outcome_of(std::move(result), sent_unanswered);
}

asio::awaitable<Outcome<Reply>> TicketQueue::change(const Script& script, std::initializer_list<std::string_view> keys,
                                                    std::string_view idempotency_key,
                                                    std::initializer_list<std::string_view> args) {
  // EVALSHA <sha> <key count> <keys> [<record>] <args>: send_change() fills in the first three and
  // the record, whose text it owns.
  std::vector<std::string_view> command(3);
  command.insert(command.end(), keys);
  if (!idempotency_key.empty()) command.emplace_back();
  command.insert(command.end(), args);
  return send_change(script, std::move(command), keys.size(),
                     idempotency_key.empty() ? std::string() : idempotency_prefix_ + std::string(idempotency_key));
}

asio::awaitable<Outcome<Reply>> TicketQueue::send_change(const Script& script, std::vector<std::string_view> command,
                                                         std::size_t keys, std::string record) {
  const std::string key_count = decimal_text(static_cast<std::int64_t>(keys + (record.empty() ? 0 : 1)));
  command[2] = key_count;
  if (!record.empty()) command[3 + keys] = record;
  co_return co_await run(
      script,
      [&](std::string_view verb, std::string_view code) {
        command[0] = verb;
        command[1] = code;
        return client_.exec(script.label, command, generic, replicated);
      },
      Failure::unknown);
}

// The script's status, when the reply is an array that starts with a known one.
std::optional<std::int64_t> status_of(const Reply& r) {
  if (r.type != Reply::Type::array || r.elements.empty() || r.elements[0].type != Reply::Type::integer)
    return std::nullopt;
  auto status = r.elements[0].integer;
  if (status < done || status > nothing_to_recall) return std::nullopt;
  return status;
}

// The outcome of a script that declined the change (its status says why): nothing was changed.
template <class T>
Outcome<T> declined(std::int64_t status) {
  switch (status) {
    case full: return {Failure::full, "the queue is full", {}};
    case nothing_to_recall: return {Failure::nothing_to_recall, "no ticket to recall", {}};
    default: return {Failure::key_reused, "the idempotency key belongs to another operation", {}};
  }
}

asio::awaitable<Outcome<Taken>> TicketQueue::take(std::string_view idempotency_key) {
  auto r = co_await [&] {
    return change(take_script, {counter_key_, list_key_, taken_at_key_, pace_key_, events_key_}, idempotency_key,
                  {max_length_, ttl_seconds_, retention_});
  }();
  if (!r) co_return carry<Taken>(std::move(r));
  const auto status = status_of(r.value);
  const auto& e = r.value.elements;
  if (!status || e.size() != 6 || std::ranges::any_of(e, not_a_number)) co_return malformed<Taken>("take");
  if (*status == full || *status == key_reused) {
    if (*status == full) {
      observer_.refused_full();
      observer_.waiting(*to_int(e[2]));
    }
    co_return declined<Taken>(*status);
  }
  const std::int64_t pace = *to_int(e[3]), last = *to_int(e[4]), at = *to_int(e[5]);
  Taken taken{*to_int(e[1]), *to_int(e[2]), std::nullopt, *status == replayed};
  if (last >= 0) taken.estimate_seconds = estimate_wait(taken.waiting - 1, pace, at - last);
  if (!taken.replayed) {
    observer_.issued();
    observer_.waiting(taken.waiting);
  }
  co_return Outcome<Taken>{Failure::none, {}, taken};
}

asio::awaitable<Outcome<Called>> TicketQueue::call(std::string_view idempotency_key, std::string_view counter) {
  auto r = co_await [&] {
    return change(call_script,
                  {list_key_, last_called_key_, taken_at_key_, recent_calls_key_, events_key_, counters_key_,
                   called_key_, pace_key_},
                  idempotency_key, {ttl_seconds_, retention_, counter});
  }();
  if (!r) co_return carry<Called>(std::move(r));
  const auto status = status_of(r.value);
  const auto& e = r.value.elements;
  if (status == key_reused) co_return declined<Called>(*status);
  if (!status || *status > replayed || e.size() < 7 || e.size() > 8 || !to_int(e[1]) || *to_int(e[1]) < 0 ||
      std::any_of(e.begin() + 2, e.begin() + 6, not_a_number) || e[6].type != Reply::Type::bulk)
    co_return malformed<Called>("call");
  Called called;
  called.waiting = *to_int(e[1]);
  called.counter = e[6].text;
  called.replayed = *status == replayed;
  if (e.size() == 8) {
    auto t = to_int(e[7]);
    if (!t) co_return malformed<Called>("call (a ticket that is not a number: " + e[7].text + ")");
    called.ticket = *t;
  }
  if (!called.replayed) {
    if (called.ticket) observer_.called();
    observer_.waiting(called.waiting);
    // The ticket's real wait, and the estimate it was given at its take (from what it was made of).
    const std::int64_t waited = *to_int(e[2]), ahead = *to_int(e[3]), pace = *to_int(e[4]), since = *to_int(e[5]);
    if (called.ticket && waited >= 0)
      observer_.waited(std::chrono::milliseconds(waited),
                       since >= 0 ? estimate_wait(ahead, pace, since) : std::nullopt);
  }
  co_return Outcome<Called>{Failure::none, {}, std::move(called)};
}

asio::awaitable<Outcome<Recalled>> TicketQueue::recall(std::string_view idempotency_key, std::string_view counter) {
  auto r = co_await [&] {
    return change(recall_script, {counters_key_, last_called_key_, called_key_, list_key_, events_key_},
                  idempotency_key, {ttl_seconds_, retention_, counter});
  }();
  if (!r) co_return carry<Recalled>(std::move(r));
  const auto status = status_of(r.value);
  const auto& e = r.value.elements;
  if (status && (*status == key_reused || *status == nothing_to_recall)) co_return declined<Recalled>(*status);
  if (!status || *status > replayed || e.size() != 4 || !to_int(e[1]) || e[2].type != Reply::Type::bulk ||
      !to_int(e[3]))
    co_return malformed<Recalled>("recall");
  co_return Outcome<Recalled>{Failure::none, {}, {*to_int(e[3]), *to_int(e[1]), e[2].text, *status == replayed}};
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
  auto r = outcome_of(
      co_await [&] {
        return client_.exec_transaction("list", {{"LLEN", list_key_}, {"LRANGE", list_key_, from, to}},
                                        redis::Parse::integer_arrays);
      }(),
      Failure::unavailable);
  if (!r) co_return carry<Listing>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.size() != 2 || !to_int(e[0])) co_return malformed<Listing>("list");
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

asio::awaitable<Outcome<LastCall>> TicketQueue::last_called() {
  // The last call's counter is the newest recent call's when it is the same ticket (a call made
  // before recent calls were recorded has none).
  auto r = outcome_of(
      co_await [this] {
        return client_.exec_transaction("last_called", {{"GET", last_called_key_}, {"LINDEX", recent_calls_key_, "0"}});
      }(),
      Failure::unavailable);
  if (!r) co_return carry<LastCall>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.size() != 2) co_return malformed<LastCall>("last_called");
  LastCall last;
  if (e[0].type == Reply::Type::nil) co_return Outcome<LastCall>{Failure::none, {}, last};
  last.ticket = to_int(e[0]);
  if (!last.ticket) co_return malformed<LastCall>("GET " + last_called_key_);
  if (auto call = e[1].type == Reply::Type::bulk ? call_of(e[1].text) : std::nullopt;
      call && call->ticket == *last.ticket)
    last.counter = call->counter;
  co_return Outcome<LastCall>{Failure::none, {}, std::move(last)};
}

// Statuses asked while one is being gathered join it, and all are read in one transaction: the
// queue's keys once, every ticket's call record in one HMGET. The first to ask sends it once the
// event loop has run what was already due, so the requests that arrived together (a waiting room
// opening its phones, a page reloaded by many) cost Redis one transaction, not one each.
struct TicketQueue::StatusRead {
  using Read = std::shared_ptr<const Outcome<Reply>>;
  std::vector<std::string> tickets;                              // one per status asked, repeats included
  std::vector<asio::any_completion_handler<void(Read)>> joined;  // all but the first, who sends it
};

namespace {

// Enough to take a waiting room's burst in a few reads; a bound on one reply's size.
constexpr std::size_t max_statuses_per_read = 512;

// The status of the ticket asked `index`-th in a read of statuses (TicketQueue::read_statuses).
Outcome<std::optional<TicketStatus>> status_in(const Outcome<Reply>& read, std::size_t index, std::int64_t ticket) {
  using Found = std::optional<TicketStatus>;
  if (!read) return {read.failure, read.detail, {}};
  const auto& e = read.value.elements;
  const auto nil_or_number = [](const Reply& reply) { return reply.type == Reply::Type::nil || to_int(reply); };
  if (read.value.type != Reply::Type::array || e.size() != 6 || !std::all_of(e.begin(), e.begin() + 3, nil_or_number) ||
      e[4].type != Reply::Type::array || e[4].elements.size() != 2 || !to_int(e[4].elements[0]) ||
      !to_int(e[4].elements[1]) || e[5].type != Reply::Type::array || e[5].elements.size() <= index)
    return malformed<Found>("status");
  if (ticket < 1 || ticket > to_int(e[0]).value_or(0)) return {Failure::none, {}, std::nullopt};
  TicketStatus status;
  const auto oldest = to_int(e[1]), newest = to_int(e[2]);
  const Reply& called = e[5].elements[index];
  if (oldest && newest && ticket >= *oldest && ticket <= *newest) {
    status.state = TicketState::waiting;
    status.ahead = ticket - *oldest;
    // "<pace ms>:<last call ms>", as the call script keeps it; anything else is no pace.
    const std::string_view pace = e[3].type == Reply::Type::bulk ? std::string_view(e[3].text) : std::string_view();
    const auto colon = pace.find(':');
    const auto pace_ms = redis::decimal(pace.substr(0, colon));
    const auto last_ms = colon == std::string_view::npos ? std::nullopt : redis::decimal(pace.substr(colon + 1));
    status.pace_ms = pace_ms.value_or(-1);
    status.last_call_ms = last_ms.value_or(-1);
    if (status.last_call_ms >= 0) {
      const std::int64_t now_ms = *to_int(e[4].elements[0]) * 1000 + *to_int(e[4].elements[1]) / 1000;
      status.estimate_seconds = estimate_wait(status.ahead, status.pace_ms, now_ms - status.last_call_ms);
    }
  } else if (called.type == Reply::Type::bulk) {
    // "<called ms>:<counter>", as the call script keeps it.
    const std::string_view record = called.text;
    const auto colon = record.find(':');
    const auto at = redis::decimal(record.substr(0, colon));
    if (!at || colon == std::string_view::npos) return malformed<Found>("status (called_<queue>)");
    status.state = TicketState::called;
    status.called_at_ms = *at;
    status.counter = std::string(record.substr(colon + 1));
  } else {
    status.state = TicketState::gone;
  }
  return {Failure::none, {}, std::move(status)};
}

}  // namespace

asio::awaitable<Outcome<std::optional<TicketStatus>>> TicketQueue::status(std::int64_t ticket) {
  StatusRead::Read read;
  std::size_t index = 0;
  if (gathering_ && gathering_->tickets.size() < max_statuses_per_read) {
    auto& gathering = *gathering_;
    index = gathering.tickets.size();
    gathering.tickets.push_back(decimal_text(ticket));
    read = co_await asio::async_initiate<decltype(asio::use_awaitable), void(StatusRead::Read)>(
        [&gathering](auto handler) { gathering.joined.emplace_back(std::move(handler)); }, asio::use_awaitable);
  } else {
    auto gathering = std::make_shared<StatusRead>();
    gathering->tickets.push_back(decimal_text(ticket));
    gathering_ = gathering;
    // What the event loop already has to run (requests read in the same turn) may join.
    const auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, asio::use_awaitable);
    if (gathering_ == gathering) gathering_.reset();
    read = std::make_shared<const Outcome<Reply>>(co_await read_statuses(*gathering));
    for (auto& joined : gathering->joined) asio::post(executor, asio::append(std::move(joined), read));
  }
  co_return status_in(*read, index, ticket);
}

// A transaction, not a script: everything the statuses may need, read at one instant, costs
// Redis less than a script deciding what to read. The list holds consecutive numbers, oldest at
// the tail, so a ticket is waiting iff it lies between the tail and the head, and its place is its
// distance to the tail: two LINDEX, whatever the length.
asio::awaitable<Outcome<Reply>> TicketQueue::read_statuses(const StatusRead& read) {
  const std::array<std::string_view, 2> counter{"GET", counter_key_}, pace{"GET", pace_key_};
  const std::array<std::string_view, 3> oldest{"LINDEX", list_key_, "-1"}, newest{"LINDEX", list_key_, "0"};
  const std::array<std::string_view, 1> time{"TIME"};
  std::vector<std::string_view> called{"HMGET", called_key_};
  called.insert(called.end(), read.tickets.begin(), read.tickets.end());
  const std::array<std::span<const std::string_view>, 6> commands{counter, oldest, newest, pace, time, called};
  co_return outcome_of(co_await client_.exec_transaction("status", commands), Failure::unavailable);
}

asio::awaitable<Outcome<Snapshot>> TicketQueue::snapshot(std::int64_t tickets) {
  const std::string from = "-" + decimal_text(std::max<std::int64_t>(tickets, 1));
  auto r = outcome_of(
      co_await [&] {
        return client_.exec_transaction("snapshot", {{"LLEN", list_key_},
                                                     {"LRANGE", list_key_, from, "-1"},
                                                     {"LRANGE", recent_calls_key_, "0", "9"},
                                                     {"XREVRANGE", events_key_, "+", "-", "COUNT", "1"},
                                                     {"TIME"}});
      }(),
      Failure::unavailable);
  if (!r) co_return carry<Snapshot>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.size() != 5 || !to_int(e[0]) || e[1].type != Reply::Type::array ||
      e[2].type != Reply::Type::array || e[3].type != Reply::Type::array || e[4].type != Reply::Type::array ||
      e[4].elements.size() != 2)
    co_return malformed<Snapshot>("snapshot");
  Snapshot snapshot;
  snapshot.waiting = *to_int(e[0]);
  for (std::size_t i = e[1].elements.size(); i-- > 0;) {  // the oldest first
    const auto& ticket = e[1].elements[i];
    auto n = to_int(ticket);
    if (!n) co_return malformed<Snapshot>("snapshot (a ticket that is not a number: " + ticket.text + ")");
    if (static_cast<std::int64_t>(snapshot.tickets.size()) < tickets) snapshot.tickets.push_back(*n);
  }
  for (const auto& text : e[2].elements) {
    if (auto call = call_of(text.text)) snapshot.calls.push_back(std::move(*call));
  }
  if (!e[3].elements.empty()) {
    auto last = event_of(e[3].elements.front());
    if (!last) co_return malformed<Snapshot>("snapshot (an event that cannot be read)");
    snapshot.cursor = last->id;
  }
  auto seconds = to_int(e[4].elements[0]), micros = to_int(e[4].elements[1]);
  if (!seconds || !micros) co_return malformed<Snapshot>("snapshot (TIME)");
  snapshot.at_ms = *seconds * 1000 + *micros / 1000;
  observer_.waiting(snapshot.waiting);
  co_return Outcome<Snapshot>{Failure::none, {}, std::move(snapshot)};
}

asio::awaitable<Outcome<EventPage>> TicketQueue::events_after(EventId after, std::int64_t count) {
  const std::string from = after.text(), how_many = decimal_text(count);
  auto r = co_await run(
      events_after_script,
      [&](std::string_view verb, std::string_view code) {
        return client_.exec(events_after_script.label, {verb, code, "1", events_key_, from, how_many});
      },
      Failure::unavailable);
  if (!r) co_return carry<EventPage>(std::move(r));
  const auto& e = r.value.elements;
  if (r.value.type != Reply::Type::array || e.empty() || !to_int(e[0])) co_return malformed<EventPage>("events_after");
  auto events = events_of(e, 1);
  if (!events) co_return malformed<EventPage>("events_after (an event that cannot be read)");
  co_return Outcome<EventPage>{Failure::none, {}, {*to_int(e[0]) == 1, std::move(*events)}};
}

asio::awaitable<Outcome<std::vector<Event>>> TicketQueue::read_events(EventId after, std::int64_t count,
                                                                      std::chrono::milliseconds block) {
  using Events = std::vector<Event>;
  const std::string from = after.text(), how_many = decimal_text(count), wait = decimal_text(block.count());
  auto r = outcome_of(
      co_await [&] {
        return client_.exec("xread", {"XREAD", "COUNT", how_many, "BLOCK", wait, "STREAMS", events_key_, from});
      }(),
      Failure::unavailable);
  if (!r) co_return carry<Events>(std::move(r));
  // nil when the time ran out; else [[key, [entries...]]].
  if (r.value.type == Reply::Type::nil) co_return Outcome<Events>{Failure::none, {}, {}};
  const auto& streams = r.value.elements;
  if (r.value.type != Reply::Type::array || streams.size() != 1 || streams[0].type != Reply::Type::array ||
      streams[0].elements.size() != 2 || streams[0].elements[1].type != Reply::Type::array)
    co_return malformed<Events>("XREAD");
  auto events = events_of(streams[0].elements[1].elements, 0);
  if (!events) co_return malformed<Events>("XREAD (an event that cannot be read)");
  co_return Outcome<Events>{Failure::none, {}, std::move(*events)};
}

}  // namespace waitline::queue
