// The documentation linked into the binary: the Swagger UI page works offline and behind a
// stripped path prefix, every asset it names is served, and /openapi.json is the API's document.
#include "docs/docs.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>
#include <set>
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
  for (auto it = std::sregex_iterator(html.begin(), html.end(), attribute); it != std::sregex_iterator(); ++it) {
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
    // Relative to the page at /docs, whose directory is "/"; the document is made by openapi().
    if (reference == "openapi.json") continue;
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
  for (const char* path : {"/docs", "/docs/swagger-initializer.js", "/docs/swagger-ui.css",
                           "/docs/swagger-ui-bundle.js", "/docs/favicon-32x32.png"}) {
    const Asset* asset = find(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_EQ(asset->body.data()[asset->body.size()], '\0') << path;
    EXPECT_EQ(find(path), asset) << path;  // one table, stable addresses
  }
  EXPECT_TRUE(find("/docs")->body.ends_with("</html>\n"));
}

// --- The OpenAPI document, cut to the settings ----------------------------------------------------

using waitline::docs::openapi;
using waitline::docs::Served;
namespace json = boost::json;

json::object document(const Served& served) {
  boost::system::error_code ec;
  json::value value = json::parse(openapi(served), ec);
  EXPECT_FALSE(ec) << ec.message();
  return value.is_object() ? std::move(value.as_object()) : json::object{};
}

// Every "$ref" in `value`, and every status that some operation answers.
void references(const json::value& value, std::set<std::string>& found) {
  if (const auto* object = value.if_object()) {
    for (const auto& [key, member] : *object) {
      if (key == "$ref") found.emplace(member.as_string());
      else references(member, found);
    }
  } else if (const auto* array = value.if_array()) {
    for (const auto& element : *array) references(element, found);
  }
}

std::set<std::string> statuses(const json::object& doc) {
  std::set<std::string> found;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (const auto* responses = operation.as_object().if_contains("responses")) {
        for (const auto& [status, response] : responses->as_object()) found.emplace(status);
      }
    }
  }
  return found;
}

const Served everything{.legacy_get = true,
                        .authentication = true,
                        .key_limit = {20, 40},
                        .client_limit = {50, 100},
                        .max_queue_length = 1000};
const Served nothing{
    .legacy_get = false, .authentication = false, .key_limit = {}, .client_limit = {}, .max_queue_length = 0};

TEST(Docs, openapi_json_is_the_api_document) {
  const json::object doc = document(everything);
  EXPECT_EQ(doc.at("openapi"), "3.0.3");
  EXPECT_EQ(doc.at("info").at("version"), "0.1.0");
  EXPECT_EQ(doc.at("servers").at(0).at("url"), ".");
  const json::object& paths = doc.at("paths").as_object();
  for (const char* path : {"/get_ticket", "/call_ticket", "/list_tickets", "/docs", "/openapi.json"}) {
    EXPECT_TRUE(paths.contains(path)) << path;
  }
  EXPECT_TRUE(doc.at("paths").at("/docs").at("get").at("security").as_array().empty());
}

TEST(Docs, with_every_feature_on_the_document_lists_everything_the_repository_file_does) {
  const json::object doc = document(everything);
  EXPECT_TRUE(doc.at("paths").at("/get_ticket").as_object().contains("get"));
  EXPECT_TRUE(doc.at("paths").at("/call_ticket").as_object().contains("get"));
  EXPECT_TRUE(doc.contains("security"));
  const auto answered = statuses(doc);
  for (const char* status : {"401", "403", "409", "429"}) EXPECT_TRUE(answered.contains(status)) << status;
  const std::string description(doc.at("info").at("description").as_string());
  EXPECT_NE(description.find("20 requests a second per API key (a burst of 40 at once)"), std::string::npos);
  EXPECT_NE(description.find("50 requests a second per client address (a burst of 100 at once)"), std::string::npos);
  EXPECT_NE(description.find("at most 1000 waiting tickets"), std::string::npos);
}

TEST(Docs, without_legacy_get_the_state_changing_gets_are_not_listed) {
  Served served = everything;
  served.legacy_get = false;
  const json::object doc = document(served);
  for (const char* path : {"/get_ticket", "/call_ticket"}) {
    const json::object& item = doc.at("paths").at(path).as_object();
    EXPECT_FALSE(item.contains("get")) << path;
    EXPECT_TRUE(item.contains("post")) << path;
  }
  EXPECT_EQ(json::serialize(doc).find("Legacy"), std::string::npos);  // takeTicketLegacy, callTicketLegacy
}

TEST(Docs, without_authentication_no_operation_needs_a_key_or_answers_401_or_403) {
  Served served = everything;
  served.authentication = false;
  const json::object doc = document(served);
  EXPECT_FALSE(doc.contains("security"));
  EXPECT_FALSE(doc.at("components").as_object().contains("securitySchemes"));
  const auto answered = statuses(doc);
  EXPECT_FALSE(answered.contains("401"));
  EXPECT_FALSE(answered.contains("403"));
  const std::string text = json::serialize(doc);
  EXPECT_EQ(text.find("Requires an API key"), std::string::npos);
  EXPECT_EQ(text.find("x-required-scope"), std::string::npos);
  EXPECT_NE(text.find("Authentication is off"), std::string::npos);
  // The key's rate limit cannot apply without keys: only the client's is said.
  const std::string description(doc.at("info").at("description").as_string());
  EXPECT_EQ(description.find("requests a second per API key"), std::string::npos);
  EXPECT_NE(description.find("requests a second per client address"), std::string::npos);
}

TEST(Docs, without_limits_no_answer_is_429_or_409_and_none_carries_ratelimit_fields) {
  const json::object doc = document(nothing);
  const auto answered = statuses(doc);
  EXPECT_FALSE(answered.contains("429"));
  EXPECT_FALSE(answered.contains("409"));
  const std::string text = json::serialize(doc);
  EXPECT_EQ(text.find("\"RateLimit\""), std::string::npos);
  EXPECT_EQ(text.find("\"RateLimit-Policy\""), std::string::npos);
  EXPECT_NE(text.find("No rate limit."), std::string::npos);
  EXPECT_NE(text.find("No maximum queue length."), std::string::npos);
  // Still the other answers: 200, 400, 404, 503, 504...
  for (const char* status : {"200", "400", "404", "503", "504"}) EXPECT_TRUE(answered.contains(status)) << status;
}

TEST(Docs, every_reference_left_resolves_and_every_component_left_is_used) {
  EXPECT_TRUE(document(nothing).at("components").at("responses").as_object().contains("BadRequest"));
  for (const Served& served : {everything, nothing}) {
    const json::object doc = document(served);
    std::set<std::string> used;
    references(doc, used);
    std::set<std::string> defined;
    for (const auto& [kind, table] : doc.at("components").as_object()) {
      if (kind == "securitySchemes") continue;
      for (const auto& [name, value] : table.as_object()) {
        defined.insert("#/components/" + std::string(kind) + "/" + std::string(name));
      }
    }
    EXPECT_EQ(used, defined);
  }
}

TEST(Docs, unknown_paths_are_not_assets) {
  for (const char* path :
       {"", "/", "/doc", "/docs/", "/DOCS", "/docs/index.html", "/openapi.json", "/docs/openapi.json", "/openapi.json/",
        "/docs/swagger-ui.css.map", "/docs/swagger-ui-standalone-preset.js", "/docs/../openapi.json", "/rubis/docs",
        "/favicon.ico"}) {
    EXPECT_EQ(find(path), nullptr) << '"' << path << '"';
  }
}

}  // namespace
