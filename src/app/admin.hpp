// The admin listener: liveness, readiness and metrics, for the orchestrator and Prometheus only.
//
//   Admin admin(telemetry, [&] { return redis.connected(); }, draining);
//   Pipeline pipeline(admin.routes(), telemetry, {.listener = Listener::admin});
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "app/pipeline.hpp"

namespace waitline::app {

class Admin {
 public:
  // Ready means: the process's Redis connections are up and it is not shutting down.
  Admin(Telemetry& telemetry, std::function<bool()> redis_connected, const std::atomic<bool>& draining);

  std::vector<Route> routes();

 private:
  http::Response readyz() const;

  Telemetry& telemetry_;
  std::function<bool()> redis_connected_;
  const std::atomic<bool>& draining_;
};

}  // namespace waitline::app
