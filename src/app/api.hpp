// The public API: the queue's endpoints, its live events, the visitor's own ticket, browser
// sessions, the people's screens and the documentation, as rows for the request pipeline.
//
//   const std::string document = docs::openapi({.legacy_get = true, .authentication = true});
//   Api api({.queue = queue, .hub = hub, .lane = 0, .secrets = secrets, .telemetry = telemetry,
//            .draining = draining, .openapi = document}, {.legacy_get = true});   // app/options.hpp
//   Pipeline pipeline(api.routes(), telemetry, {.listener = Listener::api, .keys = &keys});
#pragma once

#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/options.hpp"
#include "app/pipeline.hpp"
#include "app/telemetry.hpp"
#include "auth/tokens.hpp"
#include "events/hub.hpp"
#include "queue/queue.hpp"

namespace waitline::app {

// What the API works with; everything outlives it. One Api per lane (a worker thread).
struct ApiParts {
  queue::TicketQueue& queue;  // on this lane's Redis connection
  events::Hub& hub;
  std::size_t lane;  // this lane's index in the hub
  const auth::SecretStore& secrets;
  Telemetry& telemetry;
  const std::atomic<bool>& draining;  // set when the process shuts down: new work gets 503
  std::string_view openapi;           // the OpenAPI document of these settings (docs::openapi)
};

class Api {
 public:
  Api(ApiParts parts, ApiOptions options);

  std::vector<Route> routes();

  static constexpr std::int64_t default_limit = 100;
  static constexpr std::int64_t max_limit = 1000;
  // The first waiting tickets a stream's snapshot lists.
  static constexpr std::int64_t snapshot_tickets = 20;

 private:
  boost::asio::awaitable<http::Reply> take(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> call(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> recall(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> list(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> last_called(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> ticket(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> events(const Exchange& exchange);         // api_streams.cpp
  boost::asio::awaitable<http::Reply> ticket_events(const Exchange& exchange);  // api_streams.cpp
  boost::asio::awaitable<http::Reply> open_session(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> show_session(const Exchange& exchange) const;
  boost::asio::awaitable<http::Reply> close_session(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> document(const Exchange& exchange);
  boost::asio::awaitable<http::Reply> openapi(const Exchange& exchange) const;
  boost::asio::awaitable<http::Reply> page(const Exchange& exchange);
  // `changes`: the operation changes the queue, so an unknown outcome must be said so.
  http::Response failed(queue::Failure failure, std::string_view detail, bool changes) const;
  // The ticket a /tickets/{n} URL names, when its token is right; nullopt answers 404.
  std::optional<std::int64_t> opened_ticket(const Exchange& exchange) const;
  std::string status_json(std::int64_t ticket, const queue::TicketStatus& status) const;

  ApiParts parts_;
  ApiOptions options_;
};

// The public prefix the proxy stripped (X-Forwarded-Prefix: "/rubis"), or "" when there is none or
// it is not a plain path.
std::string_view public_prefix(const http::Request& request);

// The decoded value of `name` in a query string, or nullopt when absent; `malformed` is set when
// the value is badly percent-encoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name, bool& malformed);

}  // namespace waitline::app
