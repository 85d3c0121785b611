// What the public API offers; the defaults are the service's.
//
//   app::ApiOptions options;            // legacy GET on, 12 h sessions
//   options.legacy_get = false;         // take and call only on POST
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>

#include "auth/tokens.hpp"

namespace waitline::app {

struct ApiOptions {
  bool legacy_get = true;  // GET on /get_ticket and /call_ticket, as the original accepted
  // How long a browser session lasts (the cookie's Max-Age and the token's expiry).
  std::chrono::seconds session_ttl = auth::max_session_ttl;
};

}  // namespace waitline::app
