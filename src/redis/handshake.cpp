#include "redis/handshake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace waitline::redis::detail {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 4096;  // handshake replies are a few bytes
}  // namespace

asio::awaitable<std::string> connect(tcp::socket& socket, const Address& server) {
  tcp::resolver resolver(socket.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(server.host, std::to_string(server.port), use_tuple);
  if (rec) co_return "cannot resolve " + server.host + ": " + rec.message();
  auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
  if (cec) co_return "cannot connect to " + server.text() + ": " + cec.message();
  socket.set_option(tcp::no_delay(true));
  co_return std::string();
}

std::size_t encode_auth(std::string& out, const Options& options) {
  if (options.password.empty()) return 0;
  if (options.username.empty()) encode_command(out, {"AUTH", options.password});
  else encode_command(out, {"AUTH", options.username, options.password});
  return 1;
}

asio::awaitable<std::string> exchange(tcp::socket& socket, std::string_view request, std::size_t count,
                                      std::vector<Reply>& replies) {
  auto [wec, written] = co_await asio::async_write(socket, asio::buffer(request), use_tuple);
  if (wec) co_return "cannot write to the server: " + wec.message();
  std::string buffer;
  while (replies.size() < count) {
    auto old = buffer.size();
    buffer.resize(old + read_chunk);
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer.data() + old, read_chunk), use_tuple);
    buffer.resize(old + n);
    if (ec) co_return "the server closed the connection during the handshake: " + ec.message();
    try {
      Reply reply;
      std::size_t used = 0;
      while (replies.size() < count && (used = parse_reply(buffer, reply)) > 0) {
        buffer.erase(0, used);
        if (reply.is_error()) co_return "the server rejected the handshake: " + reply.text;
        replies.push_back(std::move(reply));
      }
    } catch (const ProtocolError& e) {
      co_return std::string("the server's reply is not RESP: ") + e.what();
    }
  }
  co_return std::string();
}

asio::awaitable<std::string> within(std::chrono::milliseconds limit, asio::awaitable<std::string> task,
                                    std::string late) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(limit);
  auto outcome = co_await (std::move(task) || timer.async_wait(use_tuple));
  if (outcome.index() == 1) co_return late;
  co_return std::get<0>(std::move(outcome));
}

}  // namespace waitline::redis::detail
