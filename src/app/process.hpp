// The serving process: built from the settings, run until SIGTERM or SIGINT; SIGHUP reloads the
// API keys and the ticket secret.
//
//   app::Process process(cfg);   // reads the files the settings name; throws StartupError,
//                                // auth::KeyFileError or auth::SecretFileError
//   return process.run();        // the exit status: 0 after a clean drain
//
// One worker per thread: an event loop with its own Redis connection and API pipeline, so that a
// request is read, run and answered on one thread, without a lock or a hand-off between threads.
// What the workers share (keys, limits, metrics, the live events' hub, the log) is thread-safe. The
// first worker's loop also runs the admin listener, the events reader, the signals and the timers.
#pragma once

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "app/admin.hpp"
#include "app/limiter.hpp"
#include "app/pipeline.hpp"
#include "app/telemetry.hpp"
#include "auth/auth.hpp"
#include "auth/tokens.hpp"
#include "config/config.hpp"
#include "events/hub.hpp"
#include "http/server.hpp"
#include "queue/queue.hpp"
#include "redis/client.hpp"

namespace waitline::app {

// A file named by the settings cannot be used: the process exits with status 2, as for bad flags.
struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Process {
 public:
  explicit Process(const config::Config& cfg);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int run();

 private:
  struct Worker;

  std::vector<std::unique_ptr<Worker>> make_workers();
  std::vector<http::Lane> lanes();
  boost::asio::io_context& main_io();
  redis::Options events_redis_options() const;
  void warn_about_settings() const;
  void start_timers();
  void redis_state(std::size_t connection, const redis::StateChange& change);
  std::string redis_target() const;
  bool all_connected() const;
  void wait_signal();
  void reload();
  void reload_keys();
  void begin_shutdown(int signo);
  boost::asio::awaitable<void> drain();
  void stop();

  const config::Config& cfg_;
  std::atomic<bool> draining_{false};
  int exit_status_ = 0;
  const unsigned threads_;  // --threads, or read once from the affinity mask and cgroup (app/cpus.hpp)
  Telemetry telemetry_;
  std::unique_ptr<auth::KeyStore> keys_;
  auth::SecretStore secrets_;
  RateLimiter limiter_;
  const redis::Options redis_options_;  // the settings' with the password file read
  const std::string openapi_;           // the OpenAPI document these settings serve
  std::mutex redis_state_mutex_;
  std::string redis_server_;  // where the connections last found Redis (the primary, with Sentinel)
  // Before the workers: their streams' subscriptions leave the hub as their event loops end.
  events::Hub hub_;
  std::vector<std::unique_ptr<Worker>> workers_;
  redis::Client events_redis_;
  queue::TicketQueue events_queue_;
  Admin admin_;
  Pipeline admin_pipeline_;
  http::Server api_server_;
  http::Server admin_server_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer flush_timer_, refresh_timer_, drain_timer_;
};

}  // namespace waitline::app
