// An HTTP/1.1 server on Boost.Beast: one coroutine per connection, keep-alive, bounded reads.
//
// The server reads requests and writes responses; what a request means is the Handler's business.
// Requests that cannot be read (malformed, too large, too slow) are answered through
// Handler::reject and the connection is closed. A new connection must send its first request
// head within the header timeout; connections over the cap are closed at once. A HEAD request
// is answered with the headers of its GET, without the body. drain() stops accepting, closes idle
// connections and lets busy ones finish their current request, answered with Connection: close.
//
// Connections are dealt in turn to the server's lanes: an event loop and the handler that serves
// on it. A lane's io_context is run by one thread, so a request is read, handled and answered on
// that thread without a lock or a hand-off; the first lane also accepts.
//
// A handler may answer with a Stream (Server-Sent Events): the server writes the response's head,
// then lets the stream write its body, chunk by chunk (HTTP/1.1; an HTTP/1.0 body ends with the
// connection), for as long as it runs. The idle timeout does not apply to it; a write the client
// does not take within the write timeout fails (the stream should end), and the client closing its
// end is told to the stream (Stream::client_gone). The connection closes after the stream.
//
//   http::Server server({{io0, pipeline0}, {io1, pipeline1}}, {"0.0.0.0", 8000}, limits);
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "http/limits.hpp"

namespace waitline::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Status = boost::beast::http::status;

// Where a Stream writes its body.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends the parts, in order, as one chunk. False when the client is gone or has not taken them
  // within the write timeout: the stream should then end.
  virtual boost::asio::awaitable<bool> write(std::span<const std::string_view> parts) = 0;
  // Whether the last failed write failed because the client did not read in time.
  virtual bool too_slow() const noexcept = 0;
};

// A body written over time, after the head.
class Stream {
 public:
  virtual ~Stream() = default;
  // Writes until done.
  virtual boost::asio::awaitable<void> run(StreamWriter& out) = 0;
  // The client closed its end of the connection (called on the stream's thread, while run() runs):
  // run() should return soon, without writing any more.
  virtual void client_gone() = 0;
};

// A handler's answer: a response, or a response's head and the stream that writes its body.
// NOLINTNEXTLINE(bugprone-exception-escape): moving Beast's message may allocate (its allocator does not propagate)
struct Reply {
  Reply(Response r) : response(std::move(r)) {}  // NOLINT: implicit, a plain answer is a Reply
  Reply(Response head, std::unique_ptr<Stream> body) : response(std::move(head)), stream(std::move(body)) {}
  Response response;
  std::unique_ptr<Stream> stream;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // `client` is the peer's address ("127.0.0.1").
  virtual boost::asio::awaitable<Reply> handle(Request& request, std::string_view client) = 0;
  // The answer to a request that could not be read; `code` is the error code of the body.
  virtual Response reject(Status status, std::string_view code, std::string_view message) = 0;
  // A connection closed unanswered: "connection_limit" (over Limits::max_connections) or
  // "header_timeout" (a new connection that sent nothing within Limits::header_timeout).
  virtual void closed_unanswered(std::string_view reason) = 0;
};

struct Lane {
  boost::asio::io_context& io;  // run by one thread
  Handler& handler;
};

class Server {
 public:
  Server(std::vector<Lane> lanes, Endpoint endpoint, Limits limits);
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
  boost::asio::awaitable<void> serve(std::shared_ptr<Session> session, Handler& handler);
  boost::asio::awaitable<bool> next_bytes(Session& session, boost::beast::flat_buffer& buffer, bool fresh,
                                          std::chrono::steady_clock::time_point first_head_due, Handler& handler);
  boost::asio::awaitable<void> serve_stream(Session& session, unsigned version, Response& head, Stream& body);

  std::vector<Lane> lanes_;
  Endpoint endpoint_;
  Limits limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> draining_{false};
  mutable std::mutex sessions_mutex_;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  std::uint64_t next_session_id_ = 0;
};

}  // namespace waitline::http
