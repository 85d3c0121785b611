// The admin listener: liveness, readiness and metrics, for the orchestrator and Prometheus only.
//
//   Admin admin(telemetry, redis, draining);
//   Pipeline pipeline(admin.routes(), telemetry, {.listener = Listener::admin});
#pragma once

#include <atomic>
#include <vector>

#include "app/pipeline.hpp"
#include "redis/client.hpp"

namespace waitline::app {

class Admin {
 public:
  // Ready means: Redis answers and the process is not shutting down.
  Admin(Telemetry& telemetry, const redis::Client& redis, const std::atomic<bool>& draining);

  std::vector<Route> routes();

 private:
  http::Response readyz() const;

  Telemetry& telemetry_;
  const redis::Client& redis_;
  const std::atomic<bool>& draining_;
};

}  // namespace waitline::app
