// The API's live streams (Server-Sent Events): GET /events, the queue's events for screens, and
// GET /tickets/{n}/events, one visitor's ticket status.
//
// The handler does what can fail cleanly before the stream starts (the stream's place, the
// first read from Redis: 503 when it fails) and hands the stream its first bytes; the stream then
// follows the hub. What a client missed is read from Redis (events_after) until it has caught up
// with what the hub holds in memory, so a reconnection with Last-Event-ID gets every event after
// that id once, in order, then the live ones.
#include <boost/beast/http/field.hpp>
#include <algorithm>
#include <optional>
#include <random>

#include "app/api.hpp"
#include "json/json.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using boost::beast::http::field;
using clock = std::chrono::steady_clock;

namespace {

// Events written at once; a catch-up reads as many from Redis.
constexpr std::size_t batch = 256;
// How long a client waits before it reconnects (after a shutdown: another replica by then).
constexpr std::chrono::milliseconds reconnect_delay{1000};

http::Response stream_head() {
  http::Response head{http::Status::ok, 11};
  head.set(field::content_type, "text/event-stream; charset=utf-8");
  head.set(field::cache_control, "no-store");
  // nginx passes a stream on as it comes when the upstream says so, whatever its own buffering.
  head.set("X-Accel-Buffering", "no");
  return head;
}

// A client reconnecting after a shutdown spreads over a second, so that the replicas left are not
// all reached at once.
std::chrono::milliseconds spread_delay() {
  thread_local std::minstd_rand random{std::random_device{}()};
  return reconnect_delay + std::chrono::milliseconds(random() % reconnect_delay.count());
}

std::string snapshot_json(std::string_view queue, const queue::Snapshot& s, bool reset) {
  std::string tickets = "[", calls = "[";
  for (auto t : s.tickets) {
    if (tickets.size() > 1) tickets.push_back(',');
    json::append_int(tickets, t);
  }
  for (const auto& c : s.calls) {
    if (calls.size() > 1) calls.push_back(',');
    json::Object call(calls);
    call.number("ticket", c.ticket).text_or_null("counter", c.counter);
    if (c.at_ms > 0) call.time("at", c.at_ms);
    else call.null("at");
    call.close();
  }
  std::string data;
  json::Object(data)
      .text("queue", queue)
      .number("waiting", s.waiting)
      .raw("tickets", tickets + "]")
      .raw("calls", calls + "]")
      .boolean("reset", reset)
      .time("at", s.at_ms)
      .close();
  return data;
}

std::string snapshot_frame(std::string_view queue, const queue::Snapshot& s, bool reset) {
  return events::render("snapshot", s.cursor.text(), snapshot_json(queue, s, reset));
}

// What a stream shares with the API that made it; all of it outlives the stream.
struct StreamParts {
  queue::TicketQueue& queue;
  events::Hub& hub;
  std::size_t lane;
  Telemetry& telemetry;
  std::chrono::milliseconds keepalive;
};

// Counts the stream while it lives, with the reason it ended.
class Counted {
 public:
  Counted(Telemetry& telemetry, StreamKind kind) : telemetry_(telemetry), kind_(kind) {
    telemetry_.stream_opened(kind_);
  }
  ~Counted() { telemetry_.stream_closed(kind_, end); }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  StreamEnd end = StreamEnd::client;

 private:
  Telemetry& telemetry_;
  StreamKind kind_;
};

// Every text written is held by a named variable first: g++ 12 destroys a temporary made inside a
// co_await expression twice in some shapes (a conditional's operand among them).
asio::awaitable<bool> write(http::StreamWriter& out, std::string_view text) {
  const std::string_view parts[] = {text};
  co_return co_await out.write(parts);
}

// GET /events: a snapshot or the missed events, then every event of the queue as it happens.
class QueueStream final : public http::Stream {
 public:
  QueueStream(StreamParts parts, events::Hub::Slot slot, std::string first, queue::EventId cursor,
              events::Interest interest)
      : parts_(parts),
        slot_(std::move(slot)),
        counted_(parts.telemetry, StreamKind::queue),
        first_(std::move(first)),
        cursor_(cursor),
        interest_(interest) {}

  void client_gone() override {
    gone_ = true;
    if (subscription_) subscription_->interrupt();
  }

  asio::awaitable<void> run(http::StreamWriter& out) override {
    if (!co_await write(out, first_)) co_return finish(out);
    first_ = {};
    events::Subscription subscription(parts_.hub, parts_.lane, cursor_, interest_);
    subscription_ = &subscription;
    std::vector<events::FramePtr> frames;
    std::vector<std::string_view> texts;
    auto keepalive_due = clock::now() + parts_.keepalive;
    for (;;) {
      if (gone_) {
        subscription_ = nullptr;
        co_return;
      }
      switch (subscription.pull(frames, batch)) {
        case events::Subscription::Pulled::frames: {
          texts.clear();
          for (const auto& frame : frames) texts.push_back(frame->text);
          if (!co_await out.write(texts)) co_return finish(out);
          keepalive_due = clock::now() + parts_.keepalive;
          break;
        }
        case events::Subscription::Pulled::behind:
          if (!co_await catch_up(out, subscription)) co_return;
          break;
        case events::Subscription::Pulled::reset:
          if (!co_await resnapshot(out, subscription)) co_return;
          break;
        case events::Subscription::Pulled::slow:
          counted_.end = StreamEnd::slow;
          subscription_ = nullptr;
          co_return;
        case events::Subscription::Pulled::closed:
          counted_.end = StreamEnd::shutdown;
          co_await write(out, retry_);
          subscription_ = nullptr;
          co_return;
        case events::Subscription::Pulled::nothing:
          if (clock::now() >= keepalive_due) {
            if (!co_await write(out, events::keepalive)) co_return finish(out);
            keepalive_due = clock::now() + parts_.keepalive;
          }
          co_await subscription.wait(keepalive_due);
          break;
      }
    }
  }

 private:
  void finish(const http::StreamWriter& out) {
    subscription_ = nullptr;
    if (out.too_slow()) counted_.end = StreamEnd::slow;
  }

  // The events between the cursor and what the hub holds, from Redis.
  asio::awaitable<bool> catch_up(http::StreamWriter& out, events::Subscription& subscription) {
    auto page = co_await parts_.queue.events_after(subscription.cursor(), batch);
    if (!page) co_return co_await give_up(out);
    if (gone_) co_return false;
    if (!page.value.complete || page.value.events.empty()) co_return co_await resnapshot(out, subscription);
    std::string text;
    for (const auto& event : page.value.events) {
      if (interest_.wants(event)) text += events::render(parts_.hub.queue(), event);
    }
    subscription.moved_to(page.value.events.back().id);
    if (!co_await write(out, text)) {
      finish(out);
      co_return false;
    }
    co_return true;
  }

  // Events were lost to this client: the queue as it is now, marked as a reset.
  asio::awaitable<bool> resnapshot(http::StreamWriter& out, events::Subscription& subscription) {
    auto snapshot = co_await parts_.queue.snapshot(Api::snapshot_tickets);
    if (gone_) co_return false;
    if (!snapshot) co_return co_await give_up(out);
    subscription.moved_to(snapshot.value.cursor);
    const std::string frame = snapshot_frame(parts_.hub.queue(), snapshot.value, true);
    if (!co_await write(out, frame)) {
      finish(out);
      co_return false;
    }
    co_return true;
  }

  // Redis failed under the stream: the client reconnects and resumes from its last event.
  asio::awaitable<bool> give_up(http::StreamWriter& out) {
    counted_.end = StreamEnd::error;
    co_await write(out, retry_);
    subscription_ = nullptr;
    co_return false;
  }

  StreamParts parts_;
  events::Hub::Slot slot_;
  Counted counted_;
  std::string first_;
  queue::EventId cursor_;
  events::Interest interest_;
  events::Subscription* subscription_ = nullptr;  // while run() follows the hub
  bool gone_ = false;                             // the client left
  const std::string retry_ = events::retry(spread_delay());
};

// GET /tickets/{n}/events: the ticket's status now, then again whenever a call may have changed
// it (ahead, state, counter) and at every keepalive (the estimate moves with time). A call's
// event says all it takes: the ticket it called (tickets are consecutive, so the ones ahead of
// this one are the ones between) and the queue's pace, so that thousands of phones cost Redis
// nothing when a desk calls. Only when the hub lost track (a reset, a stream left behind) is
// the status read from Redis again.
class TicketStream final : public http::Stream {
 public:
  using Render = std::function<std::string(const queue::TicketStatus&)>;
  TicketStream(StreamParts parts, events::Hub::Slot slot, std::unique_ptr<events::Subscription> subscription,
               std::int64_t ticket, queue::TicketStatus status, Render render)
      : parts_(parts),
        slot_(std::move(slot)),
        counted_(parts.telemetry, StreamKind::ticket),
        subscription_(std::move(subscription)),
        ticket_(ticket),
        status_(std::move(status)),
        render_(std::move(render)) {}

  void client_gone() override {
    gone_ = true;
    subscription_->interrupt();
  }

  asio::awaitable<void> run(http::StreamWriter& out) override {
    last_ = render_(status_);
    std::string text = events::render("status", {}, last_);
    if (!co_await write(out, text)) co_return finish(out);
    std::vector<events::FramePtr> frames;
    auto tick_due = clock::now() + parts_.keepalive;
    for (;;) {
      if (gone_) co_return;
      bool again = false;  // read the status from Redis
      switch (subscription_->pull(frames, batch)) {
        case events::Subscription::Pulled::frames:
          for (const auto& frame : frames) again = again || !follow(frame->event);
          break;
        case events::Subscription::Pulled::behind:
        case events::Subscription::Pulled::slow:
        case events::Subscription::Pulled::reset:
          subscription_->moved_to(parts_.hub.newest());
          again = true;
          break;
        case events::Subscription::Pulled::closed:
          counted_.end = StreamEnd::shutdown;
          co_await write(out, retry_);
          co_return;
        case events::Subscription::Pulled::nothing:
          if (clock::now() < tick_due) {
            co_await subscription_->wait(tick_due);
            continue;
          }
          break;
      }
      tick_due = clock::now() + parts_.keepalive;
      if (again) {
        auto status = co_await parts_.queue.status(ticket_);
        if (gone_) co_return;
        if (!status || !status.value) {
          counted_.end = StreamEnd::error;
          co_await write(out, retry_);
          co_return;
        }
        status_ = std::move(*status.value);
      } else if (status_.state == queue::TicketState::waiting && status_.last_call_ms >= 0) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        status_.estimate_seconds = queue::estimate_wait(status_.ahead, status_.pace_ms, now - status_.last_call_ms);
      }
      std::string now = render_(status_);
      text = now == last_ ? std::string(events::keepalive) : events::render("status", {}, now);
      last_ = std::move(now);
      if (!co_await write(out, text)) co_return finish(out);
    }
  }

 private:
  void finish(const http::StreamWriter& out) {
    if (out.too_slow()) counted_.end = StreamEnd::slow;
  }

  // The status after a call or recall of a ticket up to this one; false when the event does not
  // fit what the stream knows (a later ticket called while this one waits): ask Redis.
  bool follow(const queue::Event& event) {
    if (event.ticket == ticket_) {
      status_.state = queue::TicketState::called;
      status_.counter = event.counter;
      status_.called_at_ms = static_cast<std::int64_t>(event.id.ms);
      status_.estimate_seconds.reset();
      return true;
    }
    if (event.type != queue::EventType::called || status_.state != queue::TicketState::waiting) return true;
    status_.ahead = ticket_ - event.ticket - 1;
    status_.pace_ms = event.pace_ms;
    status_.last_call_ms = static_cast<std::int64_t>(event.id.ms);
    return status_.ahead >= 0;
  }

  StreamParts parts_;
  events::Hub::Slot slot_;
  Counted counted_;
  std::unique_ptr<events::Subscription> subscription_;
  std::int64_t ticket_;
  queue::TicketStatus status_;
  Render render_;
  std::string last_;   // the status last sent
  bool gone_ = false;  // the client left
  const std::string retry_ = events::retry(spread_delay());
};

// The `types` of a queue stream (?types=called,recalled): nullopt when one is not an event type.
std::optional<events::Interest> interest_in(std::string_view query) {
  bool malformed = false;
  const auto types = query_param(query, "types", malformed);
  if (malformed) return std::nullopt;
  events::Interest interest;
  if (!types) return interest;
  interest.types = 0;
  std::string_view list = *types;
  while (true) {
    const auto comma = list.find(',');
    const auto name = list.substr(0, comma);
    bool known = false;
    for (auto type : {queue::EventType::taken, queue::EventType::called, queue::EventType::recalled}) {
      if (name == queue::name(type)) interest.types |= 1u << static_cast<unsigned>(type), known = true;
    }
    if (!known) return std::nullopt;
    if (comma == std::string_view::npos) return interest;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

asio::awaitable<http::Reply> Api::events(const Exchange& exchange) {
  if (parts_.draining.load())
    co_return error_response(http::Status::service_unavailable, "shutting_down",
                             "this replica is shutting down; retry and another one will answer");
  // Last-Event-ID as EventSource sends it, or in the query for clients that cannot set headers.
  bool malformed = false;
  std::optional<std::string> last_id = query_param(exchange.query, "last_event_id", malformed);
  if (const auto header = exchange.request["Last-Event-ID"]; !header.empty()) last_id = std::string(header);
  std::optional<queue::EventId> resume;
  if (last_id && !last_id->empty()) {
    resume = queue::EventId::parse(*last_id);
    malformed = malformed || !resume;
  }
  if (malformed)
    co_return error_response(http::Status::bad_request, "invalid_last_event_id",
                             "Last-Event-ID must be an event id this stream sent, like 1764000000000-0");
  const auto interest = interest_in(exchange.query);
  if (!interest)
    co_return error_response(http::Status::bad_request, "invalid_parameter",
                             "types must be a comma list of taken, called, recalled");
  auto slot = parts_.hub.open_stream();
  if (!slot) {
    parts_.telemetry.refused("event_streams");
    co_return error_response(http::Status::service_unavailable, "too_many_streams",
                             "this replica serves as many event streams as it may; retry shortly");
  }
  std::string first = events::retry(reconnect_delay);
  queue::EventId cursor;
  std::optional<queue::EventPage> missed;
  if (resume) {
    auto page = co_await parts_.queue.events_after(*resume, batch);
    if (!page) co_return failed(page.failure, page.detail, false);
    if (page.value.complete) missed = std::move(page.value);
  }
  if (missed) {
    cursor = missed->events.empty() ? *resume : missed->events.back().id;
    for (const auto& event : missed->events) {
      if (interest->wants(event)) first += events::render(parts_.queue.name(), event);
    }
  } else {
    // A new stream, or one whose last event is older than the stream keeps: the queue as it is.
    auto snapshot = co_await parts_.queue.snapshot(snapshot_tickets);
    if (!snapshot) co_return failed(snapshot.failure, snapshot.detail, false);
    cursor = snapshot.value.cursor;
    first += snapshot_frame(parts_.queue.name(), snapshot.value, resume.has_value());
  }
  co_return http::Reply{stream_head(),
                        std::make_unique<QueueStream>(StreamParts{parts_.queue, parts_.hub, parts_.lane,
                                                                  parts_.telemetry, parts_.hub.options().keepalive},
                                                      std::move(slot), std::move(first), cursor, *interest)};
}

asio::awaitable<http::Reply> Api::ticket_events(const Exchange& exchange) {
  const auto n = opened_ticket(exchange);
  if (!n) co_return error_response(http::Status::not_found, "not_found", "no such ticket");
  if (parts_.draining.load())
    co_return error_response(http::Status::service_unavailable, "shutting_down",
                             "this replica is shutting down; retry and another one will answer");
  auto slot = parts_.hub.open_stream();
  if (!slot) {
    parts_.telemetry.refused("event_streams");
    co_return error_response(http::Status::service_unavailable, "too_many_streams",
                             "this replica serves as many event streams as it may; retry shortly");
  }
  // Subscribed before the status is read: a call in between is followed from the status read,
  // which already holds it (the stream moves only forward: ahead is recomputed from the call).
  const events::Interest calls{(1u << static_cast<unsigned>(queue::EventType::called)) |
                                   (1u << static_cast<unsigned>(queue::EventType::recalled)),
                               *n};
  auto subscription = std::make_unique<events::Subscription>(parts_.hub, parts_.lane, parts_.hub.newest(), calls);
  auto status = co_await parts_.queue.status(*n);
  if (!status) co_return failed(status.failure, status.detail, false);
  if (!status.value) co_return error_response(http::Status::not_found, "not_found", "no such ticket");
  auto render = [this, ticket = *n](const queue::TicketStatus& s) { return status_json(ticket, s); };
  co_return http::Reply{stream_head(),
                        std::make_unique<TicketStream>(StreamParts{parts_.queue, parts_.hub, parts_.lane,
                                                                   parts_.telemetry, parts_.hub.options().keepalive},
                                                       std::move(slot), std::move(subscription), *n,
                                                       std::move(*status.value), render)};
}

}  // namespace waitline::app
