#include "app/process.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <system_error>
#include <thread>
#include <utility>

#include "app/api.hpp"
#include "app/cpus.hpp"
#include "docs/docs.hpp"
#include "log/log.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto log_flush_interval = 200ms;
// The waiting-count gauge follows every operation; this refresh covers other replicas' changes.
constexpr auto waiting_refresh_interval = 5s;

std::string read_secret_file(const std::string& path, std::string_view flag) {
  // stdio, as the key file: a read error (e.g. of a directory, which opens fine) is ferror(),
  // where an ifstream iterator would throw from inside libstdc++.
  const auto cannot_read = [&] {
    return StartupError(std::string(flag) + ": cannot read \"" + path +
                        "\": " + std::generic_category().message(errno));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw cannot_read();
  std::string secret;
  char buffer[4096];
  while (const auto count = std::fread(buffer, 1, sizeof buffer, file.get())) secret.append(buffer, count);
  if (std::ferror(file.get())) throw cannot_read();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw StartupError(std::string(flag) + ": \"" + path + "\" is empty");
  return secret;
}

docs::Served served(const config::Config& cfg) {
  return {.legacy_get = cfg.api.legacy_get,
          .authentication = !cfg.insecure_no_auth,
          .key_limit = cfg.rate_limits.key,
          .client_limit = cfg.rate_limits.client,
          .max_queue_length = cfg.queue.max_length};
}

redis::Options with_password(redis::Options options, const std::string& password_file) {
  if (!password_file.empty()) options.password = read_secret_file(password_file, "--redis-password-file");
  return options;
}

asio::awaitable<void> every(asio::steady_timer& timer, std::chrono::milliseconds period, auto action) {
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    co_await action();
  }
}

}  // namespace

struct Process::Worker {
  Worker(Process& process, std::size_t index)
      : redis(
            io.get_executor(), process.redis_options_,
            [&process](std::string_view label, std::chrono::nanoseconds took) {
              process.telemetry_.redis_command(label, took);
            },
            [&process, index](const redis::StateChange& change) { process.redis_state(index, change); }),
        queue(redis, process.cfg_.queue_name, process.cfg_.queue, process.telemetry_),
        api({.queue = queue,
             .hub = process.hub_,
             .lane = index,
             .secrets = process.secrets_,
             .telemetry = process.telemetry_,
             .draining = process.draining_,
             .openapi = process.openapi_},
            process.cfg_.api),
        pipeline(api.routes(), process.telemetry_,
                 {.listener = Listener::api,
                  .keys = process.keys_.get(),
                  .secrets = &process.secrets_,
                  .access_log = process.cfg_.access_log,
                  .admission = process.limiter_.active() ? &process.limiter_ : nullptr}) {
    process.hub_.attach(index, io.get_executor());
  }

  asio::io_context io{1};
  redis::Client redis;
  queue::TicketQueue queue;
  Api api;
  Pipeline pipeline;
};

Process::Process(const config::Config& cfg)
    : cfg_(cfg),
      threads_(cfg.threads ? cfg.threads : usable_cpus()),
      telemetry_(cfg.queue_name),
      keys_(cfg.api_keys_file.empty() ? nullptr : std::make_unique<auth::KeyStore>(cfg.api_keys_file)),
      secrets_(cfg.ticket_secret_file.empty() ? auth::SecretStore(auth::Signer::random())
                                              : auth::SecretStore(cfg.ticket_secret_file)),
      limiter_(cfg.rate_limits, telemetry_),
      redis_options_(with_password(cfg.redis, cfg.redis_password_file)),
      openapi_(docs::openapi(served(cfg))),
      hub_(cfg.queue_name, threads_, cfg.events, telemetry_),
      workers_(make_workers()),
      // The events reader's connection waits in XREAD BLOCK: its timeout covers the block.
      events_redis_(main_io().get_executor(), events_redis_options(), {},
                    [this](const redis::StateChange& change) { redis_state(threads_, change); }),
      events_queue_(events_redis_, cfg.queue_name, cfg.queue, telemetry_),
      admin_(
          telemetry_, [this] { return all_connected(); }, draining_),
      admin_pipeline_(admin_.routes(), telemetry_, {.listener = Listener::admin, .access_log = cfg.access_log}),
      api_server_(lanes(), cfg.listen, cfg.http),
      admin_server_({{main_io(), admin_pipeline_}}, cfg.admin_listen, cfg.http),
      signals_(main_io(), SIGTERM, SIGINT, SIGHUP),
      flush_timer_(main_io()),
      refresh_timer_(main_io()),
      drain_timer_(main_io()) {
  if (keys_) telemetry_.api_keys(keys_->current()->size());
  warn_about_settings();
}

Process::~Process() = default;

void Process::warn_about_settings() const {
  if (keys_ && keys_->current()->size() == 0) {
    log::warn("the API key file holds no key: every API call will be answered 401", {{"file", cfg_.api_keys_file}});
  }
  if (!keys_) {
    log::warn("authentication is OFF (--insecure-no-auth): anyone who reaches the API can take and call tickets");
  }
  if (cfg_.ticket_secret_file.empty()) {
    log::warn(
        "no --ticket-secret-file: ticket links and sessions are signed with a secret of this process only; "
        "other replicas do not accept them and a restart voids them");
  }
}

int Process::run() {
  api_server_.start();
  admin_server_.start();
  for (auto& worker : workers_) worker->redis.start();
  events_redis_.start();
  asio::co_spawn(main_io(), hub_.follow(events_queue_), asio::detached);
  wait_signal();
  start_timers();
  log::info("waitline started", {{"queue", cfg_.queue_name},
                                 {"listen", cfg_.listen.host + ":" + std::to_string(api_server_.port())},
                                 {"admin_listen", cfg_.admin_listen.host + ":" + std::to_string(admin_server_.port())},
                                 {"redis", redis_target()},
                                 {"threads", std::int64_t{threads_}},
                                 {"version", WAITLINE_VERSION}});

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) threads.emplace_back([&io = workers_[i]->io] { io.run(); });
  main_io().run();
  for (auto& t : threads) t.join();
  log::info("waitline stopped", {{"clean", exit_status_ == 0}});
  log::flush();
  return exit_status_;
}

void Process::start_timers() {
  asio::co_spawn(main_io(),
                 every(flush_timer_, log_flush_interval,
                       []() -> asio::awaitable<void> {
                         log::flush();
                         co_return;
                       }),
                 asio::detached);
  asio::co_spawn(main_io(),
                 every(refresh_timer_, waiting_refresh_interval,
                       [this]() -> asio::awaitable<void> {
                         auto& worker = *workers_.front();
                         if (worker.redis.connected()) co_await worker.queue.size();
                       }),
                 asio::detached);
}

std::vector<std::unique_ptr<Process::Worker>> Process::make_workers() {
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t i = 0; i < threads_; ++i) workers.push_back(std::make_unique<Worker>(*this, i));
  return workers;
}

std::vector<http::Lane> Process::lanes() {
  std::vector<http::Lane> lanes;
  for (auto& worker : workers_) lanes.push_back({worker->io, worker->pipeline});
  return lanes;
}

asio::io_context& Process::main_io() { return workers_.front()->io; }

redis::Options Process::events_redis_options() const {
  redis::Options options = redis_options_;
  options.timeout += cfg_.events.block;
  return options;
}

// Each connection reports here, from its own thread, once its state has changed; Redis is up
// when all of them are. Under the lock, so that the last report sets the gauge, and so that the
// first connection to find the primary somewhere else says so once.
void Process::redis_state(std::size_t connection, const redis::StateChange& change) {
  std::string moved_from;
  {
    std::lock_guard lock(redis_state_mutex_);
    telemetry_.redis_up(all_connected());
    if (change.connected && change.server != redis_server_) {
      moved_from = std::exchange(redis_server_, std::string(change.server));
      if (!moved_from.empty()) telemetry_.redis_primary_moved();
    }
  }
  const auto number = static_cast<std::int64_t>(connection + 1);
  if (!change.connected) {
    log::warn("redis unavailable", {{"reason", change.reason}, {"connection", number}});
    return;
  }
  log::info("redis connected", {{"redis", change.server}, {"connection", number}});
  if (!moved_from.empty())
    log::warn("redis primary moved: following it", {{"from", moved_from}, {"to", change.server}});
}

// What the log names as the Redis the process uses: the server, or the Sentinels and the name.
std::string Process::redis_target() const {
  if (cfg_.redis.sentinels.empty()) return cfg_.redis.host + ":" + std::to_string(cfg_.redis.port);
  std::string sentinels;
  for (const auto& sentinel : cfg_.redis.sentinels) {
    if (!sentinels.empty()) sentinels += ',';
    sentinels += sentinel.text();
  }
  return cfg_.redis.primary_name + " via sentinels " + sentinels;
}

bool Process::all_connected() const {
  return events_redis_.connected() &&
         std::ranges::all_of(workers_, [](const auto& worker) { return worker->redis.connected(); });
}

void Process::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      reload();
      wait_signal();
    } else if (!draining_) {
      begin_shutdown(signo);
      wait_signal();
    } else {
      log::warn("second signal: stopping now", {{"signal", std::int64_t{signo}}});
      exit_status_ = 1;
      stop();
    }
  });
}

// SIGHUP: the key file and the ticket secret file, each kept as it was when it does not parse.
void Process::reload() {
  reload_keys();
  if (cfg_.ticket_secret_file.empty()) return;
  try {
    secrets_.reload();
    log::info("ticket secret reloaded", {{"file", cfg_.ticket_secret_file}});
  } catch (const std::exception& e) {
    log::error("ticket secret not reloaded; the previous one stays in force", {{"error", e.what()}});
  }
}

void Process::reload_keys() {
  if (!keys_) {
    log::warn("SIGHUP: no --api-keys-file to reload");
    return;
  }
  try {
    keys_->reload();
    telemetry_.api_keys_reload(true);
    telemetry_.api_keys(keys_->current()->size());
    log::info("API keys reloaded",
              {{"file", keys_->path()}, {"keys", static_cast<std::int64_t>(keys_->current()->size())}});
  } catch (const std::exception& e) {
    telemetry_.api_keys_reload(false);
    log::error("API keys not reloaded; the previous keys stay in force", {{"error", e.what()}});
  }
}

// Readiness fails at once; no new connection is accepted; requests in flight finish.
void Process::begin_shutdown(int signo) {
  draining_ = true;
  log::info("shutting down", {{"signal", std::int64_t{signo}},
                              {"connections", static_cast<std::int64_t>(api_server_.connections())},
                              {"event_streams", static_cast<std::int64_t>(hub_.streams())}});
  api_server_.drain();
  // Streams end with a retry hint: their clients reconnect, to another replica by then.
  hub_.close();
  asio::co_spawn(main_io(), drain(), asio::detached);
}

asio::awaitable<void> Process::drain() {
  const auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
  while (api_server_.connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    drain_timer_.expires_after(10ms);
    co_await drain_timer_.async_wait(use_tuple);
  }
  if (api_server_.connections() > 0) {
    log::warn("shutdown timeout: closing connections still busy",
              {{"connections", static_cast<std::int64_t>(api_server_.connections())}});
    exit_status_ = 1;
  }
  stop();
}

void Process::stop() {
  admin_server_.drain();
  signals_.cancel();
  flush_timer_.cancel();
  refresh_timer_.cancel();
  events_redis_.stop();
  for (auto& worker : workers_) {
    worker->redis.stop();
    worker->io.stop();
  }
}

}  // namespace waitline::app
