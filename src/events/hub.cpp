#include "events/hub.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "json/json.hpp"

namespace waitline::events {

namespace asio = boost::asio;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Events read at once from Redis, by the reader and by a catch-up.
constexpr std::int64_t page = 512;
// Subscriptions woken at once on a lane before its other work (a socket ready, an answer from
// Redis) runs: the desk whose call wakes ten thousand phones gets its answer in the first slices,
// not after every phone has its event.
constexpr std::size_t wake_slice = 256;
}  // namespace

std::string render(std::string_view name, std::string_view id, std::string_view json) {
  std::string text;
  text.reserve(id.size() + name.size() + json.size() + 24);
  if (!id.empty()) text.append("id: ").append(id).push_back('\n');
  text.append("event: ").append(name).append("\ndata: ").append(json).append("\n\n");
  return text;
}

std::string render(std::string_view queue, const queue::Event& event) {
  std::string data;
  json::Object object(data);
  object.text("queue", queue).number("ticket", event.ticket).number("waiting", event.waiting);
  if (event.type != queue::EventType::taken) object.text_or_null("counter", event.counter);
  object.time("at", static_cast<std::int64_t>(event.id.ms)).close();
  return render(queue::name(event.type), event.id.text(), data);
}

std::string retry(std::chrono::milliseconds delay) { return "retry: " + std::to_string(delay.count()) + "\n\n"; }

Hub::Hub(std::string queue, std::size_t lanes, Options options, Observer& observer)
    : queue_(std::move(queue)), options_(options), observer_(observer), lanes_(lanes) {}

queue::EventId Hub::newest() const {
  std::lock_guard lock(mutex_);
  return newest_;
}

Hub::Slot::~Slot() {
  if (hub_) hub_->streams_.fetch_sub(1);
}

Hub::Slot Hub::open_stream() {
  if (streams_.fetch_add(1) >= options_.max_streams) {
    streams_.fetch_sub(1);
    return {};
  }
  return Slot(this);
}

bool Hub::following() const {
  std::lock_guard lock(mutex_);
  return started_;
}

void Hub::close() {
  closed_ = true;
  wake_all();
}

void Hub::start(queue::EventId cursor) {
  {
    std::lock_guard lock(mutex_);
    started_ = true;
    newest_ = cursor;
    for (auto& ring : rings_) ring.floor = cursor;
  }
  wake_all();
}

void Hub::reset(queue::EventId cursor) {
  {
    std::lock_guard lock(mutex_);
    ++epoch_;
    newest_ = cursor;
    for (auto& ring : rings_) ring = {{}, cursor};
  }
  wake_all();
}

void Hub::publish(std::vector<queue::Event> events) {
  std::vector<FramePtr> frames;
  frames.reserve(events.size());
  for (auto& event : events) {
    auto text = render(queue_, event);
    frames.push_back(std::make_shared<const Frame>(Frame{std::move(event), std::move(text)}));
  }
  auto batch = std::make_shared<const std::vector<FramePtr>>(frames);
  {
    std::lock_guard lock(mutex_);
    for (auto& frame : frames) {
      auto& ring = rings_[static_cast<std::size_t>(frame->event.type)];
      ring.frames.push_back(std::move(frame));
      if (ring.frames.size() > options_.ring) {
        ring.floor = ring.frames.front()->event.id;
        ring.frames.pop_front();
      }
    }
    newest_ = batch->back()->event.id;
  }
  observer_.events_received(events.size());
  wake_interested(batch);
}

// One batch's wake-ups on one lane, a slice at a time. Each list is walked from its end: a
// subscription that leaves meanwhile is replaced by the list's last one, already woken (woken
// twice, it finds nothing and waits again), and one that joins is added at the end, after the
// events; so none is missed and none is touched after it is gone.
struct Hub::Waking {
  Lane* lane;
  std::shared_ptr<const std::vector<FramePtr>> frames;
  unsigned types;  // bit (1 << EventType) of the types in `frames`
  std::size_t type = 0;
  std::size_t left = SIZE_MAX;  // of lane->subscriptions[type], those before this index are still to wake

  void operator()() {
    for (std::size_t budget = wake_slice; type < queue::event_types; ++type, left = SIZE_MAX) {
      if ((types & (1u << type)) == 0) continue;
      const auto& list = lane->subscriptions[type];
      left = std::min(left, list.size());
      for (; left > 0; --left, --budget) {
        if (budget == 0) {
          asio::post(lane->executor, std::move(*this));
          return;
        }
        auto* subscription = list[left - 1];
        const bool wanted = std::ranges::any_of(*frames, [subscription](const FramePtr& frame) {
          return subscription->interest_.wants(frame->event);
        });
        if (wanted) subscription->timer_.cancel();
      }
    }
  }
};

void Hub::wake_interested(const std::shared_ptr<const std::vector<FramePtr>>& frames) {
  unsigned present = 0;
  for (const auto& frame : *frames) present |= 1u << static_cast<unsigned>(frame->event.type);
  for (auto& lane : lanes_) asio::post(lane.executor, Waking{&lane, frames, present});
}

void Hub::wake_all() {
  for (auto& lane : lanes_) {
    asio::post(lane.executor, [&lane] {
      for (const auto& list : lane.subscriptions) {
        for (auto* subscription : list) subscription->timer_.cancel();
      }
    });
  }
}

asio::awaitable<void> Hub::follow(queue::TicketQueue& source) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  auto down = [&](std::string_view reason) -> asio::awaitable<void> {
    observer_.reader_state(false, reason);
    pause.expires_after(options_.retry);
    co_await pause.async_wait(use_tuple);
  };
  // The end of the stream now: what happened before is the snapshot's and Redis's business.
  queue::EventId last;
  for (;;) {
    if (closed_) co_return;
    auto snapshot = co_await source.snapshot(0);
    if (snapshot) {
      last = snapshot.value.cursor;
      break;
    }
    co_await down(snapshot.detail);
  }
  start(last);
  observer_.reader_state(true, {});
  // After a failure the stream is read with events_after, which says whether events were trimmed
  // meanwhile (then every subscription starts again), until it has caught up.
  bool catching_up = false;
  while (!closed_) {
    if (catching_up) {
      auto after = co_await source.events_after(last, page);
      if (!after) {
        co_await down(after.detail);
        continue;
      }
      if (!after.value.complete) {
        auto snapshot = co_await source.snapshot(0);
        if (!snapshot) {
          co_await down(snapshot.detail);
          continue;
        }
        last = snapshot.value.cursor;
        reset(last);
      } else if (!after.value.events.empty()) {
        last = after.value.events.back().id;
        catching_up = static_cast<std::int64_t>(after.value.events.size()) == page;
        publish(std::move(after.value.events));
        if (catching_up) continue;
      }
      catching_up = false;
      observer_.reader_state(true, {});
      continue;
    }
    auto read = co_await source.read_events(last, page, options_.block);
    if (!read) {
      catching_up = true;
      co_await down(read.detail);
      continue;
    }
    if (!read.value.empty()) {
      last = read.value.back().id;
      publish(std::move(read.value));
    }
  }
}

Subscription::Subscription(Hub& hub, std::size_t lane, queue::EventId cursor, Interest interest)
    : hub_(hub), lane_(lane), interest_(interest), timer_(hub.lanes_.at(lane).executor), cursor_(cursor) {
  {
    std::lock_guard lock(hub_.mutex_);
    epoch_ = hub_.epoch_;
  }
  for (std::size_t type = 0; type < queue::event_types; ++type) {
    if (!wants(type)) continue;
    auto& list = hub_.lanes_[lane_].subscriptions[type];
    index_[type] = list.size();
    list.push_back(this);
  }
}

Subscription::~Subscription() {
  for (std::size_t type = 0; type < queue::event_types; ++type) {
    if (!wants(type)) continue;
    auto& list = hub_.lanes_[lane_].subscriptions[type];
    list[index_[type]] = list.back();
    list[index_[type]]->index_[type] = index_[type];
    list.pop_back();
  }
}

asio::awaitable<void> Subscription::wait(std::chrono::steady_clock::time_point until) {
  timer_.expires_at(until);
  co_await timer_.async_wait(use_tuple);
}

Subscription::Pulled Subscription::pull(std::vector<FramePtr>& out, std::size_t max) {
  out.clear();
  std::lock_guard lock(hub_.mutex_);
  if (hub_.closed_) return Pulled::closed;
  if (epoch_ != hub_.epoch_) return Pulled::reset;
  if (!hub_.started_) return Pulled::nothing;
  // Where each wanted ring's events after the cursor begin; the rest of the rings are not read.
  using Iterator = std::deque<FramePtr>::const_iterator;
  std::array<Iterator, queue::event_types> next{}, end{};
  for (std::size_t type = 0; type < queue::event_types; ++type) {
    const auto& ring = hub_.rings_[type];
    end[type] = next[type] = ring.frames.end();
    if (!wants(type)) continue;
    if (cursor_ < ring.floor) return joined_ ? Pulled::slow : Pulled::behind;
    next[type] = std::upper_bound(ring.frames.begin(), ring.frames.end(), cursor_,
                                  [](const queue::EventId& id, const FramePtr& frame) { return id < frame->event.id; });
  }
  joined_ = true;
  // Merged in id order: the oldest of the rings' next frames each time.
  while (out.size() < max) {
    std::size_t oldest = queue::event_types;
    for (std::size_t type = 0; type < queue::event_types; ++type) {
      if (next[type] == end[type]) continue;
      if (oldest == queue::event_types || (*next[type])->event.id < (*next[oldest])->event.id) oldest = type;
    }
    if (oldest == queue::event_types) {
      cursor_ = std::max(cursor_, hub_.newest_);  // nothing wanted up to the newest event
      break;
    }
    const auto& frame = *next[oldest]++;
    if (interest_.wants(frame->event)) out.push_back(frame);
    cursor_ = frame->event.id;
  }
  return out.empty() ? Pulled::nothing : Pulled::frames;
}

void Subscription::moved_to(queue::EventId cursor) {
  std::lock_guard lock(hub_.mutex_);
  cursor_ = cursor;
  epoch_ = hub_.epoch_;
  joined_ = false;
}

}  // namespace waitline::events
