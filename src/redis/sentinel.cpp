#include "redis/sentinel.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <charconv>

#include "redis/handshake.hpp"
#include "redis/resp.hpp"

namespace waitline::redis::detail {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// SENTINEL GET-MASTER-ADDR-BY-NAME answers [host, port], or nil for a name it does not monitor.
std::string read_address(const Reply& reply, const std::string& name, Address& out) {
  if (reply.type == Reply::Type::nil) return "knows no primary named " + name;
  if (reply.type != Reply::Type::array || reply.elements.size() != 2 || reply.elements[0].type != Reply::Type::bulk ||
      reply.elements[1].type != Reply::Type::bulk)
    return "answered something that is not an address";
  const std::string& port = reply.elements[1].text;
  std::uint16_t number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (ec != std::errc() || end != port.data() + port.size() || number == 0 || reply.elements[0].text.empty())
    return "answered a bad address";
  out = {reply.elements[0].text, number};
  return {};
}

}  // namespace

Sentinels::Sentinels(const Options& options)
    : addresses_(options.sentinels),
      replies_(encode_auth(request_, options) + 1),
      name_(options.primary_name),
      timeout_(options.timeout) {
  encode_command(request_, {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name_});
}

asio::awaitable<std::variant<Address, std::string>> Sentinels::primary() {
  std::string why;
  for (std::size_t i = 0; i < addresses_.size(); ++i) {
    auto answer = co_await ask(addresses_[i]);
    if (auto* found = std::get_if<Address>(&answer)) {
      std::rotate(addresses_.begin(), addresses_.begin() + static_cast<std::ptrdiff_t>(i),
                  addresses_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      co_return *found;
    }
    why += (why.empty() ? "" : "; ") + addresses_[i].text() + ": " + std::get<std::string>(answer);
  }
  co_return "no sentinel named the primary " + name_ + " (" + why + ")";
}

asio::awaitable<std::variant<Address, std::string>> Sentinels::ask(const Address& sentinel) {
  tcp::socket socket(co_await asio::this_coro::executor);
  Address found;
  auto question = [&]() -> asio::awaitable<std::string> {
    if (auto failed = co_await connect(socket, sentinel); !failed.empty()) co_return failed;
    std::vector<Reply> replies;
    if (auto failed = co_await exchange(socket, request_, replies_, replies); !failed.empty()) co_return failed;
    co_return read_address(replies.back(), name_, found);
  };
  auto failed = co_await within(timeout_, question(), "no answer within " + std::to_string(timeout_.count()) + " ms");
  if (!failed.empty()) co_return failed;
  co_return found;
}

}  // namespace waitline::redis::detail
