// How the Redis client connects; the defaults are the original application's.
//
//   redis::Options options;           // 127.0.0.1:6379, default user, 1 s timeout
//   options.host = "redis";
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace waitline::redis {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string username;                     // ACL user; empty: the default user
  std::string password;                     // empty: no AUTH
  std::chrono::milliseconds timeout{1000};  // a reply later than this: the connection is stalled
  std::chrono::milliseconds max_backoff{2000};
};

}  // namespace waitline::redis
