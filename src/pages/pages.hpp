// The people's screens, served from inside the binary: the kiosk, the desk, the waiting-room
// display and the visitor's ticket, with their scripts, styles and texts.
//
//   const pages::Asset* page = pages::find("/kiosk");          // also "/pages/kiosk.js", ...
//   const pages::Asset& phone = pages::ticket_page();          // GET /tickets/{n} for a browser
//
// Every URL in them is relative, so behind a proxy that strips a prefix (/rubis) the page at
// /rubis/kiosk loads /rubis/pages/kiosk.js and calls /rubis/get_ticket. They use the public API
// only, through the session cookie of a device (staff screens) or the ticket's link (the phone).
#pragma once

#include <string_view>

namespace waitline::pages {

struct Asset {
  std::string_view content_type;
  std::string_view body;
};

// The page or file served at `path` ("/kiosk", "/desk", "/display", "/pages/<file>"), or nullptr.
const Asset* find(std::string_view path);
// The phone's page, served at a ticket's link to a browser (its data is the same URL as JSON).
const Asset& ticket_page();

// Sent with every page and file: their own scripts and styles only (no inline script or style, no
// eval), requests to this origin only (the API, the live events), no framing, no form sent
// anywhere, and no Referer (a ticket's link holds its token).
inline constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

}  // namespace waitline::pages
