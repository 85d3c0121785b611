// The table of documentation assets; their bytes are embedded by cmake/embed.cmake.
#include "docs/docs.hpp"

#include <array>
#include <utility>

#include "docs_embedded.hpp"

namespace waitline::docs {
namespace {

struct Entry {
  std::string_view path;
  Asset asset;
};

constexpr std::string_view html = "text/html; charset=utf-8";
constexpr std::string_view css = "text/css; charset=utf-8";
constexpr std::string_view javascript = "text/javascript; charset=utf-8";
constexpr std::string_view png = "image/png";
constexpr std::string_view json = "application/json";

// Built on first use (thread-safe), so no static-initialisation order is involved.
const std::array<Entry, 6>& entries() {
  static const std::array<Entry, 6> table{{
      {"/docs", {html, embedded::index_html(), false}},
      {"/docs/swagger-initializer.js", {javascript, embedded::swagger_initializer_js(), false}},
      {"/openapi.json", {json, embedded::openapi_json(), false}},
      // Files of swagger-ui-dist, exactly as pinned by package-lock.json.
      {"/docs/swagger-ui.css", {css, embedded::swagger_ui_css(), true}},
      {"/docs/swagger-ui-bundle.js", {javascript, embedded::swagger_ui_bundle_js(), true}},
      {"/docs/favicon-32x32.png", {png, embedded::favicon_32x32_png(), true}},
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

}  // namespace waitline::docs
