// What the queue keeps and refuses; the defaults are the service's.
//
//   queue::Options options;                 // 24 h of idempotency records, 1,000,000 tickets at most
//   options.max_length = 0;                 // no maximum
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>
#include <cstdint>

namespace waitline::queue {

struct Options {
  // How long the first outcome of a take or call sent with an Idempotency-Key is replayed.
  std::chrono::milliseconds idempotency_ttl{std::chrono::hours(24)};
  // Tickets waiting at most; a take beyond it is refused and stores nothing. 0: no maximum.
  std::int64_t max_length = 1'000'000;
  // Events kept in the queue's stream for clients that reconnect (trimmed approximately, never
  // below this), and called tickets whose counter a ticket's status still names.
  std::int64_t events_retention = 10'000;
};

}  // namespace waitline::queue
