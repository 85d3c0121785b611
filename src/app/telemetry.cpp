#include "app/telemetry.hpp"

#include <charconv>
#include <cmath>
#include <string>

namespace waitline::app {

namespace {
double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// How long people wait, and by how much an estimate missed: from seconds to hours.
constexpr double wait_buckets[] = {5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400};

// Label values in StreamKind and StreamEnd order.
constexpr std::string_view stream_kinds[] = {"queue", "ticket"};
constexpr std::string_view stream_ends[] = {"client", "slow", "shutdown", "error"};
}  // namespace

Telemetry::Telemetry(std::string_view queue_name)
    : requests_(registry_.counter("http_requests_total", "HTTP requests answered by the API listener.",
                                  {"route", "method", "code"})),
      request_duration_(registry_.histogram("http_request_duration_seconds",
                                            "Time from a request read to its response ready, by route.", {"route"})),
      admin_requests_(registry_.counter("waitline_admin_requests_total",
                                        "HTTP requests answered by the admin listener (probes, scrapes).",
                                        {"route", "method", "code"})),
      admin_request_duration_(registry_.histogram("waitline_admin_request_duration_seconds",
                                                  "Time from an admin request read to its response ready, by route.",
                                                  {"route"})),
      refused_(registry_.counter("waitline_requests_refused_total",
                                 "Requests and connections refused by a limit, by reason.", {"reason"})),
      redis_duration_(registry_.histogram("waitline_redis_command_duration_seconds",
                                          "Round trip of Redis commands as this service sees it, by command.",
                                          {"command"})),
      redis_up_(registry_.gauge("waitline_redis_up", "1 when the connection to Redis is ready, else 0.", {}).with({})),
      redis_primary_moves_(registry_
                               .counter("waitline_redis_primary_moves_total",
                                        "Times this process found the Redis primary at another address (a failover).",
                                        {})
                               .with({})),
      waiting_(
          registry_
              .gauge("waitline_queue_waiting", "Tickets waiting in the queue, as of the last Redis answer.", {"queue"})
              .with({queue_name})),
      issued_(registry_.counter("waitline_tickets_issued_total", "Tickets issued by this process.", {"queue"})
                  .with({queue_name})),
      called_(registry_.counter("waitline_tickets_called_total", "Tickets called by this process.", {"queue"})
                  .with({queue_name})),
      api_keys_(registry_.gauge("waitline_api_keys", "API keys loaded from the key file.", {}).with({})),
      reloads_(registry_.counter("waitline_api_keys_reloads_total", "Reloads of the key file, by result.", {"result"})),
      reloads_ok_(reloads_.with({"success"})),
      reloads_failed_(reloads_.with({"failure"})),
      streams_(
          registry_.gauge("waitline_event_streams", "Live event streams open in this process, by kind.", {"kind"})),
      queue_streams_(streams_.with({"queue"})),
      ticket_streams_(streams_.with({"ticket"})),
      streams_closed_(registry_.counter("waitline_event_streams_closed_total",
                                        "Live event streams ended, by reason: client (it left), slow (it did not read "
                                        "fast enough and was cut off), shutdown, error (the database failed).",
                                        {"kind", "reason"})),
      events_received_(registry_
                           .counter("waitline_events_received_total",
                                    "Events this process read from the queue's stream and fanned out.", {"queue"})
                           .with({queue_name})),
      reader_up_(registry_
                     .gauge("waitline_events_reader_up",
                            "1 when this process follows the queue's event stream in Redis, else 0.", {})
                     .with({})),
      wait_(registry_
                .histogram("waitline_wait_seconds",
                           "How long tickets waited, from their take to their call (tickets taken through "
                           "this service).",
                           {"queue"}, wait_buckets)
                .with({queue_name})),
      estimate_error_(registry_
                          .histogram("waitline_wait_estimate_error_seconds",
                                     "How far the wait estimate given at a take was from the real wait, in "
                                     "either direction.",
                                     {"queue"}, wait_buckets)
                          .with({queue_name})) {
  registry_.gauge("waitline_build_info", "Version and revision of this build; always 1.", {"version", "revision"})
      .with({WAITLINE_VERSION, WAITLINE_REVISION})
      .set(1);
  // Every reason a stream can end is exported from the start, at 0: a dashboard's rate of slow
  // readers cut off is then 0, not "no data", on a replica where none has been.
  for (auto kind : stream_kinds)
    for (auto end : stream_ends) streams_closed_.with({kind, end});
}

void Telemetry::request(Listener listener, std::string_view route, std::string_view method, unsigned status,
                        std::chrono::nanoseconds took) {
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof code, status);
  const bool api = listener == Listener::api;
  (api ? requests_ : admin_requests_)
      .with({route, method, std::string_view(code, static_cast<std::size_t>(end - code))})
      .inc();
  (api ? request_duration_ : admin_request_duration_).with({route}).observe(seconds(took));
}

void Telemetry::stream_closed(StreamKind kind, StreamEnd end) {
  (kind == StreamKind::queue ? queue_streams_ : ticket_streams_).add(-1);
  streams_closed_.with({stream_kinds[static_cast<std::size_t>(kind)], stream_ends[static_cast<std::size_t>(end)]})
      .inc();
}

void Telemetry::waited(std::chrono::milliseconds waited, std::optional<std::int64_t> estimate_seconds) {
  const double real = seconds(waited);
  wait_.observe(real);
  if (estimate_seconds) estimate_error_.observe(std::abs(real - static_cast<double>(*estimate_seconds)));
}

void Telemetry::reader_state(bool up, std::string_view /*reason*/) { reader_up_.set(up ? 1 : 0); }

void Telemetry::redis_command(std::string_view label, std::chrono::nanoseconds took) {
  redis_duration_.with({label}).observe(seconds(took));
}

}  // namespace waitline::app
