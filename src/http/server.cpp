#include "http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <array>
#include <charconv>
#include <optional>
#include <system_error>

#include "log/log.hpp"

namespace waitline::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 4096;
constexpr std::chrono::seconds write_timeout{30};
constexpr std::chrono::milliseconds linger_timeout{500};
constexpr std::size_t linger_bytes = std::size_t{64} * 1024;
// After a drain began, how long a new connection may take to send its first request.
constexpr std::chrono::milliseconds first_request_grace{1000};
// A stream's socket buffers this much at most in the kernel, and a write of a stream must be taken
// within this time: a client that stops reading is cut off after some hundreds of events and ten
// seconds, not after megabytes. (A browser whose tab sleeps reconnects when it wakes.)
constexpr int stream_send_buffer = 64 * 1024;
constexpr std::chrono::seconds stream_write_timeout{10};

// Closes after reading what the peer still sends, for a short while: closing a socket with unread
// bytes resets it, and the reset can destroy the response the peer has not read yet.
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 4096> sink{};
  std::size_t discarded = 0;
  stream.expires_after(linger_timeout);
  while (discarded < linger_bytes) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (ec) break;
    discarded += n;
  }
  stream.socket().close(ignored);
}

// A response's head as bytes: its status line and fields as they are set (prepare_payload, keep_alive
// and chunked set theirs). Written by hand rather than by Beast's serializer, whose walk over
// concatenated buffer sequences cost an eighth of the service's CPU per answer.
std::string head_bytes(const Response& head) {
  const auto reason = head.reason();
  std::size_t size = 17 + reason.size();  // "HTTP/1.1 200 " ... "\r\n" and the closing "\r\n"
  for (const auto& field : head) size += field.name_string().size() + field.value().size() + 4;
  std::string text;
  text.reserve(size);
  text += head.version() >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  text += std::to_string(head.result_int());
  text += ' ';
  text += reason;
  text += "\r\n";
  for (const auto& field : head) {
    text += field.name_string();
    text += ": ";
    text += field.value();
    text += "\r\n";
  }
  text += "\r\n";
  return text;
}

// Writes all of `buffers`, each byte taken by the peer within `timeout`. What the socket's buffer
// takes at once is written right away (the socket is non-blocking): most writes end there, with
// neither a timer armed nor a turn of the event loop. Only the rest waits for the peer, under the
// timeout; the timeout then stays armed for the connection's next operation to reset.
template <class Buffers>
asio::awaitable<boost::system::error_code> write_all(beast::tcp_stream& stream, const Buffers& buffers,
                                                     std::chrono::steady_clock::duration timeout) {
  boost::system::error_code ec;
  const std::size_t written = stream.socket().write_some(buffers, ec);
  if (ec && ec != asio::error::would_block) co_return ec;
  if (written == asio::buffer_size(buffers)) co_return boost::system::error_code{};
  beast::buffers_suffix<Buffers> rest(buffers);
  rest.consume(written);
  stream.expires_after(timeout);
  auto [error, n] = co_await asio::async_write(stream, rest, use_tuple);
  co_return error;
}

// A whole response, head and body, in one write within `write_timeout`.
asio::awaitable<boost::system::error_code> send(beast::tcp_stream& stream, const Response& response) {
  const auto head = head_bytes(response);
  const std::array bytes{asio::buffer(head), asio::buffer(response.body())};
  co_return co_await write_all(stream, bytes, write_timeout);
}

// Writes a stream's body: each write must be taken within the write timeout (Beast's own, on the
// connection; on expiry it closes the socket).
class ChunkWriter final : public StreamWriter {
 public:
  ChunkWriter(beast::tcp_stream& stream, bool chunked) : stream_(stream), chunked_(chunked) {}

  asio::awaitable<bool> write(std::span<const std::string_view> parts) override {
    std::size_t size = 0;
    for (auto part : parts) size += part.size();
    if (size == 0 || failed_) co_return !failed_;
    char head[24];
    char* end = std::to_chars(head, head + sizeof head - 2, size, 16).ptr;
    *end++ = '\r';
    *end++ = '\n';
    buffers_.clear();
    if (chunked_) buffers_.emplace_back(head, static_cast<std::size_t>(end - head));
    for (auto part : parts) buffers_.emplace_back(part.data(), part.size());
    if (chunked_) buffers_.emplace_back("\r\n", 2);
    co_return co_await send();
  }
  // The head, and the last chunk: bytes as they are.
  asio::awaitable<bool> write_raw(std::string_view bytes) {
    buffers_.assign(1, asio::buffer(bytes));
    co_return co_await send();
  }
  bool failed() const noexcept { return failed_; }
  bool too_slow() const noexcept override { return too_slow_; }

 private:
  asio::awaitable<bool> send() {
    const auto ec = co_await write_all(stream_, buffers_, stream_write_timeout);
    stream_.expires_never();
    too_slow_ = ec == beast::error::timeout;
    failed_ = failed_ || bool(ec);
    co_return !failed_;
  }

  beast::tcp_stream& stream_;
  const bool chunked_;
  bool failed_ = false;
  bool too_slow_ = false;
  std::vector<asio::const_buffer> buffers_;
};

// Watches a stream's connection for the client's end, beside the stream's writes: a read whose
// completion re-arms it while the client sends bytes (discarded) and tells the stream once the
// connection ends. A plain completion handler, not a coroutine: thousands of streams wait here.
// The state outlives the stream: a completion after the stream ended finds `stream` null.
struct Watch : std::enable_shared_from_this<Watch> {
  Stream* stream = nullptr;
  std::array<char, 64> sink{};

  void arm(beast::tcp_stream& connection) {
    connection.async_read_some(asio::buffer(sink), [self = shared_from_this(),
                                                    &connection](const boost::system::error_code& ec, std::size_t) {
      if (!self->stream) return;
      if (!ec) return self->arm(connection);
      self->stream->client_gone();
    });
  }
};

}  // namespace

struct Server::Session {
  explicit Session(tcp::socket socket) : stream(std::move(socket)) {
    boost::system::error_code ec;
    auto peer = stream.socket().remote_endpoint(ec);
    if (!ec) client = peer.address().to_string();
    // write_all writes what the socket takes at once, and must not block for the rest.
    stream.socket().non_blocking(true, ec);
  }
  beast::tcp_stream stream;
  std::string client;  // the peer's address
  bool idle = false;   // waiting for the first byte of a request; touched only on its lane's thread
};

Server::Server(std::vector<Lane> lanes, Endpoint endpoint, Limits limits)
    : lanes_(std::move(lanes)), endpoint_(std::move(endpoint)), limits_(limits), acceptor_(lanes_.at(0).io) {}

Server::~Server() = default;

void Server::start() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(endpoint_.host, ec);
  if (ec) throw std::system_error(ec, "invalid listen address " + endpoint_.host);
  tcp::endpoint ep(address, endpoint_.port);
  auto fail = [&](std::string_view what) {
    throw std::system_error(ec, std::string(what) + " " + endpoint_.host + ":" + std::to_string(endpoint_.port));
  };
  acceptor_.open(ep.protocol(), ec);
  if (ec) fail("cannot open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) fail("cannot configure");
  acceptor_.bind(ep, ec);
  if (ec) fail("cannot bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("cannot listen on");
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
}

void Server::drain() {
  draining_ = true;
  asio::dispatch(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  std::lock_guard lock(sessions_mutex_);
  for (auto& [id, weak] : sessions_) {
    if (auto session = weak.lock()) {
      // On the session's thread, so `idle` cannot change under us.
      asio::dispatch(session->stream.get_executor(), [session] {
        if (session->idle) session->stream.cancel();
      });
    }
  }
}

std::size_t Server::connections() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

asio::awaitable<void> Server::accept_loop() {
  asio::steady_timer pause(acceptor_.get_executor());
  for (std::size_t turn = 0; acceptor_.is_open(); ++turn) {
    Lane& lane = lanes_[turn % lanes_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(lane.io, use_tuple);
    // A connection accepted just as drain() closed the acceptor is served like the others.
    if (ec == asio::error::operation_aborted || (ec && !acceptor_.is_open())) break;
    if (ec) {
      // Out of file descriptors, typically: wait instead of spinning, and say so.
      log::warn("accept failed", {{"error", ec.message()}, {"port", std::int64_t{port_}}});
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    {
      std::lock_guard lock(sessions_mutex_);
      if (sessions_.size() >= limits_.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);
        lane.handler.closed_unanswered("connection_limit");
        continue;
      }
    }
    auto session = std::make_shared<Session>(std::move(socket));
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_.emplace(next_session_id_, session);
    }
    auto executor = session->stream.get_executor();
    asio::co_spawn(executor, serve(session, lane.handler),
                   [this, id = next_session_id_](const std::exception_ptr& error) {
                     if (error) {
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         log::error("connection failed", {{"error", e.what()}});
                       }
                     }
                     std::lock_guard lock(sessions_mutex_);
                     sessions_.erase(id);
                   });
    ++next_session_id_;
  }
}

namespace {

// The status for a request that could not be read, or none to close silently.
struct Rejection {
  Status status;
  std::string_view code;
  std::string_view message;
};

// `request_line_read`: the parser got a whole request line. (The buffer cannot tell: the parser
// consumes the request line and each complete field from it as it goes.)
std::optional<Rejection> classify(const boost::system::error_code& ec, bool request_line_read) {
  using he = beast::http::error;
  if (ec == he::header_limit) {
    if (!request_line_read) return Rejection{Status::uri_too_long, "uri_too_long", "the request line is too long"};
    return Rejection{Status::request_header_fields_too_large, "headers_too_large", "the request headers are too large"};
  }
  if (ec == he::body_limit)
    return Rejection{Status::payload_too_large, "payload_too_large", "the request body is too large"};
  if (ec == beast::error::timeout)
    return Rejection{Status::request_timeout, "request_timeout", "the request did not arrive in time"};
  if (ec.category() == beast::http::make_error_code(he::bad_method).category() && ec != he::end_of_stream &&
      ec != he::partial_message && ec != he::need_more)
    return Rejection{Status::bad_request, "bad_request", "malformed HTTP request"};
  return std::nullopt;  // the peer went away
}

}  // namespace

// Waits for the first bytes of the next request, into buffer; false when the connection is done.
// Between requests the idle timeout applies, and a drain closes a kept-alive connection. A new
// connection is not idle but accepted with its first request on the way: during a drain that
// request gets a short grace to arrive, and its answer.
asio::awaitable<bool> Server::next_bytes(Session& session, beast::flat_buffer& buffer, bool fresh,
                                         std::chrono::steady_clock::time_point first_head_due, Handler& handler) {
  auto& stream = session.stream;
  if (draining_ && !fresh && stream.socket().available() == 0) co_return false;
  session.idle = true;
  if (!fresh) stream.expires_after(limits_.idle_timeout);
  else if (draining_)
    stream.expires_at(std::min(first_head_due, std::chrono::steady_clock::now() + first_request_grace));
  else stream.expires_at(first_head_due);
  auto [ec, n] = co_await stream.async_read_some(buffer.prepare(read_chunk), use_tuple);
  session.idle = false;
  buffer.commit(n);
  if (ec == asio::error::operation_aborted && draining_) co_return true;  // bytes may have arrived meanwhile
  if (ec == beast::error::timeout && fresh && !draining_) handler.closed_unanswered("header_timeout");
  co_return !ec;
}

asio::awaitable<void> Server::serve(std::shared_ptr<Session> session, Handler& handler) {
  auto& stream = session->stream;
  beast::flat_buffer buffer;
  bool fresh = true;  // no request read yet
  // A new connection's first request head is due within the header timeout of its accept.
  const auto first_head_due = std::chrono::steady_clock::now() + limits_.header_timeout;
  for (;;) {
    if (buffer.size() == 0) {
      if (!co_await next_bytes(*session, buffer, fresh, first_head_due, handler)) break;
      if (buffer.size() == 0) continue;  // a drain woke the read: look again
    }

    beast::http::request_parser<beast::http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser.body_limit(limits_.max_body_bytes);
    if (fresh) stream.expires_at(first_head_due);
    else stream.expires_after(limits_.header_timeout);
    auto [ec, n] = co_await beast::http::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      // The parser calls on_request (which sets the method) once the request line is complete.
      if (auto rejection = classify(ec, !parser.get().method_string().empty())) {
        auto response = handler.reject(rejection->status, rejection->code, rejection->message);
        response.keep_alive(false);
        response.set(beast::http::field::connection, "close");
        response.prepare_payload();
        co_await send(stream, response);
      }
      break;
    }

    fresh = false;
    auto& request = parser.get();
    auto reply = co_await handler.handle(request, session->client);
    auto& response = reply.response;
    if (reply.stream && request.method() != beast::http::verb::head) {
      // The request's memory is not needed while the stream lasts: the read buffer goes.
      buffer.clear();
      buffer.shrink_to_fit();
      co_await serve_stream(*session, request.version(), response, *reply.stream);
      co_return;
    }
    response.version(request.version());
    response.keep_alive(request.keep_alive() && !draining_);
    // Beast says "close" only to HTTP/1.1 clients; an HTTP/1.0 one is told too.
    if (!response.keep_alive()) response.set(beast::http::field::connection, "close");
    response.prepare_payload();
    if (request.method() == beast::http::verb::head) response.body().clear();  // Content-Length stays
    if (co_await send(stream, response) || !response.keep_alive()) break;
  }
  co_await linger_close(stream);
}

asio::awaitable<void> Server::serve_stream(Session& session, unsigned version, Response& head, Stream& body) {
  auto& connection = session.stream;
  const bool chunked = version >= 11;
  head.version(version);
  head.keep_alive(false);
  head.set(beast::http::field::connection, "close");
  head.body().clear();
  if (chunked) head.chunked(true);
  boost::system::error_code ignored;
  connection.socket().set_option(asio::socket_base::send_buffer_size(stream_send_buffer), ignored);
  connection.expires_never();
  ChunkWriter writer(connection, chunked);
  if (co_await writer.write_raw(head_bytes(head))) {
    auto watch = std::make_shared<Watch>();
    watch->stream = &body;
    watch->arm(connection);
    co_await body.run(writer);
    watch->stream = nullptr;
    if (chunked && !writer.failed()) co_await writer.write_raw("0\r\n\r\n");
  }
  // No lingering read: the watch's is still pending. Closing ends it (its completion finds the
  // stream gone) and tells the client the body is complete.
  connection.socket().shutdown(tcp::socket::shutdown_both, ignored);
  connection.close();
}

}  // namespace waitline::http
