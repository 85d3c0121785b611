// How the Redis client connects; the defaults are the original application's.
//
//   redis::Options options;           // 127.0.0.1:6379, default user, 1 s timeout
//   options.host = "redis";
//   options.sentinels = {{"sentinel-1", 26379}, {"sentinel-2", 26379}, {"sentinel-3", 26379}};
//   options.ack_replicas = 1;         // a change is answered once a replica holds it
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace waitline::redis {

struct Address {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const Address&, const Address&) = default;
};

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string username;                     // ACL user; empty: the default user
  std::string password;                     // empty: no AUTH
  std::chrono::milliseconds timeout{1000};  // a reply later than this: the connection is stalled
  std::chrono::milliseconds max_backoff{2000};
  // Sentinels to ask where the primary named `primary_name` is; empty: host and port are the
  // server. The client authenticates to them as to Redis (username, password).
  std::vector<Address> sentinels;
  std::string primary_name = "waitline";
  // A command sent with Ack::replicated is answered once this many replicas acknowledged it
  // (WAIT), within ack_timeout; 0: as soon as the primary answers. ack_timeout stays below
  // `timeout`: WAIT holds the connection that long.
  unsigned ack_replicas = 0;
  std::chrono::milliseconds ack_timeout{500};
};

}  // namespace waitline::redis
