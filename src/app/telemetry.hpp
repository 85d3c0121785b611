// The service's metrics, named once, and the queue observer that feeds them.
#pragma once

#include <chrono>
#include <string_view>

#include "events/hub.hpp"
#include "metrics/metrics.hpp"
#include "queue/queue.hpp"

namespace waitline::app {

enum class Listener { api, admin };

// Kinds of live streams, and why one ended (waitline_event_streams{kind},
// waitline_event_streams_closed_total{reason}).
enum class StreamKind : std::uint8_t { queue, ticket };
enum class StreamEnd : std::uint8_t { client, slow, shutdown, error };

class Telemetry final : public queue::Observer, public events::Observer {
 public:
  explicit Telemetry(std::string_view queue_name);

  // API requests are http_requests_total and http_request_duration_seconds (what dashboards and
  // alerts mean by traffic); the admin listener's (probes, scrapes) have their own series.
  void request(Listener listener, std::string_view route, std::string_view method, unsigned status,
               std::chrono::nanoseconds took);
  // A request or connection a limit turned away (waitline_requests_refused_total{reason}):
  // rate_limit_key, rate_limit_client, queue_full, connection_limit, header_timeout, event_streams.
  void refused(std::string_view reason) { refused_.with({reason}).inc(); }
  void redis_command(std::string_view label, std::chrono::nanoseconds took);
  void redis_up(bool up) { redis_up_.set(up ? 1 : 0); }
  void redis_primary_moved() { redis_primary_moves_.inc(); }
  void api_keys(std::size_t count) { api_keys_.set(static_cast<double>(count)); }
  void api_keys_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).inc(); }

  void stream_opened(StreamKind kind) { (kind == StreamKind::queue ? queue_streams_ : ticket_streams_).add(1); }
  void stream_closed(StreamKind kind, StreamEnd end);

  void waiting(std::int64_t count) override { waiting_.set(static_cast<double>(count)); }
  void issued() override { issued_.inc(); }
  void called() override { called_.inc(); }
  void refused_full() override { refused("queue_full"); }
  void waited(std::chrono::milliseconds waited, std::optional<std::int64_t> estimate_seconds) override;

  void events_received(std::size_t count) override { events_received_.inc(count); }
  void reader_state(bool up, std::string_view reason) override;

  std::string render() const { return registry_.render(); }

 private:
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& request_duration_;
  metrics::Family<metrics::Counter>& admin_requests_;
  metrics::Family<metrics::Histogram>& admin_request_duration_;
  metrics::Family<metrics::Counter>& refused_;
  metrics::Family<metrics::Histogram>& redis_duration_;
  metrics::Gauge& redis_up_;
  metrics::Counter& redis_primary_moves_;
  metrics::Gauge& waiting_;
  metrics::Counter& issued_;
  metrics::Counter& called_;
  metrics::Gauge& api_keys_;
  metrics::Family<metrics::Counter>& reloads_;
  metrics::Counter& reloads_ok_;
  metrics::Counter& reloads_failed_;
  metrics::Family<metrics::Gauge>& streams_;
  metrics::Gauge& queue_streams_;
  metrics::Gauge& ticket_streams_;
  metrics::Family<metrics::Counter>& streams_closed_;
  metrics::Counter& events_received_;
  metrics::Gauge& reader_up_;
  metrics::Histogram& wait_;
  metrics::Histogram& estimate_error_;
};

}  // namespace waitline::app
