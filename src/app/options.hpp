// What the public API offers; the defaults are the service's.
//
//   app::ApiOptions options;            // legacy GET on, 12 h sessions
//   options.legacy_get = false;         // take and call only on POST
//   options.queue_label = "Émeraude";   // the screens' name for the queue "emeraude"
//
// Plain values without Boost, so that the settings (src/config) take their defaults from here.
#pragma once

#include <chrono>
#include <string>

#include "auth/tokens.hpp"

namespace waitline::app {

struct ApiOptions {
  bool legacy_get = true;  // GET on /get_ticket and /call_ticket, as the original accepted
  // How long a browser session lasts (the cookie's Max-Age and the token's expiry).
  std::chrono::seconds session_ttl = auth::max_session_ttl;
  // The queue's name as people read it on the screens and printed tickets ("Émeraude"); empty:
  // the queue's name with a capital letter ("Rubis").
  std::string queue_label = {};
};

}  // namespace waitline::app
