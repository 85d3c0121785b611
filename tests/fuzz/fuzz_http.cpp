// libFuzzer target: HTTP request handling, as `waitline serve` runs it (app::serve).
//
//   build-fuzz/tests/fuzz/fuzz_http tests/fuzz/corpus/fuzz_http    (make test-fuzz runs it)
//
// At its first input the target starts a redis-server on a free loopback port and the whole
// service in a thread (listeners, parser limits, router, authentication, handlers, queue, access
// log), with request limits small enough for 413/414/431 to be in reach of an input. Each input
// is sent as raw bytes on a new connection, which is then half-closed; the target reads what the
// service sends until it closes. Properties:
// - the service closes the connection after the input's end (within 2 minutes), without a reset;
// - it sends one response per request that Beast's parser, with the service's limits, reads from
//   the input, a refusal (400, 413, 414, 431) for a request it cannot read, and nothing after a
//   response that closes the connection; each response answers its request's HTTP version and
//   keep-alive (an event stream ends with the input and closes the connection);
// - no answer is a 5xx other than 503 or 504; an error answer carries the JSON error body
//   {"error":{"code":"...","message":"..."}}, a 401 WWW-Authenticate, a 405 Allow, a 503
//   Retry-After;
// - every line the service logs (stdout) is one JSON object.
// FUZZ_HTTP_SHOW=1 prints each exchange, to read what a reproducer did:
//   FUZZ_HTTP_SHOW=1 build-fuzz/tests/fuzz/fuzz_http <crash file>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/app.hpp"
#include "auth/auth.hpp"
#include "check.hpp"
#include "config/config.hpp"
#include "log/log.hpp"

namespace {

namespace auth = waitline::auth;
namespace config = waitline::config;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fuzz::check;

[[noreturn]] void setup_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz_http: %s\n", what.c_str());
  std::abort();
}

// --- The service and its Redis ------------------------------------------------------------------

// `count` distinct TCP ports that were free a moment ago on 127.0.0.1 (held together while
// chosen, so that none is handed out twice).
std::vector<std::uint16_t> free_ports(std::size_t count) {
  std::vector<int> sockets;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      setup_failed("no free port on 127.0.0.1");
    }
    sockets.push_back(fd);
    ports.push_back(ntohs(address.sin_port));
  }
  for (const int fd : sockets) ::close(fd);
  return ports;
}

// What the connection brought back: everything read, and how it ended.
struct Exchange {
  int connect_error = 0;  // errno of a failed connect: nothing was sent
  std::string received;
  bool closed = false;  // FIN from the service
  bool reset = false;
};

// Sends `bytes` on a new connection to 127.0.0.1:port, half-closes it, reads until the service
// closes or `timeout` passes.
Exchange exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  Exchange result;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) setup_failed("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's timeout alarm (SIGALRM) interrupts blocking calls: EINTR is retried everywhere.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int error = errno;
    if (error == EINTR) {  // the connection goes on: wait for it
      pollfd writable{fd, POLLOUT, 0};
      while (::poll(&writable, 1, -1) < 0 && errno == EINTR) {
      }
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    }
    if (error != 0) {
      result.connect_error = error;
      ::close(fd);
      return result;
    }
  }
  // The input fits in the socket buffers; a refusal may close before reading it all, so a failed
  // send is not an error here: the answer is still readable.
  for (std::size_t sent = 0; sent < bytes.size();) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    pollfd readable{fd, POLLIN, 0};
    if (left.count() <= 0) break;
    const int ready = ::poll(&readable, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      result.received.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    result.closed = n == 0;
    result.reset = n < 0;
    break;
  }
  ::close(fd);
  return result;
}

struct Service {
  config::Config config;
  fs::path dir;
  pid_t redis = -1;
  std::thread thread;
  std::atomic<bool> stopped{false};
  int log_pipe = -1;  // read end of the service's stdout
  std::string log_text;
};
Service* service = nullptr;

void start_redis(Service& s) {
  const std::string port = std::to_string(s.config.redis.port);
  const std::string dir = s.dir.string();
  s.redis = ::fork();
  if (s.redis < 0) setup_failed("fork failed");
  if (s.redis == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed fuzzer leaves no redis-server behind
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--dir", dir.c_str(),
             "--save", "", "--appendonly", "no", "--daemonize", "no", static_cast<char*>(nullptr));
    std::fprintf(stderr, "fuzz_http: cannot run redis-server\n");
    std::_Exit(127);
  }
}

// Waits until GET `target` on `port` answers 200, or fails the setup after 10 s.
void wait_ok(std::uint16_t port, std::string_view target, std::string_view what) {
  const std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
  for (const auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    if (exchange(port, request, 1s).received.starts_with("HTTP/1.1 200")) return;
    std::this_thread::sleep_for(20ms);
  }
  setup_failed(std::string(what) + " did not answer 200 on " + std::string(target) + " within 10 s");
}

bool ping_redis(std::uint16_t port) { return exchange(port, "PING\r\n", 1s).received.starts_with("+PONG"); }

void stop_service() {
  if (service == nullptr) return;
  // The service's last log lines go nowhere: nobody reads the pipe any more.
  const int null = ::open("/dev/null", O_WRONLY);
  ::dup2(null, STDOUT_FILENO);
  // The service's own shutdown: it handles SIGTERM while it runs (once stopped, SIGTERM would
  // end this process).
  if (!service->stopped) ::kill(::getpid(), SIGTERM);
  service->thread.join();
  ::kill(service->redis, SIGKILL);
  ::waitpid(service->redis, nullptr, 0);
  fs::remove_all(service->dir);
}

// Started at the first input, not in LLVMFuzzerInitialize: libFuzzer installs its signal handlers
// after that, and the service must own SIGTERM so that it can be stopped cleanly at exit.
void start_service() {
  service = new Service;
  Service& s = *service;
  // In TMPDIR (run.sh points it into the build directory: a crashed run leaves nothing in /tmp).
  std::string pattern = (fs::temp_directory_path() / "fuzz_http.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) setup_failed("mkdtemp failed in " + fs::temp_directory_path().string());
  s.dir = pattern;
  std::ofstream(s.dir / "keys.txt") << auth::key_line("desk", auth::all_scopes, "wl_fuzz_desk") << "\n"
                                    << auth::key_line("kiosk", auth::take, "wl_fuzz_kiosk") << "\n";

  config::Config& c = s.config;
  const auto ports = free_ports(3);
  c.redis.host = "127.0.0.1";
  c.redis.port = ports[0];
  c.queue_name = "fuzz";
  c.listen = {"127.0.0.1", ports[1]};
  c.admin_listen = {"127.0.0.1", ports[2]};
  c.threads = 1;
  c.api_keys_file = (s.dir / "keys.txt").string();
  c.http.max_header_bytes = 1024;  // the smallest accepted: 414 and 431 within an input's 4 KiB
  c.http.max_body_bytes = 64;
  c.shutdown_timeout = 1s;

  start_redis(s);
  for (const auto deadline = std::chrono::steady_clock::now() + 10s; !ping_redis(c.redis.port);) {
    if (std::chrono::steady_clock::now() > deadline) setup_failed("redis-server did not answer PING within 10 s");
    std::this_thread::sleep_for(20ms);
  }

  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) setup_failed("pipe failed");
  ::fcntl(ends[0], F_SETPIPE_SZ, 1 << 20);  // an input's log lines fit: the service never blocks on it
  ::fcntl(ends[0], F_SETFL, O_NONBLOCK);
  ::dup2(ends[1], STDOUT_FILENO);
  ::close(ends[1]);
  s.log_pipe = ends[0];

  s.thread = std::thread([&s] {
    waitline::app::serve(s.config);
    s.stopped = true;
  });
  wait_ok(c.admin_listen.port, "/readyz", "the service");
  std::atexit(stop_service);
}

// --- What the input asks -------------------------------------------------------------------------

struct Asked {
  http::verb method = http::verb::unknown;
  unsigned version = 11;
  bool keep_alive = true;
  unsigned refusal = 0;  // the status of a request that cannot be read, else 0
};

// The requests of the input as the service's parser reads them, up to the first that ends the
// connection. A request cut by the end of the input gets no answer.
std::vector<Asked> requests_in(std::string_view input, const config::Config& c) {
  std::vector<Asked> asked;
  while (!input.empty()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(c.http.max_header_bytes));
    parser.body_limit(c.http.max_body_bytes);
    parser.eager(true);
    beast::error_code error;
    while (!parser.is_done() && !input.empty()) {
      const auto used = parser.put(boost::asio::buffer(input.data(), input.size()), error);
      input.remove_prefix(used);
      if (error == http::error::need_more) {
        error = {};
        if (used == 0) break;
        continue;
      }
      if (error) break;
    }
    if (error) {
      const bool line_read = !parser.get().method_string().empty();
      asked.push_back({.keep_alive = false,
                       .refusal = error == http::error::header_limit ? (line_read ? 431u : 414u)
                                  : error == http::error::body_limit ? 413u
                                                                     : 400u});
      return asked;
    }
    if (!parser.is_done()) return asked;
    const auto& request = parser.get();
    asked.push_back({.method = request.method(), .version = request.version(), .keep_alive = request.keep_alive()});
    if (!request.keep_alive()) return asked;
  }
  return asked;
}

// --- What the service answers ----------------------------------------------------------------------

void check_error_body(const http::response<http::string_body>& response) {
  check(response[http::field::content_type] == "application/json", "an error answer is JSON");
  boost::system::error_code error;
  const auto body = boost::json::parse(response.body(), error);
  const auto* object = error ? nullptr : body.if_object();
  const auto* inner = object != nullptr && object->contains("error") ? object->at("error").if_object() : nullptr;
  check(inner != nullptr && inner->size() == 2 && inner->contains("code") && inner->at("code").is_string() &&
            inner->contains("message") && inner->at("message").is_string(),
        "an error answer's body is {\"error\":{\"code\":\"...\",\"message\":\"...\"}}");
}

void check_answers(const std::vector<Asked>& asked, std::string_view received) {
  for (const Asked& request : asked) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    parser.eager(true);
    parser.skip(request.method == http::verb::head);  // a HEAD answer has a length but no body
    beast::error_code error;
    while (!parser.is_done() && !received.empty()) {
      const auto used = parser.put(boost::asio::buffer(received.data(), received.size()), error);
      received.remove_prefix(used);
      if (error == http::error::need_more && used > 0) continue;
      if (error) break;
    }
    // An event stream to an HTTP/1.0 client has no length: its body ends where the connection
    // does, which the end of the input closed.
    if (!error && !parser.is_done() && received.empty() && parser.is_header_done() && parser.need_eof() &&
        parser.get()[http::field::content_type].starts_with("text/event-stream")) {
      parser.put_eof(error);
    }
    check(!error && parser.is_done(), "each request read gets a whole HTTP response");
    const auto& response = parser.get();
    const unsigned status = response.result_int();
    if (request.refusal != 0) {
      check(status == request.refusal, "a request that cannot be read is refused with its documented status");
    } else {
      check(response.version() == request.version, "an answer has its request's HTTP version");
    }
    // An event stream lasts until the client's end (the input's), then closes the connection:
    // the requests after it get no answer.
    const bool stream = status == 200 && response[http::field::content_type].starts_with("text/event-stream");
    check(response.keep_alive() == (request.keep_alive && !stream),
          "an answer keeps the connection open as its request asked (an event stream closes it)");
    check(status < 500 || status == 503 || status == 504, "no answer is a server error but 503 or 504");
    if (status >= 400 && request.method != http::verb::head) check_error_body(response);
    if (status == 401) check(!response[http::field::www_authenticate].empty(), "a 401 says WWW-Authenticate");
    if (status == 405) check(!response[http::field::allow].empty(), "a 405 says Allow");
    if (status == 503) check(!response[http::field::retry_after].empty(), "a 503 says Retry-After");
    if (stream) break;
  }
  check(received.empty(), "nothing is sent but the answers to the requests");
}

// Every complete line the service has logged so far is a JSON object.
void check_log(Service& s) {
  waitline::log::flush();
  char chunk[65536];
  for (ssize_t n; (n = ::read(s.log_pipe, chunk, sizeof chunk)) > 0;)
    s.log_text.append(chunk, static_cast<std::size_t>(n));
  std::size_t start = 0;
  for (std::size_t end; (end = s.log_text.find('\n', start)) != std::string::npos; start = end + 1) {
    boost::system::error_code error;
    const auto line = boost::json::parse(std::string_view(s.log_text).substr(start, end - start), error);
    if (error || !line.is_object()) {
      std::fprintf(stderr, "log line: %s\n", s.log_text.substr(start, end - start).c_str());
      check(false, "every log line is one JSON object");
    }
  }
  s.log_text.erase(0, start);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (service == nullptr) start_service();
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  // A hang, not slowness: an input may pipeline a hundred takes, each allowed the Redis timeout,
  // on a loaded machine (libFuzzer's -timeout, in run.sh, is longer still).
  const auto answer = exchange(service->config.listen.port, input, 120s);
  if (answer.connect_error != 0) {
    if (service->stopped) {
      std::fprintf(stderr, "fuzz_http: the service stopped (a signal?); ending the run\n");
      std::_Exit(0);
    }
    // A draining service (SIGTERM or SIGINT from outside) refuses connections before it stops.
    std::fprintf(stderr, "fuzz_http: connect: %s; the service's /readyz says: %s\n",
                 std::strerror(answer.connect_error),
                 exchange(service->config.admin_listen.port, "GET /readyz HTTP/1.0\r\n\r\n", 1s).received.c_str());
  }
  check(answer.connect_error == 0, "the service accepts connections");
  if (std::getenv("FUZZ_HTTP_SHOW") != nullptr) {  // to read a reproducer's exchange
    std::fprintf(stderr, "--- sent\n%.*s\n--- received\n%s\n---\n", static_cast<int>(input.size()), input.data(),
                 answer.received.c_str());
  }
  check(!answer.reset, "the service closes without a reset");
  check(answer.closed, "the service closes within 2 minutes of the input's end");
  check_answers(requests_in(input, service->config), answer.received);
  check_log(*service);
  return 0;
}
