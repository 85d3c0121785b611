// The API's documentation, served from inside the binary: the OpenAPI document and Swagger UI.
//
//   const docs::Asset* page = docs::find("/docs");                  // nullptr when no such asset
//   std::string document = docs::openapi({.legacy_get = false});    // what /openapi.json serves
//
// Every URL in the page is relative, so behind a proxy that strips a prefix (/rubis) the page at
// /rubis/docs loads /rubis/docs/swagger-ui.css and /rubis/openapi.json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ratelimit/ratelimit.hpp"

namespace waitline::docs {

struct Asset {
  std::string_view content_type;
  std::string_view body;
  bool immutable;  // versioned third-party file: may be cached for a long time
};

// The asset served at `path` ("/docs", "/docs/swagger-ui-bundle.js"), or nullptr. "/docs/" is
// not an asset: the API redirects it to "../docs". "/openapi.json" is not one either: it is made
// by openapi() from the settings.
const Asset* find(std::string_view path);

// What the process's settings change in its OpenAPI document.
struct Served {
  bool legacy_get = true;       // GET /get_ticket and GET /call_ticket are listed (deprecated)
  bool authentication = true;   // false: no security scheme, no 401 or 403
  ratelimit::Rate key_limit{};  // per_second 0: none; no limit at all: no 429, no RateLimit fields
  ratelimit::Rate client_limit{};
  std::int64_t max_queue_length = 0;  // 0: none, no 409 queue_full
};

// The OpenAPI document (src/docs/openapi.json, which lists everything the service can answer)
// with only what these settings let it answer, and the limits in force said in its description.
std::string openapi(const Served& served);

// Sent with every asset: the page loads only its own files (no inline script or style, no eval),
// the images Swagger UI draws as data: URLs, and talks only to this origin (openapi.json, "Try it
// out"); no other site may frame it.
inline constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

}  // namespace waitline::docs
