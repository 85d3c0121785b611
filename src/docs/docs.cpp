// The table of documentation assets, whose bytes are embedded by cmake/embed.cmake, and the
// OpenAPI document cut to the settings.
#include "docs/docs.hpp"

#include <boost/json.hpp>
#include <array>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "docs_embedded.hpp"

namespace waitline::docs {
namespace {

namespace json = boost::json;

struct Entry {
  std::string_view path;
  Asset asset;
};

constexpr std::string_view html = "text/html; charset=utf-8";
constexpr std::string_view css = "text/css; charset=utf-8";
constexpr std::string_view javascript = "text/javascript; charset=utf-8";
constexpr std::string_view png = "image/png";

// Built on first use (thread-safe), so no static-initialisation order is involved.
const std::array<Entry, 5>& entries() {
  static const std::array<Entry, 5> table{{
      {"/docs", {html, embedded::index_html(), false}},
      {"/docs/swagger-initializer.js", {javascript, embedded::swagger_initializer_js(), false}},
      // Files of swagger-ui-dist, exactly as pinned by package-lock.json.
      {"/docs/swagger-ui.css", {css, embedded::swagger_ui_css(), true}},
      {"/docs/swagger-ui-bundle.js", {javascript, embedded::swagger_ui_bundle_js(), true}},
      {"/docs/favicon-32x32.png", {png, embedded::favicon_32x32_png(), true}},
  }};
  return table;
}

constexpr std::array<std::string_view, 7> methods{"get", "post", "put", "delete", "patch", "head", "options"};

// Removes the members `drop` names, keeping the others in their order (Boost 1.81's
// object::erase moves the last member into the hole).
void erase_if(json::object& object, const std::function<bool(std::string_view key)>& drop) {
  json::object kept;
  for (auto& [key, value] : object) {
    if (!drop(key)) kept.emplace(key, std::move(value));
  }
  object = std::move(kept);
}

void erase(json::object& object, std::set<std::string_view> keys) {
  erase_if(object, [&](std::string_view key) { return keys.contains(key); });
}

void for_each_operation(json::object& document, const std::function<void(json::object&)>& visit) {
  for (auto& [path, item] : document.at("paths").as_object()) {
    for (auto& [method, operation] : item.as_object()) {
      if (std::ranges::find(methods, std::string_view(method)) != methods.end()) visit(operation.as_object());
    }
  }
}

// Every `headers` object anywhere: the answers' headers (and components.headers, whose unused
// entries prune() removes anyway).
void for_each_headers(json::value& value, const std::function<void(json::object&)>& visit) {
  if (auto* object = value.if_object()) {
    for (auto& [key, member] : *object) {
      if (key == "headers" && member.is_object()) visit(member.as_object());
      for_each_headers(member, visit);
    }
  } else if (auto* array = value.if_array()) {
    for (auto& element : *array) for_each_headers(element, visit);
  }
}

void collect_references(const json::value& value, std::set<std::string>& references) {
  if (const auto* object = value.if_object()) {
    for (const auto& [key, member] : *object) {
      if (key == "$ref" && member.is_string()) references.emplace(member.as_string());
      else collect_references(member, references);
    }
  } else if (const auto* array = value.if_array()) {
    for (const auto& element : *array) collect_references(element, references);
  }
}

// Drops the components nothing refers to any more (a response names headers and schemas, a
// schema other schemas), until every one left is used.
void prune(json::object& document) {
  auto& components = document.at("components").as_object();
  for (bool dropped = true; dropped;) {
    dropped = false;
    std::set<std::string> references;
    collect_references(document, references);
    for (auto& [kind, table] : components) {
      if (kind == "securitySchemes") continue;  // named by `security`, not by $ref
      const std::string prefix = "#/components/" + std::string(kind) + "/";
      erase_if(table.as_object(), [&](std::string_view name) {
        const bool unused = !references.contains(prefix + std::string(name));
        dropped = dropped || unused;
        return unused;
      });
    }
  }
}

// The paragraphs of a description, by their first words.
void replace_paragraph(json::value& description, std::string_view starting, const std::string& replacement) {
  std::string text(description.as_string());
  std::string result;
  for (std::size_t at = 0; at <= text.size();) {
    auto end = text.find("\n\n", at);
    if (end == std::string::npos) end = text.size();
    const std::string_view paragraph(text.data() + at, end - at);
    const std::string_view kept = paragraph.starts_with(starting) ? std::string_view(replacement) : paragraph;
    if (!kept.empty()) result.append(result.empty() ? "" : "\n\n").append(kept);
    at = end + 2;
  }
  description = result;
}

void without_legacy_get(json::object& document) {
  auto& paths = document.at("paths").as_object();
  for (const char* path : {"/get_ticket", "/call_ticket"}) erase(paths.at(path).as_object(), {"get"});
}

void without_authentication(json::object& document) {
  erase(document, {"security"});
  erase(document.at("components").as_object(), {"securitySchemes"});
  for_each_operation(document, [](json::object& operation) {
    erase(operation, {"security", "x-required-scope"});
    erase(operation.at("responses").as_object(), {"401", "403"});
    if (auto* description = operation.if_contains("description")) {
      replace_paragraph(*description, "Requires a", "");
    }
  });
  replace_paragraph(document.at("info").at("description"), "**Authentication.**",
                    "**Authentication is off** on this service (`--insecure-no-auth`, for a local test only): "
                    "every operation is open to whoever reaches it, without a key.");
}

std::string rate(const ratelimit::Rate& limit, std::string_view whose) {
  return std::to_string(limit.per_second) + " requests a second per " + std::string(whose) + " (a burst of " +
         std::to_string(limit.burst) + " at once)";
}

// The limits paragraph says the limits in force; the answers they cause are listed only then.
void limits(json::object& document, const Served& served) {
  std::vector<std::string> rates;
  if (served.authentication && served.key_limit.on()) rates.push_back(rate(served.key_limit, "API key"));
  if (served.client_limit.on()) rates.push_back(rate(served.client_limit, "client address"));
  std::string text = "**Limits in force.**";
  if (rates.empty()) {
    text += " No rate limit.";
    for_each_operation(document,
                       [](json::object& operation) { erase(operation.at("responses").as_object(), {"429"}); });
    for_each_headers(document.at("paths"), [](json::object& headers) {
      erase(headers, {"RateLimit", "RateLimit-Policy"});
    });
    for_each_headers(document.at("components"), [](json::object& headers) {
      erase(headers, {"RateLimit", "RateLimit-Policy"});
    });
  } else {
    text += " At most " + rates.front() + (rates.size() > 1 ? ", and " + rates.back() : "") +
            ". Beyond, the answer is 429 `rate_limited` with `Retry-After`, and every answer carries the "
            "`RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-10.";
  }
  if (served.max_queue_length > 0) {
    text += " The queue holds at most " + std::to_string(served.max_queue_length) +
            " waiting tickets: a take beyond gets 409 `queue_full` and stores nothing.";
  } else {
    text += " No maximum queue length.";
    for_each_operation(document,
                       [](json::object& operation) { erase(operation.at("responses").as_object(), {"409"}); });
  }
  replace_paragraph(document.at("info").at("description"), "**Limits.**", text);
}

}  // namespace

const Asset* find(std::string_view path) {
  for (const Entry& entry : entries()) {
    if (entry.path == path) return &entry.asset;
  }
  return nullptr;
}

std::string openapi(const Served& served) {
  json::object document = json::parse(embedded::openapi_json()).as_object();
  if (!served.legacy_get) without_legacy_get(document);
  if (!served.authentication) without_authentication(document);
  limits(document, served);
  prune(document);
  return json::serialize(document);
}

}  // namespace waitline::docs
