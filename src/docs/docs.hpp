// The API's documentation, served from inside the binary: the OpenAPI document and Swagger UI.
//
// Every URL in the page is relative, so behind a proxy that strips a prefix (/rubis) the page at
// /rubis/docs loads /rubis/docs/swagger-ui.css and /rubis/openapi.json.
#pragma once

#include <string_view>

namespace waitline::docs {

struct Asset {
  std::string_view content_type;
  std::string_view body;
  bool immutable;  // versioned third-party file: may be cached for a long time
};

// The asset served at `path` ("/docs", "/docs/swagger-ui-bundle.js", "/openapi.json"), or
// nullptr. "/docs/" is not an asset: the router redirects it to "../docs".
const Asset* find(std::string_view path);

// Sent with every asset: the page loads only its own files (no inline script or style, no eval),
// the images Swagger UI draws as data: URLs, and talks only to this origin (openapi.json, "Try it
// out"); no other site may frame it.
inline constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

}  // namespace waitline::docs
