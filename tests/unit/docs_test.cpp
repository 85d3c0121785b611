// The documentation linked into the binary: the Swagger UI page works offline and behind a
// stripped path prefix, every asset it names is served, and /openapi.json is the API's document.
#include "docs/docs.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace {

using waitline::docs::Asset;
using waitline::docs::find;

std::string body_of(std::string_view path) {
  const Asset* asset = find(path);
  if (asset == nullptr) return {};
  return std::string(asset->body);
}

// Every src="..." and href="..." value in the page.
std::vector<std::string> references_in(const std::string& html) {
  static const std::regex attribute(R"re(\b(?:src|href)\s*=\s*"([^"]*)")re");
  std::vector<std::string> found;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), attribute);
       it != std::sregex_iterator(); ++it) {
    found.push_back((*it)[1].str());
  }
  return found;
}

TEST(Docs, page_is_html_and_not_cached_for_ever) {
  const Asset* page = find("/docs");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_FALSE(page->immutable);
  EXPECT_TRUE(page->body.starts_with("<!DOCTYPE html>"));
  EXPECT_NE(page->body.find(R"(<div id="swagger-ui"></div>)"), std::string_view::npos);
}

TEST(Docs, page_and_initializer_name_no_external_host) {
  for (const char* path : {"/docs", "/docs/swagger-initializer.js"}) {
    const std::string body = body_of(path);
    ASSERT_FALSE(body.empty()) << path;
    EXPECT_EQ(body.find("http://"), std::string::npos) << path;
    EXPECT_EQ(body.find("https://"), std::string::npos) << path;
  }
}

TEST(Docs, page_references_only_relative_paths) {
  const std::vector<std::string> references = references_in(body_of("/docs"));
  ASSERT_GE(references.size(), 4u);  // stylesheet, icon, bundle, initializer
  for (const std::string& reference : references) {
    // "docs/x" from the page at /docs is /docs/x, and /rubis/docs/x behind the /rubis prefix;
    // "/docs/x" would lose the prefix, "//host/x" or "scheme:" would leave the service.
    EXPECT_FALSE(reference.starts_with('/')) << reference;
    EXPECT_EQ(reference.find(':'), std::string::npos) << reference;
    EXPECT_FALSE(reference.starts_with("..")) << reference;
  }
}

TEST(Docs, every_asset_the_page_references_is_served) {
  const std::vector<std::string> references = references_in(body_of("/docs"));
  ASSERT_FALSE(references.empty());
  for (const std::string& reference : references) {
    // Relative to the page at /docs, whose directory is "/".
    EXPECT_NE(find("/" + reference), nullptr) << reference;
  }
  const std::string page = body_of("/docs");
  for (const char* needed : {R"(href="docs/swagger-ui.css")", R"(src="docs/swagger-ui-bundle.js")",
                             R"(src="docs/swagger-initializer.js")"}) {
    EXPECT_NE(page.find(needed), std::string::npos) << needed;
  }
}

TEST(Docs, page_has_no_inline_script) {
  // A strict Content-Security-Policy (script-src 'self') must be possible.
  static const std::regex inline_script(R"(<script(?![^>]*\bsrc=)[^>]*>)");
  const std::string page = body_of("/docs");
  EXPECT_FALSE(std::regex_search(page, inline_script));
  EXPECT_EQ(page.find("onload="), std::string::npos);
}

TEST(Docs, initializer_loads_the_relative_spec_and_calls_no_validator) {
  const Asset* js = find("/docs/swagger-initializer.js");
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_FALSE(js->immutable);
  EXPECT_NE(js->body.find(R"(url: "openapi.json")"), std::string_view::npos);
  EXPECT_NE(js->body.find("validatorUrl: null"), std::string_view::npos);
  EXPECT_NE(js->body.find("persistAuthorization: true"), std::string_view::npos);
  EXPECT_NE(js->body.find(R"(dom_id: "#swagger-ui")"), std::string_view::npos);
}

TEST(Docs, swagger_ui_files_are_served_and_immutable) {
  struct Expected {
    const char* path;
    std::string_view content_type;
  };
  for (const Expected& e : {Expected{"/docs/swagger-ui.css", "text/css; charset=utf-8"},
                            Expected{"/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
                            Expected{"/docs/favicon-32x32.png", "image/png"}}) {
    const Asset* asset = find(e.path);
    ASSERT_NE(asset, nullptr) << e.path;
    EXPECT_EQ(asset->content_type, e.content_type) << e.path;
    EXPECT_TRUE(asset->immutable) << e.path;
    EXPECT_GT(asset->body.size(), 0u) << e.path;
  }
  EXPECT_NE(body_of("/docs/swagger-ui-bundle.js").find("SwaggerUIBundle"), std::string::npos);
  EXPECT_TRUE(body_of("/docs/favicon-32x32.png").starts_with("\x89PNG\r\n\x1a\n"));
}

TEST(Docs, embedded_bytes_are_whole_and_nul_terminated) {
  for (const char* path : {"/docs", "/docs/swagger-initializer.js", "/openapi.json",
                           "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js",
                           "/docs/favicon-32x32.png"}) {
    const Asset* asset = find(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_EQ(asset->body.data()[asset->body.size()], '\0') << path;
    EXPECT_EQ(find(path), asset) << path;  // one table, stable addresses
  }
  EXPECT_TRUE(find("/docs")->body.ends_with("</html>\n"));
  EXPECT_TRUE(find("/openapi.json")->body.ends_with("}\n"));
}

TEST(Docs, openapi_json_is_the_api_document) {
  const Asset* spec = find("/openapi.json");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->content_type, "application/json");
  EXPECT_FALSE(spec->immutable);

  boost::system::error_code ec;
  const boost::json::value document = boost::json::parse(spec->body, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(document.is_object());
  EXPECT_EQ(document.at("openapi"), "3.0.3");
  EXPECT_EQ(document.at("info").at("version"), "0.1.0");
  EXPECT_EQ(document.at("servers").at(0).at("url"), ".");
  const boost::json::object& paths = document.at("paths").as_object();
  for (const char* path : {"/get_ticket", "/call_ticket", "/list_tickets", "/docs", "/openapi.json"}) {
    EXPECT_TRUE(paths.contains(path)) << path;
  }
  EXPECT_TRUE(document.at("paths").at("/docs").at("get").at("security").as_array().empty());
}

TEST(Docs, unknown_paths_are_not_assets) {
  for (const char* path : {"", "/", "/doc", "/docs/", "/DOCS", "/docs/index.html",
                           "/docs/openapi.json", "/openapi.json/", "/docs/swagger-ui.css.map",
                           "/docs/swagger-ui-standalone-preset.js", "/docs/../openapi.json",
                           "/rubis/docs", "/favicon.ico"}) {
    EXPECT_EQ(find(path), nullptr) << '"' << path << '"';
  }
}

}  // namespace
