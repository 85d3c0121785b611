// The admin listener: liveness, readiness and metrics, for the orchestrator and Prometheus only.
#pragma once

#include <atomic>

#include "http/router.hpp"
#include "http/server.hpp"
#include "redis/client.hpp"

namespace waitline::app {

class Telemetry;

class Admin final : public http::Handler {
 public:
  // Ready means: Redis answers and the process is not shutting down.
  Admin(Telemetry& telemetry, const redis::Client& redis, const std::atomic<bool>& draining);

  boost::asio::awaitable<http::Response> handle(http::Request& request) override;
  http::Response reject(http::Status status, std::string_view code, std::string_view message) override;

 private:
  using Run = http::Response (Admin::*)() const;
  http::Response livez() const;
  http::Response readyz() const;
  http::Response metrics() const;

  Telemetry& telemetry_;
  const redis::Client& redis_;
  const std::atomic<bool>& draining_;
  http::Router<Run> router_;
};

}  // namespace waitline::app
