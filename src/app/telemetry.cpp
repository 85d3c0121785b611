#include "app/telemetry.hpp"

#include <charconv>
#include <string>

namespace waitline::app {

namespace {
double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }
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
      waiting_(registry_.gauge("waitline_queue_waiting", "Tickets waiting in the queue, as of the last Redis answer.",
                               {"queue"})
                   .with({queue_name})),
      issued_(registry_.counter("waitline_tickets_issued_total", "Tickets issued by this process.", {"queue"})
                  .with({queue_name})),
      called_(registry_.counter("waitline_tickets_called_total", "Tickets called by this process.", {"queue"})
                  .with({queue_name})),
      api_keys_(registry_.gauge("waitline_api_keys", "API keys loaded from the key file.", {}).with({})),
      reloads_(registry_.counter("waitline_api_keys_reloads_total", "Reloads of the key file, by result.", {"result"})),
      reloads_ok_(reloads_.with({"success"})),
      reloads_failed_(reloads_.with({"failure"})) {
  registry_.gauge("waitline_build_info", "Version and revision of this build; always 1.", {"version", "revision"})
      .with({WAITLINE_VERSION, WAITLINE_REVISION})
      .set(1);
}

void Telemetry::request(Listener listener, std::string_view route, std::string_view method, unsigned status,
                        std::chrono::nanoseconds took) {
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof code, status);
  const bool api = listener == Listener::api;
  (api ? requests_ : admin_requests_).with({route, method, std::string_view(code, static_cast<std::size_t>(end - code))}).inc();
  (api ? request_duration_ : admin_request_duration_).with({route}).observe(seconds(took));
}

void Telemetry::redis_command(std::string_view label, std::chrono::nanoseconds took) {
  redis_duration_.with({label}).observe(seconds(took));
}

}  // namespace waitline::app
