// Real parts for integration tests: a redis-server on a free port, waitline processes, and a
// blocking HTTP/1.1 client. Every object cleans up after itself (processes killed, dirs removed).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
  void kill();   // SIGKILL and wait, as a crash: no shutdown save; start() brings it back
  // Signals the running redis-server (SIGSTOP stalls it, SIGCONT resumes it); no-op when stopped.
  void signal(int signo) const;
  int pid() const noexcept;                                           // of the running redis-server, -1 when stopped
  const std::filesystem::path& dir() const noexcept { return dir_; }  // its --dir
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
  unsigned version = 11;  // 10 for HTTP/1.0
  std::string header(const std::string& name) const;
};

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port; reconnects when the server closed it.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port);
  ~HttpClient();
  Response request(std::string_view method, std::string_view target, std::map<std::string, std::string> headers = {},
                   std::string body = {});
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

// The first complete HTTP response at the start of `bytes`, or nullopt while it is incomplete;
// `consumed` gets its length. `at_eof`: the peer closed after `bytes` (ends a body sent without
// Content-Length). Throws std::runtime_error when the bytes are not an HTTP response.
std::optional<Response> parse_response(std::string_view bytes, std::size_t* consumed = nullptr, bool at_eof = false);
// Every complete response in `bytes`, in order; `rest` gets the bytes that follow them.
std::vector<Response> parse_responses(std::string_view bytes, std::string* rest = nullptr);

// A plain TCP connection to 127.0.0.1:port, for tests that must see exactly what happens on the
// wire: a refused connect, a reset, a close before any answer byte, a request sent in pieces.
class RawConnection {
 public:
  // Throws std::system_error with the connect errno (ECONNREFUSED when nothing listens).
  // `receive_buffer`: SO_RCVBUF set before connecting (0: the system's), for a client that must
  // stop taking bytes early.
  explicit RawConnection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                         int receive_buffer = 0);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends every byte; returns 0, or the errno (EPIPE, ECONNRESET) when the peer is gone.
  int send(std::string_view bytes);
  struct Read {
    std::string bytes;       // what arrived
    bool eof = false;        // the peer closed cleanly (FIN)
    int error = 0;           // errno of a failed read, ECONNRESET typically
    bool timed_out = false;  // the deadline passed with the connection still open
    bool closed() const { return eof || error != 0; }
  };
  // Waits up to `timeout` for some bytes (or the end of the connection), then returns them.
  Read read_some(std::chrono::milliseconds timeout);
  // Reads until the peer closes or fails, or `timeout` has passed in total.
  Read read_until_close(std::chrono::milliseconds timeout);
  // Reads until one complete response is in hand (bytes after it stay buffered for the next
  // call), the connection ends, or `timeout` passes. `response` is set only when complete.
  Read read_response(std::chrono::milliseconds timeout, std::optional<Response>& response);
  void shutdown_write();  // half-close: the server sees the end of the request stream
  void close();           // closes now (FIN)
  void reset();           // closes with SO_LINGER 0: the server gets a RST

 private:
  // Reads until `done(total so far, whether the peer closed)` holds, the connection ends, or
  // `timeout` passes in total.
  Read read_until(std::chrono::milliseconds timeout, const std::function<bool(const Read& total, bool closed)>& done);

  int fd_ = -1;
  std::string pending_;  // bytes read past a response
};

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
