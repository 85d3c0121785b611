#include "app/app.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>

#include "app/admin.hpp"
#include "app/api.hpp"
#include "app/cpus.hpp"
#include "app/limiter.hpp"
#include "app/telemetry.hpp"
#include "auth/auth.hpp"
#include "auth/tokens.hpp"
#include "events/hub.hpp"
#include "http/server.hpp"
#include "log/log.hpp"
#include "queue/queue.hpp"
#include "redis/client.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto log_flush_interval = 200ms;
// The waiting-count gauge follows every operation; this refresh covers other replicas' changes.
constexpr auto waiting_refresh_interval = 5s;

// Settings errors found at start-up end the process with status 2, as bad flags do.
struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string read_secret_file(const std::string& path, std::string_view flag) {
  // stdio, as the key file: a read error (e.g. of a directory, which opens fine) is ferror(),
  // where an ifstream iterator would throw from inside libstdc++.
  const auto cannot_read = [&] {
    return StartupError(std::string(flag) + ": cannot read \"" + path + "\": " +
                        std::generic_category().message(errno));
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

asio::awaitable<void> every(asio::steady_timer& timer, std::chrono::milliseconds period, auto action) {
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    co_await action();
  }
}

class Process {
 public:
  explicit Process(const config::Config& cfg)
      : cfg_(cfg),
        threads_(cfg.threads ? cfg.threads : usable_cpus()),
        telemetry_(cfg.queue_name),
        keys_(cfg.api_keys_file.empty() ? nullptr : std::make_unique<auth::KeyStore>(cfg.api_keys_file)),
        secrets_(cfg.ticket_secret_file.empty() ? auth::SecretStore(auth::Signer::random())
                                                : auth::SecretStore(cfg.ticket_secret_file)),
        limiter_(rate_limits(cfg), telemetry_),
        redis_options_(redis_options(cfg)),
        hub_(cfg.queue_name, threads_,
             {.max_streams = cfg.max_event_streams, .keepalive = cfg.events_keepalive}, telemetry_),
        workers_(make_workers()),
        // The events reader's connection waits in XREAD BLOCK: its timeout covers the block.
        events_redis_(main_io().get_executor(), events_redis_options(), {},
                      [this](bool up, std::string_view reason) { redis_state(threads_, up, reason); }),
        events_queue_(events_redis_, cfg.queue_name, queue_options(cfg), telemetry_),
        admin_(telemetry_, [this] { return all_connected(); }, draining_),
        admin_pipeline_(admin_.routes(), telemetry_, {.listener = Listener::admin, .access_log = cfg.access_log}),
        api_server_(lanes(), cfg.listen, limits(cfg)),
        admin_server_({{main_io(), admin_pipeline_}}, cfg.admin_listen, limits(cfg)),
        signals_(main_io(), SIGTERM, SIGINT, SIGHUP),
        flush_timer_(main_io()),
        refresh_timer_(main_io()),
        drain_timer_(main_io()) {
    if (keys_) {
      telemetry_.api_keys(keys_->current()->size());
      if (keys_->current()->size() == 0) log::warn("the API key file holds no key: every API call will be refused",
                                                   {{"file", cfg.api_keys_file}});
    } else {
      log::warn("authentication is OFF (--insecure-no-auth): anyone who reaches the API can take and call tickets");
    }
    if (cfg.ticket_secret_file.empty())
      log::warn("no --ticket-secret-file: ticket links and sessions are signed with a secret of this process only; "
                "other replicas refuse them and a restart voids them");
  }

  int run() {
    api_server_.start();
    admin_server_.start();
    for (auto& worker : workers_) worker->redis.start();
    events_redis_.start();
    asio::co_spawn(main_io(), hub_.follow(events_queue_), asio::detached);
    wait_signal();
    asio::co_spawn(main_io(), every(flush_timer_, log_flush_interval, []() -> asio::awaitable<void> {
      log::flush();
      co_return;
    }), asio::detached);
    asio::co_spawn(main_io(), every(refresh_timer_, waiting_refresh_interval, [this]() -> asio::awaitable<void> {
      auto& worker = *workers_.front();
      if (worker.redis.connected()) co_await worker.queue.size();
    }), asio::detached);
    log::info("waitline started", {{"queue", cfg_.queue_name},
                                   {"listen", cfg_.listen.host + ":" + std::to_string(api_server_.port())},
                                   {"admin_listen", cfg_.admin_listen.host + ":" + std::to_string(admin_server_.port())},
                                   {"redis", cfg_.redis_host + ":" + std::to_string(cfg_.redis_port)},
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

 private:
  // One per thread: an event loop with its own Redis connection and API pipeline, so a request is
  // read, run and answered on one thread, without a lock or a hand-off between threads. What the
  // threads share (keys, limits, metrics, the log) is thread-safe. The first worker's loop also
  // runs the admin listener, the signals and the timers.
  struct Worker {
    Worker(Process& process, std::size_t index)
        : redis(io.get_executor(), process.redis_options_,
                [&process](std::string_view label, std::chrono::nanoseconds took) {
                  process.telemetry_.redis_command(label, took);
                },
                [&process, index](bool up, std::string_view reason) { process.redis_state(index, up, reason); }),
          queue(redis, process.cfg_.queue_name, queue_options(process.cfg_), process.telemetry_),
          api({.queue = queue, .hub = process.hub_, .lane = index, .secrets = process.secrets_,
               .telemetry = process.telemetry_, .draining = process.draining_},
              {.legacy_get = process.cfg_.legacy_get,
               .session_ttl = std::chrono::duration_cast<std::chrono::seconds>(process.cfg_.session_ttl),
               .keepalive = process.cfg_.events_keepalive}),
          pipeline(api.routes(), process.telemetry_,
                   {.listener = Listener::api, .keys = process.keys_.get(), .secrets = &process.secrets_,
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

  std::vector<std::unique_ptr<Worker>> make_workers() {
    std::vector<std::unique_ptr<Worker>> workers;
    for (std::size_t i = 0; i < threads_; ++i) workers.push_back(std::make_unique<Worker>(*this, i));
    return workers;
  }

  std::vector<http::Lane> lanes() {
    std::vector<http::Lane> lanes;
    for (auto& worker : workers_) lanes.push_back({worker->io, worker->pipeline});
    return lanes;
  }

  asio::io_context& main_io() { return workers_.front()->io; }

  static redis::Options redis_options(const config::Config& cfg) {
    redis::Options o;
    o.host = cfg.redis_host;
    o.port = cfg.redis_port;
    o.username = cfg.redis_username;
    if (!cfg.redis_password_file.empty()) o.password = read_secret_file(cfg.redis_password_file, "--redis-password-file");
    o.timeout = cfg.redis_timeout;
    return o;
  }

  static queue::Options queue_options(const config::Config& cfg) {
    return {.idempotency_ttl = cfg.idempotency_ttl,
            .max_length = cfg.max_queue_length,
            .events_retention = cfg.events_retention};
  }

  redis::Options events_redis_options() const {
    redis::Options o = redis_options_;
    o.timeout += events::Options{}.block;
    return o;
  }

  static http::Limits limits(const config::Config& cfg) {
    return {.header_timeout = cfg.header_timeout,
            .idle_timeout = cfg.idle_timeout,
            .max_header_bytes = cfg.max_header_bytes,
            .max_body_bytes = cfg.max_body_bytes,
            .max_connections = cfg.max_connections};
  }

  static ratelimit::Options rate_limits(const config::Config& cfg) {
    return {.key = {.per_second = cfg.rate_limit_key, .burst = cfg.rate_limit_key_burst},
            .client = {.per_second = cfg.rate_limit_client, .burst = cfg.rate_limit_client_burst},
            .trusted_proxies = cfg.trusted_proxies};
  }

  // Each worker's connection reports here, from its own thread, once its state has changed;
  // Redis is up when all of them are. Under the lock, so that the last report sets the gauge.
  void redis_state(std::size_t worker, bool up, std::string_view reason) {
    {
      std::lock_guard lock(redis_state_mutex_);
      telemetry_.redis_up(all_connected());
    }
    const auto connection = static_cast<std::int64_t>(worker + 1);
    if (up) log::info("redis connected", {{"redis", cfg_.redis_host + ":" + std::to_string(cfg_.redis_port)},
                                          {"connection", connection}});
    else log::warn("redis unavailable", {{"reason", reason}, {"connection", connection}});
  }

  bool all_connected() const {
    return events_redis_.connected() &&
           std::ranges::all_of(workers_, [](const auto& worker) { return worker->redis.connected(); });
  }

  void wait_signal() {
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
  void reload() {
    reload_keys();
    if (cfg_.ticket_secret_file.empty()) return;
    try {
      secrets_.reload();
      log::info("ticket secret reloaded", {{"file", cfg_.ticket_secret_file}});
    } catch (const std::exception& e) {
      log::error("ticket secret not reloaded; the previous one stays in force", {{"error", e.what()}});
    }
  }

  void reload_keys() {
    if (!keys_) {
      log::warn("SIGHUP: no --api-keys-file to reload");
      return;
    }
    try {
      keys_->reload();
      telemetry_.api_keys_reload(true);
      telemetry_.api_keys(keys_->current()->size());
      log::info("API keys reloaded", {{"file", keys_->path()}, {"keys", static_cast<std::int64_t>(keys_->current()->size())}});
    } catch (const std::exception& e) {
      telemetry_.api_keys_reload(false);
      log::error("API keys not reloaded; the previous keys stay in force", {{"error", e.what()}});
    }
  }

  // Readiness fails at once; no new connection is accepted; requests in flight finish.
  void begin_shutdown(int signo) {
    draining_ = true;
    log::info("shutting down", {{"signal", std::int64_t{signo}}, {"connections", static_cast<std::int64_t>(api_server_.connections())},
                                {"event_streams", static_cast<std::int64_t>(hub_.streams())}});
    api_server_.drain();
    // Streams end with a retry hint: their clients reconnect, to another replica by then.
    hub_.close();
    auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
    asio::co_spawn(main_io(), [this, deadline]() -> asio::awaitable<void> {
      while (api_server_.connections() > 0 && std::chrono::steady_clock::now() < deadline) {
        drain_timer_.expires_after(10ms);
        co_await drain_timer_.async_wait(use_tuple);
      }
      if (api_server_.connections() > 0) {
        log::warn("shutdown timeout: closing connections still busy", {{"connections", static_cast<std::int64_t>(api_server_.connections())}});
        exit_status_ = 1;
      }
      stop();
    }, asio::detached);
  }

  void stop() {
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

  const config::Config& cfg_;
  std::atomic<bool> draining_{false};
  int exit_status_ = 0;
  const unsigned threads_;  // --threads, or read once from the affinity mask and cgroup (app/cpus.hpp)
  Telemetry telemetry_;
  std::unique_ptr<auth::KeyStore> keys_;
  auth::SecretStore secrets_;
  RateLimiter limiter_;
  const redis::Options redis_options_;
  std::mutex redis_state_mutex_;
  // Before the workers: their streams' subscriptions leave the hub as their event loops end.
  events::Hub hub_;
  std::vector<std::unique_ptr<Worker>> workers_;
  redis::Client events_redis_;
  queue::TicketQueue events_queue_;
  Admin admin_;
  Pipeline admin_pipeline_;
  http::Server api_server_;
  http::Server admin_server_;
  asio::signal_set signals_;
  asio::steady_timer flush_timer_, refresh_timer_, drain_timer_;
};

}  // namespace

int serve(const config::Config& cfg) {
  std::optional<Process> process;
  try {
    process.emplace(cfg);
  } catch (const StartupError& e) {
    std::cerr << "waitline: " << e.what() << "\n";
    return 2;
  } catch (const auth::KeyFileError& e) {
    std::cerr << "waitline: --api-keys-file: " << e.what() << "\n";
    return 2;
  } catch (const auth::SecretFileError& e) {
    std::cerr << "waitline: --ticket-secret-file: " << e.what() << "\n";
    return 2;
  }
  try {
    return process->run();
  } catch (const std::system_error& e) {
    std::cerr << "waitline: " << e.what() << "\n";
    return 1;
  }
}

int healthcheck(const config::Config& cfg) {
  namespace beast = boost::beast;
  // The admin listener binds all addresses by default; the check goes through loopback then.
  std::string host = cfg.admin_listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(3s);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address(host), cfg.admin_listen.port));
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get, "/readyz", 11};
    req.set(beast::http::field::host, host);
    beast::http::write(stream, req);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(stream, buffer, res);
    if (res.result() == beast::http::status::ok) return 0;
    std::cerr << "waitline healthcheck: not ready: " << res.body() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "waitline healthcheck: " << host << ":" << cfg.admin_listen.port << ": " << e.what() << "\n";
  }
  return 1;
}

int hash_key(int argc, const char* const* argv) {
  std::string name, scopes, key;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (arg.starts_with(std::string(flag) + "=")) return std::string(arg.substr(flag.size() + 1));
      if (arg == flag && i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (auto v = value("--name")) name = *v;
    else if (auto s = value("--scopes")) scopes = *s;
    else if (auto k = value("--key")) key = *k;
    else {
      std::cerr << "waitline hash-key: unexpected argument \"" << arg
                << "\"; usage: waitline hash-key --name NAME --scopes take,call,read [--key KEY|-]\n";
      return 2;
    }
  }
  if (key == "-") std::getline(std::cin, key);
  unsigned parsed = 0;
  try {
    parsed = auth::parse_scopes(scopes);
  } catch (const std::invalid_argument& e) {
    std::cerr << "waitline hash-key: --scopes: " << e.what() << "\n";
    return 2;
  }
  std::string line = auth::key_line(name, parsed, key.empty() ? (key = auth::generate_key()) : key);
  // The line must load: this checks the name with the key file's own rules.
  try {
    auth::KeyTable::parse(line, "--name");
  } catch (const auth::KeyFileError& e) {
    std::cerr << "waitline hash-key: " << e.what() << "\n";
    return 2;
  }
  std::cout << "# key (give it to the client; it is stored nowhere else):\n"
            << key << "\n# line for the keys file:\n"
            << line << "\n";
  return 0;
}

}  // namespace waitline::app
