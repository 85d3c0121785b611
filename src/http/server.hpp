// An HTTP/1.1 server on Boost.Beast: one coroutine per connection, keep-alive, bounded reads.
//
// The server reads requests and writes responses; what a request means is the Handler's business.
// Requests that cannot be read (malformed, too large, too slow) are answered through
// Handler::reject and the connection is closed. drain() stops accepting, closes idle
// connections and lets busy ones finish their current request, answered with Connection: close.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "config/config.hpp"

namespace waitline::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Status = boost::beast::http::status;

struct Limits {
  std::chrono::milliseconds request_timeout{10000};  // head and body must arrive by then
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive connection waiting for a request
  std::size_t max_header_bytes = 8192;               // request line and headers
  std::size_t max_body_bytes = 65536;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual boost::asio::awaitable<Response> handle(Request& request) = 0;
  // The answer to a request that could not be read; `code` is the error code of the body.
  virtual Response reject(Status status, std::string_view code, std::string_view message) = 0;
};

class Server {
 public:
  Server(boost::asio::io_context& io, config::Endpoint endpoint, Limits limits, Handler& handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens now (throws std::system_error naming the address), accepts in the background.
  void start();
  void drain();
  std::size_t connections() const;
  std::uint16_t port() const noexcept { return port_; }

 private:
  struct Session;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Session> session);

  boost::asio::io_context& io_;
  config::Endpoint endpoint_;
  Limits limits_;
  Handler& handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> draining_{false};
  mutable std::mutex sessions_mutex_;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  std::uint64_t next_session_id_ = 0;
};

}  // namespace waitline::http
