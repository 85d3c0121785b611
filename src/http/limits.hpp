// Where a listener binds and what it accepts from clients; the defaults are the service's.
//
//   http::Limits limits;                       // every default
//   limits.max_connections = 512;
//   http::Server server({{io, pipeline}}, {"0.0.0.0", 8000}, limits);
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace waitline::http {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct Limits {
  // A new connection's first request head, and any request's head and body, must arrive by then.
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive connection waiting for a request
  std::size_t max_header_bytes = 8192;            // request line and headers
  std::size_t max_body_bytes = 65536;
  std::size_t max_connections = 4096;  // more are closed at once, unanswered
};

}  // namespace waitline::http
