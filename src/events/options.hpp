// How a process serves live events; the defaults are the service's.
//
//   events::Options options;            // 2048 streams, a keepalive every 15 s
//   options.max_streams = 10'000;
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>
#include <cstddef>

namespace waitline::events {

struct Options {
  std::size_t ring = 4096;                      // events kept in memory for the streams
  std::size_t max_streams = 2048;               // streams open at once in this process
  std::chrono::milliseconds keepalive{15'000};  // an idle stream gets a comment line this often
  std::chrono::milliseconds block{5000};        // the reader's XREAD BLOCK
  std::chrono::milliseconds retry{500};         // the reader's pause after a failure
};

}  // namespace waitline::events
