// The public API: the queue's endpoints and its documentation, as rows for the request pipeline.
//
//   Api api(queue, {.legacy_get = true}, draining);
//   Pipeline pipeline(api.routes(), telemetry, {.listener = Listener::api, .keys = &keys});
#pragma once

#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "app/pipeline.hpp"
#include "queue/queue.hpp"

namespace waitline::app {

struct ApiSettings {
  bool legacy_get = true;  // GET on /get_ticket and /call_ticket, as the original accepted
};

class Api {
 public:
  // `draining`: set when the process shuts down; work not started then is refused (503).
  Api(queue::TicketQueue& queue, ApiSettings settings, const std::atomic<bool>& draining);

  std::vector<Route> routes();

  static constexpr std::int64_t default_limit = 100;
  static constexpr std::int64_t max_limit = 1000;

 private:
  boost::asio::awaitable<http::Response> take(const Exchange& exchange);
  boost::asio::awaitable<http::Response> call(const Exchange& exchange);
  boost::asio::awaitable<http::Response> list(const Exchange& exchange);
  boost::asio::awaitable<http::Response> last_called(const Exchange& exchange);
  boost::asio::awaitable<http::Response> document(const Exchange& exchange);
  // `changes`: the operation changes the queue, so an unknown outcome must be said so.
  http::Response failed(queue::Failure failure, std::string_view detail, bool changes) const;

  queue::TicketQueue& queue_;
  ApiSettings settings_;
  const std::atomic<bool>& draining_;
};

}  // namespace waitline::app
