// The table of the screens' files; their bytes are embedded by cmake/embed.cmake.
#include "pages/pages.hpp"

#include <array>

#include "pages_embedded.hpp"

namespace waitline::pages {
namespace {

struct Entry {
  std::string_view path;
  Asset asset;
};

constexpr std::string_view html = "text/html; charset=utf-8";
constexpr std::string_view css = "text/css; charset=utf-8";
constexpr std::string_view javascript = "text/javascript; charset=utf-8";

// Built on first use (thread-safe), so no static-initialisation order is involved.
const std::array<Entry, 13>& entries() {
  static const std::array<Entry, 13> table{{
      {"/kiosk", {html, embedded::kiosk_html()}},
      {"/desk", {html, embedded::desk_html()}},
      {"/display", {html, embedded::display_html()}},
      {"/pages/screens.css", {css, embedded::screens_css()}},
      {"/pages/common.js", {javascript, embedded::common_js()}},
      {"/pages/speech.js", {javascript, embedded::speech_js()}},
      {"/pages/kiosk.js", {javascript, embedded::kiosk_js()}},
      {"/pages/desk.js", {javascript, embedded::desk_js()}},
      {"/pages/display.js", {javascript, embedded::display_js()}},
      {"/pages/ticket.js", {javascript, embedded::ticket_js()}},
      {"/pages/i18n/fr.js", {javascript, embedded::fr_js()}},
      {"/pages/i18n/en.js", {javascript, embedded::en_js()}},
      // qrcode-generator from npm, exactly as pinned by package-lock.json.
      {"/pages/qrcode.mjs", {javascript, embedded::qrcode_mjs()}},
  }};
  return table;
}

}  // namespace

const Asset* find(std::string_view path) {
  for (const Entry& entry : entries()) {
    if (entry.path == path) return &entry.asset;
  }
  return nullptr;
}

const Asset& ticket_page() {
  static const Asset page{html, embedded::ticket_html()};
  return page;
}

}  // namespace waitline::pages
