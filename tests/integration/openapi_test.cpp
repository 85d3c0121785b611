// The served OpenAPI document and Swagger UI: the document passes a real OpenAPI validator, the
// spec and the router agree on every path and method, real answers fit the documented schemas and
// statuses, and /docs loads every asset by a relative URL, also behind a prefix-stripping proxy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "integration/sse.hpp"
#include "integration/testkit.hpp"
#include "support/support.hpp"

#ifndef WAITLINE_SOURCE_DIR
#error "WAITLINE_SOURCE_DIR must name the repository root (see tests/integration/CMakeLists.txt)"
#endif

namespace waitline::test {
namespace {

using namespace kit;

const std::vector<std::string> kMethods{"get", "post", "put", "delete", "patch", "options", "head"};

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class OpenApi : public KeyedServiceTest {
 protected:
  // Limits far above what the tests send, so that answers carry the documented RateLimit fields.
  OpenApi()
      : KeyedServiceTest({{"everything", "take,call,read"}, {"screen", "read"}},
                         {"--rate-limit-key", "1000", "--rate-limit-client", "1000", "--rate-limit-client-burst",
                          "1000"}) {}
  const ApiKey& key = keys[0];
  const ApiKey& reader = keys[1];

  json::object spec() {
    const Response response = client.get("/openapi.json");
    EXPECT_EQ(response.status, 200u);
    EXPECT_TRUE(response.header("Content-Type").starts_with("application/json"));
    return parse_object(response.body);
  }
};

// The operations of a document: path -> its methods.
std::map<std::string, std::set<std::string>> operations_of(const json::object& document) {
  std::map<std::string, std::set<std::string>> operations;
  for (const auto& [path, item] : document.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (std::find(kMethods.begin(), kMethods.end(), std::string(method)) != kMethods.end()) {
        operations[std::string(path)].insert(std::string(method));
      }
    }
  }
  return operations;
}

// Runs the OpenAPI validator on a document served with the settings `switched_off` names
// (--no-auth...); returns its exit status.
int validate(const TempDir& dir, const std::string& body, const std::vector<std::string>& switched_off = {}) {
  const std::string file = dir.write("served-openapi.json", body);
  std::vector<std::string> command{"node",
                                   std::string(WAITLINE_SOURCE_DIR) + "/tests/integration/validate_openapi.mjs"};
  command.insert(command.end(), switched_off.begin(), switched_off.end());
  command.push_back(file);
  const RunResult validated = run(command);
  EXPECT_EQ(validated.status == 0, validated.output.find(" passed, 0 failed") != std::string::npos) << validated.output;
  return validated.status;
}

TEST_F(OpenApi, TheServedDocumentPassesTheOpenApiValidator) {
  const Response response = client.get("/openapi.json");
  ASSERT_EQ(response.status, 200u);
  // With legacy GET, keys and limits on, every operation of the repository's document is served.
  const json::object repository = parse_object(read_text(std::string(WAITLINE_SOURCE_DIR) + "/src/docs/openapi.json"));
  EXPECT_EQ(operations_of(parse_object(response.body)), operations_of(repository));
  EXPECT_EQ(validate(dir, response.body), 0);
}

TEST_F(OpenApi, TheValidatorRejectsABrokenDocument) {
  // The check above can fail: a document missing an operation's responses is refused.
  json::object broken = spec();
  broken.at("paths").as_object().at("/get_ticket").as_object().at("post").as_object().erase("responses");
  const std::string file = dir.write("broken-openapi.json", json::serialize(broken));
  const RunResult validated = run(
      {"node", std::string(WAITLINE_SOURCE_DIR) + "/tests/integration/validate_openapi.mjs", file});
  EXPECT_EQ(validated.status, 1) << validated.output;
}

// Sends one request for the operation `method path` with a key holding every scope.
Response send(HttpClient& client, const std::string& method, const std::string& path, const std::string& key) {
  return client.request(upper(method), path, bearer(key));
}

// The documented path made concrete: a template's ticket is a real one, with its token.
std::string concrete(const std::string& path, const std::string& ticket_url) {
  const auto n = path.find("{n}");
  if (n == std::string::npos) return path;
  const std::string ticket = ticket_url.substr(0, ticket_url.find('?'));
  return ticket + path.substr(n + 3) + ticket_url.substr(ticket_url.find('?'));
}

// The documented success of an operation: its 2xx status, and whether it is a stream.
std::pair<unsigned, bool> success_of(const json::object& document, const json::object& operation);

// Each documented operation answers its documented success, and every other method 405 with an
// Allow that lists exactly the documented ones. `key` holds every scope (ignored without keys).
void every_operation_is_served(HttpClient& client, std::uint16_t port, const json::object& document,
                               const std::string& key);

TEST_F(OpenApi, EveryDocumentedOperationIsServedAndEveryOtherMethodIsRefused) {
  every_operation_is_served(client, service.port(), spec(), key.key);
}

void every_operation_is_served(HttpClient& client, std::uint16_t port, const json::object& document,
                               const std::string& key) {
  const json::object& paths = document.at("paths").as_object();
  ASSERT_GE(paths.size(), 5u);
  // A queue with a called ticket (to recall) and a waiting one (whose link opens /tickets/{n}).
  ASSERT_EQ(client.post("/get_ticket", bearer(key)).status, 200u);
  ASSERT_EQ(client.post("/call_ticket?counter=3", bearer(key)).status, 200u);
  const std::string ticket_url = std::string(
      parse_object(client.post("/get_ticket", bearer(key)).body).at("ticket_url").as_string());
  for (const auto& [path, item] : paths) {
    std::set<std::string> documented;
    for (const auto& [method, operation] : item.as_object()) {
      if (std::find(kMethods.begin(), kMethods.end(), std::string(method)) != kMethods.end()) {
        documented.insert(std::string(method));
      }
    }
    ASSERT_FALSE(documented.empty()) << path;
    // HEAD is served wherever a GET that changes nothing is (not the deprecated state-changing ones).
    std::set<std::string> allow_expected = documented;
    if (const auto* get = item.as_object().if_contains("get"); get && !get->as_object().contains("deprecated")) {
      allow_expected.insert("head");
    }
    const std::string target = concrete(std::string(path), ticket_url);
    for (const std::string& method : kMethods) {
      if (method == "head" || method == "options") continue;  // not routed; nor documented
      SCOPED_TRACE(upper(method) + " " + target);
      if (documented.contains(method)) {
        const auto [status, stream] = success_of(document, item.as_object().at(method).as_object());
        if (stream) {
          // An endless body: the head says what it is, the rest is the events tests' business.
          SseClient events(port, target, bearer(key));
          EXPECT_EQ(events.status(), status);
          EXPECT_TRUE(events.head().header("Content-Type").starts_with("text/event-stream"));
          continue;
        }
        const Response response = send(client, method, target, key);
        EXPECT_EQ(response.status, status) << response.body;
      } else {
        const Response response = send(client, method, target, key);
        EXPECT_TRUE(is_error(response, 405, "method_not_allowed"));
        // Allow lists exactly the documented methods.
        std::set<std::string> allowed;
        std::string allow = response.header("Allow");
        for (std::size_t start = 0; start <= allow.size();) {
          const std::size_t comma = std::min(allow.find(',', start), allow.size());
          std::string method_name = allow.substr(start, comma - start);
          method_name.erase(0, method_name.find_first_not_of(' '));
          if (!method_name.empty()) {
            for (char& c : method_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            allowed.insert(method_name);
          }
          start = comma + 1;
        }
        EXPECT_EQ(allowed, allow_expected);
      }
    }
  }
}

// Follows "#/components/..." references inside the document.
const json::value& resolve(const json::object& document, const json::value& value);

std::pair<unsigned, bool> success_of(const json::object& document, const json::object& operation) {
  for (const auto& [code, response] : operation.at("responses").as_object()) {
    if (!code.starts_with("2")) continue;
    const auto& resolved = resolve(document, response).as_object();
    const auto* content = resolved.if_contains("content");
    return {static_cast<unsigned>(std::stoul(std::string(code))),
            content && content->as_object().contains("text/event-stream")};
  }
  ADD_FAILURE() << "an operation without a documented success";
  return {0, false};
}

const json::value& resolve(const json::object& document, const json::value& value) {
  const json::value* current = &value;
  while (current->is_object() && current->as_object().contains("$ref")) {
    std::string ref(current->as_object().at("$ref").as_string());
    if (!ref.starts_with("#/")) throw std::runtime_error("external $ref " + ref);
    const json::value* target = nullptr;
    const json::object* scope = &document;
    std::size_t start = 2;
    while (start <= ref.size()) {
      const std::size_t slash = std::min(ref.find('/', start), ref.size());
      target = &scope->at(ref.substr(start, slash - start));
      if (slash < ref.size()) scope = &target->as_object();
      start = slash + 1;
    }
    current = target;
  }
  return *current;
}

// Whether `body` fits `schema` (the subset of JSON Schema the document uses).
std::string mismatch(const json::object& document, const json::value& schema_ref, const json::value& body,
                     const std::string& where) {
  const json::object& schema = resolve(document, schema_ref).as_object();
  if (body.is_null()) {
    const auto* nullable = schema.if_contains("nullable");
    return nullable && nullable->is_bool() && nullable->as_bool() ? "" : where + " is null";
  }
  const std::string type = schema.contains("type") ? std::string(schema.at("type").as_string()) : "";
  if (type == "object") {
    if (!body.is_object()) return where + " is not an object";
    const json::object& object = body.as_object();
    if (!schema.contains("properties")) return "";  // any object, e.g. the document itself
    const json::object& properties = schema.at("properties").as_object();
    if (const auto* required = schema.if_contains("required")) {
      for (const json::value& name : required->as_array()) {
        if (!object.contains(name.as_string())) return where + " lacks " + std::string(name.as_string());
      }
    }
    for (const auto& [name, value] : object) {
      if (!properties.contains(name)) return where + " has undocumented " + std::string(name);
      const std::string inner = mismatch(document, properties.at(name), value, where + "." + std::string(name));
      if (!inner.empty()) return inner;
    }
    return "";
  }
  if (type == "array") {
    if (!body.is_array()) return where + " is not an array";
    for (const json::value& item : body.as_array()) {
      const std::string inner = mismatch(document, schema.at("items"), item, where + "[]");
      if (!inner.empty()) return inner;
    }
    return "";
  }
  if (type == "integer") return body.is_int64() || body.is_uint64() ? "" : where + " is not an integer";
  if (type == "string") return body.is_string() ? "" : where + " is not a string";
  if (type == "boolean") return body.is_bool() ? "" : where + " is not a boolean";
  return "";
}

TEST_F(OpenApi, RealAnswersHaveDocumentedStatusesAndFitTheirSchemas) {
  const json::object document = spec();
  struct Call {
    std::string method, path, target;
    std::map<std::string, std::string> headers;
  };
  const auto with = [](const std::string& k) { return bearer(k); };
  const std::vector<Call> calls{
      {"post", "/get_ticket", "/get_ticket", with(key.key)},
      {"post", "/get_ticket", "/get_ticket", with(key.key)},
      {"get", "/get_ticket", "/get_ticket", with(key.key)},
      {"post", "/call_ticket", "/call_ticket", with(key.key)},
      {"get", "/list_tickets", "/list_tickets?limit=2", with(key.key)},
      {"get", "/call_ticket", "/call_ticket", with(key.key)},
      {"post", "/call_ticket", "/call_ticket", with(key.key)},
      {"post", "/call_ticket", "/call_ticket", with(key.key)},  // empty queue: ticket null
      {"get", "/list_tickets", "/list_tickets", with(key.key)},
      {"get", "/list_tickets", "/list_tickets?limit=5000", with(key.key)},
      {"post", "/get_ticket", "/get_ticket", {}},
      {"post", "/get_ticket", "/get_ticket", with("wl_unknown")},
      {"post", "/get_ticket", "/get_ticket", with(reader.key)},
      {"post", "/call_ticket", "/call_ticket", with(reader.key)},
      {"get", "/list_tickets", "/list_tickets", {}},
      {"get", "/docs", "/docs", {}},
      {"get", "/openapi.json", "/openapi.json", {}},
      {"post", "/recall", "/recall", with(key.key)},  // nothing called yet: 404
      {"post", "/get_ticket", "/get_ticket", with(key.key)},
      {"post", "/call_ticket", "/call_ticket?counter=3", with(key.key)},
      {"post", "/call_ticket", "/call_ticket?counter=no%20spaces", with(key.key)},
      {"post", "/recall", "/recall?counter=3", with(key.key)},
      {"get", "/last_called", "/last_called", with(key.key)},
      {"post", "/get_ticket", "/get_ticket", with(key.key)},
      {"get", "/tickets/{n}", "ticket_url", {}},
      {"get", "/tickets/{n}", "/tickets/1?token=AAAAAAAAAAAAAAAAAAAAAA", {}},
      {"get", "/events", "/events", {{"Last-Event-ID", "garbage"}, {"Authorization", "Bearer " + key.key}}},
      {"get", "/events", "/events", {}},
      {"post", "/session", "/session", with(key.key)},
      {"get", "/session", "/session", with(reader.key)},
      {"delete", "/session", "/session", {}},
  };
  std::string ticket_url;
  for (const Call& call : calls) {
    SCOPED_TRACE(upper(call.method) + " " + call.target);
    const std::string target = call.target == "ticket_url" ? ticket_url : call.target;
    const Response response = client.request(upper(call.method), target, call.headers);
    if (response.status == 200u && call.path == "/get_ticket")
      ticket_url = std::string(parse_object(response.body).at("ticket_url").as_string());
    const json::object& operation = document.at("paths").at(call.path).at(call.method).as_object();
    const json::object& responses = operation.at("responses").as_object();
    const std::string status = std::to_string(response.status);
    ASSERT_TRUE(responses.contains(status)) << "undocumented status " << status << ": " << response.body;
    const json::object& documented = resolve(document, responses.at(status)).as_object();

    if (const auto* headers = documented.if_contains("headers")) {
      for (const auto& [name, header] : headers->as_object()) {
        EXPECT_FALSE(response.header(std::string(name)).empty()) << "documented header " << name;
      }
    }
    if (!response.header("Content-Type").starts_with("application/json")) continue;
    const json::object& content = documented.at("content").as_object();
    ASSERT_TRUE(content.contains("application/json"));
    const json::value& schema = content.at("application/json").at("schema");
    EXPECT_EQ(mismatch(document, schema, parse_json(response.body), "body"), "") << response.body;
  }
}

// --- The document follows the settings -----------------------------------------------------------

// Every status some operation of `document` answers.
std::set<std::string> statuses_of(const json::object& document) {
  std::set<std::string> statuses;
  for (const auto& [path, item] : document.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (const auto* responses = operation.as_object().if_contains("responses")) {
        for (const auto& [status, response] : responses->as_object()) statuses.insert(std::string(status));
      }
    }
  }
  return statuses;
}

TEST(OpenApiSettings, WithoutLegacyGetKeysOrLimitsTheDocumentListsOnlyWhatIsServed) {
  RedisServer redis;
  TempDir dir;
  Service service(
      {.redis_port = redis.port(), .extra_args = {"--insecure-no-auth", "--legacy-get=false", "--max-queue-length=0"}});
  HttpClient client(service.port());
  const Response response = client.get("/openapi.json");
  ASSERT_EQ(response.status, 200u);
  const json::object document = parse_object(response.body);
  const auto operations = operations_of(document);
  EXPECT_EQ(operations.at("/get_ticket"), std::set<std::string>{"post"});
  EXPECT_EQ(operations.at("/call_ticket"), std::set<std::string>{"post"});
  EXPECT_TRUE(is_error(client.get("/get_ticket"), 405, "method_not_allowed"));
  EXPECT_FALSE(document.contains("security"));
  const auto statuses = statuses_of(document);
  for (const char* never : {"401", "403", "409", "429"}) EXPECT_FALSE(statuses.contains(never)) << never;
  EXPECT_EQ(validate(dir, response.body, {"--no-legacy-get", "--no-auth", "--no-rate-limits", "--no-max-queue-length"}),
            0);
  // The validator knows what those settings remove: the full document does not pass as theirs.
  EXPECT_EQ(validate(dir, read_text(std::string(WAITLINE_SOURCE_DIR) + "/src/docs/openapi.json"),
                     {"--no-legacy-get", "--no-auth", "--no-rate-limits", "--no-max-queue-length"}),
            1);
  every_operation_is_served(client, service.port(), document, "no-key-needed");
}

TEST(OpenApiSettings, TheLimitsInForceAreSaidInTheDocument) {
  RedisServer redis;
  Service service({.redis_port = redis.port(),
                   .extra_args = {"--insecure-no-auth", "--rate-limit-client=7", "--rate-limit-client-burst=9",
                                  "--max-queue-length=250"}});
  HttpClient client(service.port());
  const json::object document = parse_object(client.get("/openapi.json").body);
  const std::string description(document.at("info").at("description").as_string());
  EXPECT_NE(description.find("7 requests a second per client address (a burst of 9 at once)"), std::string::npos)
      << description;
  EXPECT_NE(description.find("at most 250 waiting tickets"), std::string::npos) << description;
  const auto statuses = statuses_of(document);
  EXPECT_TRUE(statuses.contains("429"));
  EXPECT_TRUE(statuses.contains("409"));
}

// --- Swagger UI ----------------------------------------------------------------------------------

// The URLs of the page's href= and src= attributes.
std::vector<std::string> asset_urls(const std::string& html) {
  std::vector<std::string> urls;
  const std::regex attribute(R"re(\b(?:href|src)\s*=\s*"([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), attribute); it != std::sregex_iterator(); ++it) {
    urls.push_back((*it)[1].str());
  }
  return urls;
}

bool is_relative(const std::string& url) {
  return !url.empty() && !url.starts_with('/') && url.find("://") == std::string::npos && !url.starts_with("data:");
}

// A relative reference (no "..", no query) resolved against the page `base` (RFC 3986 merge).
std::string resolve_url(const std::string& base, const std::string& relative) {
  std::string resolved = base.substr(0, base.rfind('/') + 1) + relative;
  for (std::size_t dot; (dot = resolved.find("/./")) != std::string::npos;) resolved.erase(dot, 2);
  return resolved;
}

struct ContentType {
  std::string url_end, type;
};

TEST_F(OpenApi, DocsLoadsEveryAssetByARelativeUrlAlsoBehindAPrefixStrippingProxy) {
  const Response page = client.get("/docs");
  ASSERT_EQ(page.status, 200u);
  EXPECT_TRUE(page.header("Content-Type").starts_with("text/html"));
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);  // no CDN

  const std::vector<std::string> urls = asset_urls(page.body);
  ASSERT_GE(urls.size(), 3u) << page.body;  // the stylesheet, the bundle, the initializer
  const std::map<std::string, std::string> types{{".css", "text/css"},
                                                 {".js", "text/javascript"},
                                                 {".png", "image/png"},
                                                 {".json", "application/json"}};
  bool bundle = false, initializer = false;
  for (const std::string& url : urls) {
    SCOPED_TRACE(url);
    ASSERT_TRUE(is_relative(url)) << "an absolute URL breaks behind a path prefix";
    bundle = bundle || url.ends_with("swagger-ui-bundle.js");
    initializer = initializer || url.ends_with("swagger-initializer.js");
    // The browser, on https://host/rubis/docs, asks for /rubis/<url>; the proxy strips /rubis.
    const std::string direct = resolve_url("/docs", url);
    const std::string through_proxy = resolve_url("/rubis/docs", url);
    ASSERT_TRUE(through_proxy.starts_with("/rubis/"));
    EXPECT_EQ(through_proxy.substr(6), direct);
    const Response asset = client.get(through_proxy.substr(6), {{"X-Forwarded-Prefix", "/rubis"}});
    EXPECT_EQ(asset.status, 200u);
    EXPECT_FALSE(asset.body.empty());
    for (const auto& [ending, type] : types) {
      if (url.ends_with(ending)) {
        EXPECT_TRUE(asset.header("Content-Type").starts_with(type)) << asset.header("Content-Type");
      }
    }
  }
  EXPECT_TRUE(bundle && initializer);

  // The initializer points Swagger UI at the spec next to the page, and nowhere else.
  const Response script = client.get(resolve_url("/docs", "docs/swagger-initializer.js"));
  ASSERT_EQ(script.status, 200u);
  std::smatch spec_url;
  ASSERT_TRUE(std::regex_search(script.body, spec_url, std::regex(R"re(\burl\s*:\s*"([^"]*)")re"))) << script.body;
  ASSERT_TRUE(is_relative(spec_url[1].str())) << spec_url[1].str();
  EXPECT_EQ(script.body.find("http"), std::string::npos) << "no external URL in the initializer";
  const std::string spec_path = resolve_url("/rubis/docs", spec_url[1].str()).substr(6);
  EXPECT_EQ(spec_path, "/openapi.json");
  const Response document = client.get(spec_path, {{"X-Forwarded-Prefix", "/rubis"}});
  EXPECT_EQ(document.status, 200u);
  EXPECT_EQ(parse_object(document.body).at("openapi"), "3.0.3");
  // And the document's server is relative too, so "Try it out" stays under /rubis.
  EXPECT_EQ(parse_object(document.body).at("servers").as_array().at(0).at("url"), ".");
}

// The directives of a Content-Security-Policy value: name -> its sources.
std::map<std::string, std::set<std::string>> csp_directives(const std::string& policy) {
  std::map<std::string, std::set<std::string>> directives;
  std::istringstream parts(policy);
  for (std::string part; std::getline(parts, part, ';');) {
    std::istringstream words(part);
    std::string name;
    if (!(words >> name)) continue;
    auto& sources = directives[name];
    for (std::string source; words >> source;) sources.insert(source);
  }
  return directives;
}

TEST_F(OpenApi, DocsCarriesAStrictContentSecurityPolicyThePageNeedsNothingBeyond) {
  const Response page = client.get("/docs");
  ASSERT_EQ(page.status, 200u);
  const auto csp = csp_directives(page.header("Content-Security-Policy"));
  using Sources = std::set<std::string>;
  EXPECT_EQ(csp.at("default-src"), Sources{"'none'"});
  EXPECT_EQ(csp.at("script-src"), Sources{"'self'"}) << "no inline script, no eval, no other origin";
  EXPECT_EQ(csp.at("style-src"), Sources{"'self'"});
  EXPECT_EQ(csp.at("connect-src"), Sources{"'self'"});
  EXPECT_EQ(csp.at("img-src"), (Sources{"'self'", "data:"}));
  EXPECT_EQ(csp.at("frame-ancestors"), Sources{"'none'"});
  EXPECT_EQ(csp.at("base-uri"), Sources{"'none'"});
  // What the policy forbids, the page does not use: every script is a file, no style is inline.
  EXPECT_FALSE(std::regex_search(page.body, std::regex(R"(<script(?![^>]*\bsrc=)[^>]*>)")));
  EXPECT_EQ(page.body.find("<style"), std::string::npos);
  EXPECT_EQ(page.body.find("style="), std::string::npos);
  EXPECT_EQ(page.body.find("onload="), std::string::npos);
  // The same policy comes with the page's files and the document.
  for (const char* path : {"/docs/swagger-ui-bundle.js", "/openapi.json"})
    EXPECT_EQ(client.get(path).header("Content-Security-Policy"), page.header("Content-Security-Policy")) << path;
}

TEST_F(OpenApi, DocsWithASlashRedirectsByARelativeLocation) {
  const Response redirect = client.get("/docs/");
  EXPECT_TRUE(redirect.status == 301u || redirect.status == 302u || redirect.status == 307u || redirect.status == 308u)
      << redirect.status;
  const std::string location = redirect.header("Location");
  ASSERT_TRUE(is_relative(location)) << location;
  // Relative to /docs/ (or /rubis/docs/ behind the proxy) it lands on the page.
  const std::string target = "/docs/" + location;  // merge, then remove "..": /docs/../docs -> /docs
  const auto collapse = [](std::string path) {
    for (std::size_t up; (up = path.find("/../")) != std::string::npos;) {
      const std::size_t parent = path.rfind('/', up - 1);
      path.erase(parent, up + 3 - parent);
    }
    return path;
  };
  EXPECT_EQ(collapse(target), "/docs");
  EXPECT_EQ(collapse("/rubis/docs/" + location), "/rubis/docs");
  EXPECT_EQ(client.get(collapse(target)).status, 200u);
}

}  // namespace
}  // namespace waitline::test
