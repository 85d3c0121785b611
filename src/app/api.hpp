// The public API: the queue's endpoints, authenticated by key and scope, and its documentation.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "auth/auth.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "queue/queue.hpp"

namespace waitline::app {

class Telemetry;

struct ApiSettings {
  bool legacy_get = true;  // GET on /get_ticket and /call_ticket, as the original accepted
  bool access_log = true;
};

class Api final : public http::Handler {
 public:
  // `keys` null: authentication is off (--insecure-no-auth).
  Api(queue::TicketQueue& queue, const auth::KeyStore* keys, Telemetry& telemetry, ApiSettings settings);

  boost::asio::awaitable<http::Response> handle(http::Request& request) override;
  http::Response reject(http::Status status, std::string_view code, std::string_view message) override;

  // Public so that the listing limit can be tested without a server.
  static constexpr std::int64_t default_limit = 100;
  static constexpr std::int64_t max_limit = 1000;

 private:
  using Run = boost::asio::awaitable<http::Response> (Api::*)(std::string_view query);
  struct Endpoint {
    Run run;
    unsigned scope;  // 0: public
  };

  boost::asio::awaitable<http::Response> take(std::string_view query);
  boost::asio::awaitable<http::Response> call(std::string_view query);
  boost::asio::awaitable<http::Response> list(std::string_view query);
  http::Response failed(queue::Failure failure, std::string_view detail) const;

  queue::TicketQueue& queue_;
  const auth::KeyStore* keys_;
  Telemetry& telemetry_;
  ApiSettings settings_;
  http::Router<Endpoint> router_;
};

// The error body every failure carries: {"error":{"code":"...","message":"..."}}.
http::Response error_response(http::Status status, std::string_view code, std::string_view message);

}  // namespace waitline::app
