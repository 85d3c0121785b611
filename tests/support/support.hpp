// Real parts for integration tests: a redis-server on a free port, waitline processes, and a
// blocking HTTP/1.1 client. Every object cleans up after itself (processes killed, dirs removed).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace waitline::test {

// A TCP port that was free a moment ago on 127.0.0.1.
std::uint16_t free_port();

// A child process with its stdout and stderr captured to files in a private temp directory.
class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&&) noexcept;

  void signal(int signo) const;
  // Exit status (or 128 + signal); throws if still running after `timeout`.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running();
  int pid() const noexcept { return pid_; }
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  std::filesystem::path dir_;
};

// Runs a command to completion: {exit status, stdout + stderr}.
struct RunResult {
  int status;
  std::string output;
};
RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
              std::string_view stdin_text = {});

// redis-server on a free port, data in a private temp directory, no persistence unless asked.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  std::uint16_t port() const noexcept { return port_; }
  void stop();   // SIGTERM and wait; the port stays reserved for restart()
  void start();  // again on the same port; waits until it answers PING
  // redis-cli against this server; returns its stdout without the trailing newline.
  std::string cli(std::vector<std::string> args) const;

 private:
  std::uint16_t port_;
  std::filesystem::path dir_;
  std::vector<std::string> extra_args_;
  std::unique_ptr<Process> process_;
};

struct Response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const;
};

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port; reconnects when the server closed it.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port);
  ~HttpClient();
  Response request(std::string_view method, std::string_view target,
                   std::map<std::string, std::string> headers = {}, std::string body = {});
  Response get(std::string_view target, std::map<std::string, std::string> headers = {}) {
    return request("GET", target, std::move(headers));
  }
  Response post(std::string_view target, std::map<std::string, std::string> headers = {}) {
    return request("POST", target, std::move(headers));
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Raw bytes to 127.0.0.1:port; returns everything the server sent until it closed or `timeout`.
std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The waitline binary under test with its own redis settings; waits until /livez answers.
class Service {
 public:
  struct Options {
    std::uint16_t redis_port = 0;
    std::string queue = "rubis";
    // `{}` initializers let GCC 12 -Wextra accept designated initializers that omit these.
    std::vector<std::string> extra_args{};  // e.g. {"--insecure-no-auth"}
    std::map<std::string, std::string> env{};
    bool wait_ready = true;  // also wait for /readyz (Redis reachable)
  };
  explicit Service(Options options);
  std::uint16_t port() const noexcept { return port_; }
  std::uint16_t admin_port() const noexcept { return admin_port_; }
  Process& process() noexcept { return process_; }

 private:
  std::uint16_t port_, admin_port_;
  Process process_;
};

// Path of the waitline binary (set by CMake at build time).
std::string waitline_binary();

}  // namespace waitline::test
