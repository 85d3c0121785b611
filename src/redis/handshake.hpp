// The first words on a fresh connection, before it serves commands: connecting to a server and
// greeting it, asking a Sentinel a question. For src/redis only.
//
//   std::string request;
//   std::size_t count = encode_auth(request, options);   // AUTH, when there is a password
//   encode_command(request, {"PING"});
//   std::vector<Reply> replies;
//   if (auto failed = co_await exchange(socket, request, count + 1, replies); !failed.empty()) ...
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "redis/options.hpp"
#include "redis/resp.hpp"

namespace waitline::redis::detail {

// Resolves `server` and connects `socket` to it; returns why it failed, or an empty string.
boost::asio::awaitable<std::string> connect(boost::asio::ip::tcp::socket& socket, const Address& server);

// Appends AUTH with the options' user and password when there is a password; returns the number
// of commands appended (0 or 1).
std::size_t encode_auth(std::string& out, const Options& options);

// Writes `request` and reads `count` replies into `replies`; returns why it failed (the
// connection failed, or a reply is an error), or an empty string.
boost::asio::awaitable<std::string> exchange(boost::asio::ip::tcp::socket& socket, std::string_view request,
                                             std::size_t count, std::vector<Reply>& replies);

// Runs `task` (an awaitable<std::string> on the current executor) for at most `limit`; returns
// its result, or `late` when it took longer (and is cancelled).
boost::asio::awaitable<std::string> within(std::chrono::milliseconds limit, boost::asio::awaitable<std::string> task,
                                           std::string late);

}  // namespace waitline::redis::detail
