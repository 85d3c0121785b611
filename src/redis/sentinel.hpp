// Where the primary is, as Redis Sentinel says. For src/redis only (redis::Client asks before
// each connection when Options::sentinels is not empty).
//
//   detail::Sentinels sentinels(options);
//   auto found = co_await sentinels.primary();   // Address, or why none answered
//
// As Sentinel's client guidelines ask: the Sentinels are asked in turn, each within the options'
// timeout, and the first that names the primary is asked first next time, so that a Sentinel on
// a lost machine does not cost every reconnection a timeout.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <variant>
#include <vector>

#include "redis/options.hpp"

namespace waitline::redis::detail {

class Sentinels {
 public:
  explicit Sentinels(const Options& options);

  bool empty() const noexcept { return addresses_.empty(); }
  // The address of the primary, or why no Sentinel named it (each one's answer).
  boost::asio::awaitable<std::variant<Address, std::string>> primary();

 private:
  boost::asio::awaitable<std::variant<Address, std::string>> ask(const Address& sentinel);

  std::vector<Address> addresses_;  // the one to ask first at the front
  std::string request_;             // [AUTH] SENTINEL GET-MASTER-ADDR-BY-NAME <name>
  std::size_t replies_ = 0;
  std::string name_;
  std::chrono::milliseconds timeout_;
};

}  // namespace waitline::redis::detail
