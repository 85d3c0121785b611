// The service's metrics, named once, and the queue observer that feeds them.
#pragma once

#include <chrono>
#include <string_view>

#include "metrics/metrics.hpp"
#include "queue/queue.hpp"

namespace waitline::app {

enum class Listener { api, admin };

class Telemetry final : public queue::Observer {
 public:
  explicit Telemetry(std::string_view queue_name);

  // API requests are http_requests_total and http_request_duration_seconds (what dashboards and
  // alerts mean by traffic); the admin listener's (probes, scrapes) have their own series.
  void request(Listener listener, std::string_view route, std::string_view method, unsigned status,
               std::chrono::nanoseconds took);
  // reason: rate_limit_key, rate_limit_client, queue_full, connection_limit, header_timeout.
  void refused(std::string_view reason) { refused_.with({reason}).inc(); }
  void redis_command(std::string_view label, std::chrono::nanoseconds took);
  void redis_up(bool up) { redis_up_.set(up ? 1 : 0); }
  void api_keys(std::size_t count) { api_keys_.set(static_cast<double>(count)); }
  void api_keys_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).inc(); }

  void waiting(std::int64_t count) override { waiting_.set(static_cast<double>(count)); }
  void issued() override { issued_.inc(); }
  void called() override { called_.inc(); }
  void refused_full() override { refused("queue_full"); }

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
  metrics::Gauge& waiting_;
  metrics::Counter& issued_;
  metrics::Counter& called_;
  metrics::Gauge& api_keys_;
  metrics::Family<metrics::Counter>& reloads_;
  metrics::Counter& reloads_ok_;
  metrics::Counter& reloads_failed_;
};

}  // namespace waitline::app
