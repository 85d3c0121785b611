// Token buckets per API key and per client address, and which address a request comes from.
//
//   ratelimit::BucketTable keys({.per_second = 20, .burst = 40}, ratelimit::max_tracked);
//   auto decision = keys.take("desk-1", std::chrono::steady_clock::now());
//   if (!decision.allowed) /* 429, Retry-After: decision.wait_seconds */;
//
//   auto trusted = ratelimit::parse_networks("10.0.0.0/8,127.0.0.1");   // nullopt when malformed
//   std::string_view client = ratelimit::client_address(peer, x_forwarded_for, *trusted);
//
// The clock is the caller's (a time point per call), so the arithmetic is tested without sleeping.
// Plain C++ without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace waitline::ratelimit {

using Clock = std::chrono::steady_clock;

// Requests per second, sustained, and how many may come at once. per_second 0: no limit.
struct Rate {
  std::uint32_t per_second = 0;
  std::uint32_t burst = 100;
  bool on() const { return per_second > 0; }
};

// The service's defaults: no limit (operators set them per platform: deploy/platforms.conf).
struct Options {
  Rate key{};
  Rate client{};
  std::string trusted_proxies;  // comma-separated addresses or CIDRs; empty: trust none
};

struct Decision {
  bool allowed = false;
  std::uint32_t remaining = 0;     // whole requests left in the bucket after this one
  std::uint32_t wait_seconds = 0;  // until the bucket holds one more token (whole seconds, at least 1)
};

// One bucket: `burst` tokens at most, refilled at `per_second`; a request takes one token.
class TokenBucket {
 public:
  TokenBucket(const Rate& rate, Clock::time_point now) : tokens_(rate.burst), updated_(now) {}
  Decision take(const Rate& rate, Clock::time_point now);
  // Refilled to the brim by `now`: the same as a bucket never seen, so it may be forgotten.
  bool full(const Rate& rate, Clock::time_point now) const;

 private:
  double refilled(const Rate& rate, Clock::time_point now) const;
  double tokens_;
  Clock::time_point updated_;
};

// Buckets by name, bounded: at most `capacity` are kept, the least recently used forgotten first
// (a full one loses nothing; a partly spent one is forgiven: said in docs/service.md). Every call
// is O(1) and takes the table's lock, so any thread of the io_context may call it.
class BucketTable {
 public:
  BucketTable(Rate rate, std::size_t capacity) : rate_(rate), capacity_(capacity) {}
  Decision take(std::string_view name, Clock::time_point now);
  std::size_t size() const;
  const Rate& rate() const { return rate_; }

 private:
  struct Entry {
    std::string name;
    TokenBucket bucket;
  };
  const Rate rate_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> recent_;                                                 // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // names live in recent_
};

// Buckets kept per table: bounds what an attacker rotating addresses can take (about 4 MB a table).
inline constexpr std::size_t max_tracked = 16384;

// An IPv4 or IPv6 address with a prefix length; IPv4 is held as IPv4-mapped IPv6 (::ffff:a.b.c.d).
struct Network {
  std::array<std::uint8_t, 16> bytes{};
  unsigned prefix = 128;
  bool contains(const std::array<std::uint8_t, 16>& address) const;
};

std::optional<std::array<std::uint8_t, 16>> parse_address(std::string_view text);
// "10.0.0.0/8", "fd00::/8", "127.0.0.1" (a /32) ...: nullopt when one item is malformed.
std::optional<Network> parse_network(std::string_view text);
std::optional<std::vector<Network>> parse_networks(std::string_view comma_separated);

// Whose request this is: the TCP peer, unless the peer is a trusted proxy; then X-Forwarded-For
// is read from the right (the hop nearest to us), skipping trusted proxies, and the first address
// that is not one is the client. An entry that is not an address stops the walk at the hop that
// added it. A client cannot choose its bucket: what it writes in the header is left of what its
// proxy appends. The result views `peer` or `forwarded_for`.
std::string_view client_address(std::string_view peer, std::string_view forwarded_for,
                                const std::vector<Network>& trusted);

}  // namespace waitline::ratelimit
