#include "support/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "support/temp_dir.hpp"

namespace waitline::test {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kHttpTimeout = 30s;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string to_lower(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered;
}

// The current environment with `overrides` replacing or adding variables.
std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    if (!overrides.contains(std::string(variable.substr(0, variable.find('='))))) {
      merged.emplace_back(variable);
    }
  }
  for (const auto& [name, value] : overrides) merged.push_back(name + "=" + value);
  return merged;
}

std::vector<char*> null_terminated(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Starts argv[0] (searched in PATH); stderr shares stdout's file when the paths are equal.
pid_t spawn(std::vector<std::string> argv, const std::map<std::string, std::string>& env, const fs::path& stdin_path,
            const fs::path& stdout_path, const fs::path& stderr_path) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  std::vector<std::string> environment = merged_environment(env);
  const std::vector<char*> args = null_terminated(argv);
  const std::vector<char*> envp = null_terminated(environment);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (stderr_path == stdout_path) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  // Asio sockets are not close-on-exec; a child holding a copy of a test's connection would
  // keep it open after the test closes it.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);

  pid_t pid = -1;
  const int error = ::posix_spawnp(&pid, argv.front().c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::system_error(error, std::generic_category(), "spawn " + argv.front());
  return pid;
}

int exit_code(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

int wait_blocking(pid_t pid) {
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
  }
  return exit_code(wait_status);
}

std::optional<std::string> requirepass(const std::vector<std::string>& redis_args) {
  std::optional<std::string> password;
  for (std::size_t i = 0; i + 1 < redis_args.size(); ++i) {
    if (redis_args[i] == "--requirepass") password = redis_args[i + 1];  // the last one wins
  }
  return password;
}

tcp::endpoint loopback(std::uint16_t port) { return {net::ip::address_v4::loopback(), port}; }

struct Completion {
  beast::error_code error;
  std::size_t bytes = 0;
};

// Runs one asynchronous operation to completion. The blocking Beast calls ignore tcp_stream
// timeouts, so every operation goes through the io_context instead.
template <class Initiation>
Completion complete(net::io_context& io, Initiation&& initiate) {
  Completion result;
  initiate([&result](beast::error_code error, std::size_t bytes = 0) { result = {error, bytes}; });
  io.restart();
  io.run();
  return result;
}

bool closed_by_peer(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == net::error::eof || error == net::error::connection_reset ||
         error == net::error::connection_aborted || error == net::error::broken_pipe;
}

std::uint16_t free_port_other_than(std::uint16_t taken) {
  for (;;) {
    if (const std::uint16_t port = free_port(); port != taken) return port;
  }
}

std::vector<std::string> service_argv(const Service::Options& options, std::uint16_t port, std::uint16_t admin_port) {
  std::vector<std::string> argv{waitline_binary(),
                                "--redis-host",
                                "127.0.0.1",
                                "--redis-port",
                                std::to_string(options.redis_port),
                                "--queue-name",
                                options.queue,
                                "--listen",
                                "127.0.0.1:" + std::to_string(port),
                                "--admin-listen",
                                "127.0.0.1:" + std::to_string(admin_port)};
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  return argv;
}

bool answers_ok(HttpClient& client, std::string_view target) {
  try {
    return client.get(target).status == 200;
  } catch (const std::exception&) {
    return false;  // not listening yet, or closed the connection mid-start
  }
}

}  // namespace

std::uint16_t free_port() {
  net::io_context io;
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.bind(loopback(0));
  return socket.local_endpoint().port();
}

// --- Process ---------------------------------------------------------------------------------

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env) : dir_(make_temp_dir()) {
  try {
    pid_ = spawn(std::move(argv), env, "/dev/null", dir_ / "stdout", dir_ / "stderr");
  } catch (...) {
    remove_dir(dir_);
    throw;
  }
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(other.status_), dir_(std::exchange(other.dir_, {})) {}

Process::~Process() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    int ignored = 0;
    while (::waitpid(pid_, &ignored, 0) < 0 && errno == EINTR) {
    }
  }
  if (!dir_.empty()) remove_dir(dir_);
}

void Process::signal(int signo) const {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, signo);  // never signal a reaped (reusable) pid
}

int Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("process " + std::to_string(pid_) + " still running after " +
                               std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(2ms);
  }
  return status_;
}

bool Process::running() {
  if (pid_ <= 0 || status_ >= 0) return false;
  int wait_status = 0;
  pid_t reaped = 0;
  do {
    reaped = ::waitpid(pid_, &wait_status, WNOHANG);
  } while (reaped < 0 && errno == EINTR);
  if (reaped < 0) throw std::system_error(errno, std::generic_category(), "waitpid");
  if (reaped == 0) return true;
  status_ = exit_code(wait_status);
  return false;
}

std::string Process::stdout_text() const { return read_file(dir_ / "stdout"); }
std::string Process::stderr_text() const { return read_file(dir_ / "stderr"); }

RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string_view stdin_text) {
  const fs::path dir = make_temp_dir();
  try {
    std::ofstream(dir / "stdin", std::ios::binary) << stdin_text;
    const pid_t pid = spawn(std::move(argv), env, dir / "stdin", dir / "output", dir / "output");
    RunResult result{wait_blocking(pid), read_file(dir / "output")};
    remove_dir(dir);
    return result;
  } catch (...) {
    remove_dir(dir);
    throw;
  }
}

// --- RedisServer -----------------------------------------------------------------------------

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : port_(free_port()), dir_(make_temp_dir()), extra_args_(std::move(extra_args)) {
  try {
    start();
  } catch (...) {
    process_.reset();
    remove_dir(dir_);
    throw;
  }
}

RedisServer::~RedisServer() {
  process_.reset();
  remove_dir(dir_);
}

void RedisServer::stop() {
  if (!process_) return;
  process_->signal(SIGTERM);
  process_->signal(SIGCONT);  // a stalled (SIGSTOPped) server must run to handle SIGTERM
  process_->wait();
  process_.reset();
}

void RedisServer::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait();
  process_.reset();
}

void RedisServer::signal(int signo) const {
  if (process_) process_->signal(signo);
}

int RedisServer::pid() const noexcept { return process_ ? process_->pid() : -1; }

void RedisServer::start() {
  stop();
  std::vector<std::string> argv{
      "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",   "--dir", dir_.string(),
      "--save",       "",       "--appendonly",        "no",     "--daemonize", "no"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());  // later arguments win
  process_ = std::make_unique<Process>(std::move(argv));

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (cli({"PING"}) != "PONG") {
    if (!process_->running()) {
      throw std::runtime_error("redis-server exited with status " + std::to_string(process_->wait()) + ":\n" +
                               process_->stdout_text() + process_->stderr_text());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not answer PING within 10 s:\n" +
                               process_->stdout_text());
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string RedisServer::cli(std::vector<std::string> args) const {
  std::vector<std::string> argv{"redis-cli", "-p", std::to_string(port_)};
  if (const auto password = requirepass(extra_args_)) {
    argv.insert(argv.end(), {"-a", *password, "--no-auth-warning"});
  }
  argv.insert(argv.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  Process redis_cli(std::move(argv));
  redis_cli.wait();
  std::string output = redis_cli.stdout_text();
  if (output.ends_with('\n')) output.pop_back();
  return output;
}

// --- HTTP --------------------------------------------------------------------------------------

std::string Response::header(const std::string& name) const {
  const auto found = headers.find(to_lower(name));
  return found == headers.end() ? std::string() : found->second;
}

struct HttpClient::Impl {
  // The outcome of sending one request on one connection.
  struct Attempt {
    beast::error_code error;
    bool response_started = false;  // some response byte arrived; a retry could repeat effects
    bool keep_alive = false;
    Response response;
  };

  explicit Impl(std::uint16_t server_port) : port(server_port) {}

  void connect() {
    stream.emplace(io);
    stream->expires_after(kHttpTimeout);
    const Completion connected = complete(io, [&](auto handler) { stream->async_connect(loopback(port), handler); });
    if (connected.error) {
      stream.reset();
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + connected.error.message());
    }
  }

  Attempt exchange(const http::request<http::string_body>& request) {
    Attempt attempt;
    buffer.clear();
    stream->expires_after(kHttpTimeout);
    attempt.error = complete(io, [&](auto handler) { http::async_write(*stream, request, handler); }).error;
    if (attempt.error) return attempt;

    http::response_parser<http::string_body> parser;
    parser.skip(request.method() == http::verb::head);  // HEAD responses carry no body
    stream->expires_after(kHttpTimeout);
    attempt.error = complete(io, [&](auto handler) { http::async_read(*stream, buffer, parser, handler); }).error;
    if (attempt.error) {
      attempt.response_started = buffer.size() > 0 || parser.got_some();
      return attempt;
    }

    const http::response<http::string_body>& message = parser.get();
    attempt.keep_alive = message.keep_alive();
    attempt.response.status = message.result_int();
    attempt.response.version = message.version();
    for (const auto& field : message) {
      auto [entry, inserted] = attempt.response.headers.try_emplace(to_lower(field.name_string()), field.value());
      if (!inserted) entry->second.append(", ").append(field.value());  // repeated header
    }
    attempt.response.body = parser.release().body();
    return attempt;
  }

  std::uint16_t port;
  net::io_context io;
  std::optional<beast::tcp_stream> stream;  // empty while disconnected
  beast::flat_buffer buffer;
};

HttpClient::HttpClient(std::uint16_t port) : impl_(std::make_unique<Impl>(port)) {}
HttpClient::~HttpClient() = default;

Response HttpClient::request(std::string_view method, std::string_view target,
                             std::map<std::string, std::string> headers, std::string body) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  request.prepare_payload();  // Content-Length, also 0 for an empty POST

  for (;;) {
    const bool reused = impl_->stream.has_value();
    if (!reused) impl_->connect();
    Impl::Attempt attempt = impl_->exchange(request);
    if (!attempt.error) {
      if (!attempt.keep_alive) impl_->stream.reset();
      return std::move(attempt.response);
    }
    impl_->stream.reset();
    // Like any HTTP client: a kept-alive connection the server closed meanwhile is retried once
    // on a fresh connection, but only if the server cannot have started answering.
    if (!reused || attempt.response_started || !closed_by_peer(attempt.error)) {
      throw std::runtime_error(std::string(method) + " " + std::string(target) +
                               " on 127.0.0.1:" + std::to_string(impl_->port) + ": " + attempt.error.message());
    }
  }
}

std::string raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);  // one deadline for the whole exchange
  const Completion connected = complete(io, [&](auto handler) { stream.async_connect(loopback(port), handler); });
  if (connected.error) {
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + connected.error.message());
  }

  const Completion written = complete(io, [&](auto handler) { net::async_write(stream, net::buffer(bytes), handler); });
  if (written.error == beast::error::timeout) return {};
  // A server that rejects early may close before taking every byte; its answer is still readable.
  if (written.error && !closed_by_peer(written.error)) {
    throw std::runtime_error("write to 127.0.0.1:" + std::to_string(port) + ": " + written.error.message());
  }

  std::string received;
  std::array<char, 4096> chunk{};
  for (;;) {
    const Completion read = complete(io, [&](auto handler) { stream.async_read_some(net::buffer(chunk), handler); });
    received.append(chunk.data(), read.bytes);
    if (!read.error) continue;
    if (closed_by_peer(read.error) || read.error == beast::error::timeout) return received;
    throw std::runtime_error("read from 127.0.0.1:" + std::to_string(port) + ": " + read.error.message());
  }
}

// --- Raw HTTP ----------------------------------------------------------------------------------

std::optional<Response> parse_response(std::string_view bytes, std::size_t* consumed, bool at_eof) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(boost::none);
  std::size_t used = 0;
  // Without more bytes: a body that ends with the connection ends here; anything else is cut.
  const auto at_end = [&] {
    if (!at_eof || !parser.is_header_done()) return false;
    beast::error_code error;
    parser.put_eof(error);
    return !error;
  };
  while (!parser.is_done()) {
    if (used == bytes.size()) {
      if (!at_end()) return std::nullopt;
      break;
    }
    beast::error_code error;
    const std::size_t n = parser.put(net::buffer(bytes.data() + used, bytes.size() - used), error);
    used += n;
    if (error == http::error::need_more) {
      if (n > 0) continue;
      if (!at_end()) return std::nullopt;  // the rest of a head that has not arrived
      break;
    }
    if (error) {
      throw std::runtime_error("not an HTTP response (" + error.message() + "): " + std::string(bytes.substr(0, 200)));
    }
    if (n == 0) return std::nullopt;  // no progress: wait for more
  }
  const http::response<http::string_body>& message = parser.get();
  Response response;
  response.status = message.result_int();
  response.version = message.version();
  for (const auto& field : message) {
    auto [entry, inserted] = response.headers.try_emplace(to_lower(field.name_string()), field.value());
    if (!inserted) entry->second.append(", ").append(field.value());
  }
  response.body = message.body();
  if (consumed != nullptr) *consumed = used;
  return response;
}

std::vector<Response> parse_responses(std::string_view bytes, std::string* rest) {
  std::vector<Response> responses;
  std::size_t consumed = 0;
  while (!bytes.empty()) {
    std::optional<Response> response = parse_response(bytes, &consumed);
    if (!response) break;
    responses.push_back(std::move(*response));
    bytes.remove_prefix(consumed);
  }
  if (rest != nullptr) *rest = std::string(bytes);
  return responses;
}

RawConnection::RawConnection(std::uint16_t port, std::chrono::milliseconds timeout, int receive_buffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int error = 0;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    error = errno;
    if (error == EINPROGRESS) {
      pollfd waiting{fd_, POLLOUT, 0};
      const int ready = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
      socklen_t length = sizeof error;
      if (ready <= 0) error = ready == 0 ? ETIMEDOUT : errno;
      else ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    }
  }
  if (error != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(error, std::generic_category(), "connect to 127.0.0.1:" + std::to_string(port));
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() { close(); }

int RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd waiting{fd_, POLLOUT, 0};
      if (::poll(&waiting, 1, static_cast<int>(std::chrono::milliseconds(kHttpTimeout).count())) <= 0) {
        return ETIMEDOUT;
      }
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

RawConnection::Read RawConnection::read_some(std::chrono::milliseconds timeout) {
  Read read;
  if (!pending_.empty()) {
    read.bytes = std::exchange(pending_, {});
    return read;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::array<char, 16384> chunk{};
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      read.bytes.assign(chunk.data(), static_cast<std::size_t>(n));
      return read;
    }
    if (n == 0) {
      read.eof = true;
      return read;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      read.error = errno;
      return read;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      read.timed_out = true;
      return read;
    }
    pollfd waiting{fd_, POLLIN, 0};
    ::poll(&waiting, 1, static_cast<int>(left.count()) + 1);
  }
}

RawConnection::Read RawConnection::read_until(std::chrono::milliseconds timeout,
                                              const std::function<bool(const Read& total, bool closed)>& done) {
  Read total;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    Read read = read_some(std::max(left, std::chrono::milliseconds(0)));
    total.bytes += read.bytes;
    total.eof = read.eof;
    total.error = read.error;
    total.timed_out = read.timed_out;
    if (done(total, read.closed()) || read.closed() || read.timed_out) return total;
  }
}

RawConnection::Read RawConnection::read_until_close(std::chrono::milliseconds timeout) {
  return read_until(timeout, [](const Read&, bool) { return false; });
}

RawConnection::Read RawConnection::read_response(std::chrono::milliseconds timeout, std::optional<Response>& response) {
  response.reset();
  std::size_t consumed = 0;
  Read total = read_until(timeout, [&](const Read& so_far, bool closed) {
    response = parse_response(so_far.bytes, &consumed, closed);
    return response.has_value();
  });
  if (response) {
    pending_ = total.bytes.substr(consumed);
    total.bytes.resize(consumed);
  }
  return total;
}

void RawConnection::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawConnection::reset() {
  if (fd_ < 0) return;
  const linger abort_on_close{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  close();
}

// --- Service -----------------------------------------------------------------------------------

Service::Service(Options options)
    : port_(free_port()),
      admin_port_(free_port_other_than(port_)),
      process_(service_argv(options, port_, admin_port_), options.env) {
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  const std::string awaited = options.wait_ready ? "/livez and /readyz" : "/livez";
  HttpClient admin(admin_port_);
  while (!answers_ok(admin, "/livez") || (options.wait_ready && !answers_ok(admin, "/readyz"))) {
    if (!process_.running()) {
      throw std::runtime_error("waitline exited with status " + std::to_string(process_.wait()) + " before " + awaited +
                               " answered 200; stderr:\n" + process_.stderr_text());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("waitline did not answer 200 on " + awaited + " within 15 s; stderr:\n" +
                               process_.stderr_text());
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string waitline_binary() { return WAITLINE_BINARY; }

}  // namespace waitline::test
