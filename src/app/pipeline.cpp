#include "app/pipeline.hpp"

#include <boost/beast/http/field.hpp>
#include <chrono>
#include <random>

#include "app/telemetry.hpp"
#include "json/json.hpp"
#include "log/log.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using boost::beast::http::field;
using boost::beast::http::verb;
using clock = std::chrono::steady_clock;

namespace {

bool plain_token(std::string_view text, std::size_t max) {
  return !text.empty() && text.size() <= max &&
         text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:") ==
             std::string_view::npos;
}

// A client's X-Request-Id is kept when it is plausible, so one id follows a request across hops.
constexpr std::size_t max_request_id = 128;
std::string request_id(std::string_view incoming) {
  if (plain_token(incoming, max_request_id) && incoming.find(':') == std::string_view::npos)
    return std::string(incoming);
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  auto bits = random();
  for (auto& c : id) {
    c = hex[bits & 0xf];
    bits >>= 4;
  }
  return id;
}

std::string_view method_label(verb method) {
  return method == verb::unknown ? std::string_view("other") : std::string_view(boost::beast::http::to_string(method));
}

// One access-log line. A request the server could not read has no id and no method (both
// null), and carries its error code instead of a duration and a key.
struct AccessEntry {
  Listener listener;
  std::string_view request_id{};
  std::string_view method{};
  std::string_view route;
  unsigned status = 0;
  std::optional<clock::duration> took{};
  std::string_view key{};
  std::string_view error{};
};

void log_access(const AccessEntry& entry) {
  std::string time;
  log::append_timestamp(time);
  std::string line;
  json::Object object(line);
  object.raw("time", time);
  if (entry.listener == Listener::admin) object.text("listener", "admin");
  object.text_or_null("request_id", entry.request_id)
      .text_or_null("method", entry.method)
      .text("route", entry.route)
      .number("status", entry.status);
  if (entry.took) {
    object.fixed("duration_ms", std::chrono::duration<double, std::milli>(*entry.took).count(), 3)
        .text_or_null("key", entry.key);
  } else {
    object.text("error", entry.error);
  }
  object.close();
  log::access(line);
}

http::Response unauthorized(auth::Verdict verdict, unsigned scope) {
  switch (verdict) {
    case auth::Verdict::missing:
      return error_response(http::Status::unauthorized, "unauthorized",
                            "an API key is required: Authorization: Bearer <key> (or a session cookie)");
    case auth::Verdict::unknown:
      return error_response(http::Status::unauthorized, "unauthorized", "the API key is not valid");
    default:
      return error_response(http::Status::forbidden, "forbidden",
                            "this API key lacks the scope " + auth::format_scopes(scope));
  }
}

// Built outside the coroutine: g++ 12 at -O3 warns of a string concatenation inside one.
http::Response invalid_idempotency_key() {
  return error_response(http::Status::bad_request, "invalid_idempotency_key",
                        "Idempotency-Key must be 1 to " + std::to_string(max_idempotency_key) +
                            " characters among A-Z a-z 0-9 . _ : -, optionally in double quotes");
}

// The session in a cookie, checked as a bearer key is: signed by us and not expired, its key
// still in the key file (the same key: its tag), and the scope among the session's and the key's
// scopes now. `unknown` for every way it fails but the scope.
auth::Decision open_session(const auth::KeyTable& table, const auth::SecretStore& secrets, std::string_view cookie,
                            auth::Scope needed) {
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto session = secrets.current()->open_session(cookie, now);
  const auth::Key* key = session ? table.by_name(session->key_name) : nullptr;
  if (!key || auth::key_tag(key->hash) != session->key) return {auth::Verdict::unknown, {}};
  if ((session->scopes & key->scopes & needed) != needed) return {auth::Verdict::forbidden, key->name, key};
  return {auth::Verdict::allowed, key->name, key};
}

// "https://host:port" -> "host:port"; empty when it is not an origin.
std::string_view authority_of(std::string_view origin) {
  const auto scheme = origin.find("://");
  if (scheme == std::string_view::npos) return {};
  return origin.substr(scheme + 3);
}

}  // namespace

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semicolon = header.find(';');
    auto pair = header.substr(0, semicolon);
    header = semicolon == std::string_view::npos ? std::string_view{} : header.substr(semicolon + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

bool same_origin(const http::Request& request) {
  const auto site = request["Sec-Fetch-Site"];
  if (!site.empty()) return site == "same-origin";
  const auto origin = authority_of(request[field::origin]);
  return !origin.empty() && origin == request[field::host];
}

http::Response json_response(http::Status status, std::string body) {
  http::Response res{status, 11};
  res.set(field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

http::Response error_response(http::Status status, std::string_view code, std::string_view message) {
  std::string body;
  json::Object outer(body);
  std::string inner;
  json::Object(inner).text("code", code).text("message", message).close();
  outer.raw("error", inner).close();
  auto res = json_response(status, std::move(body));
  if (status == http::Status::service_unavailable) res.set(field::retry_after, "1");
  if (status == http::Status::unauthorized) res.set(field::www_authenticate, "Bearer realm=\"waitline\"");
  return res;
}

std::optional<std::string_view> idempotency_key(std::string_view header) {
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"') header = header.substr(1, header.size() - 2);
  if (!plain_token(header, max_idempotency_key)) return std::nullopt;
  return header;
}

Pipeline::Pipeline(const std::vector<Route>& routes, Telemetry& telemetry, PipelineSettings settings)
    : telemetry_(telemetry), settings_(settings) {
  for (const auto& route : routes) {
    if (route.options.prefix) router_.add_prefix(route.method, route.path, route.options.label, route);
    else router_.add(route.method, route.path, route);
  }
}

asio::awaitable<http::Reply> Pipeline::handle(http::Request& request, std::string_view client) {
  const auto started = clock::now();
  std::string id = request_id(request["X-Request-Id"]);
  std::string_view target = request.target();
  auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

  // HEAD is served wherever a GET that changes nothing is.
  const bool head = request.method() == verb::head;
  auto match = router_.find(head ? verb::get : request.method(), path);
  if (head && match.handler && match.handler->options.deprecated_on_get) match = router_.find(verb::head, path);
  std::shared_ptr<const auth::KeyTable> table;  // keeps key_name alive until the log line
  std::string_view key_name;
  http::Reply reply{http::Response{}};
  auto& response = reply.response;
  if (!match.handler) {
    if (match.allow.empty()) {
      response = error_response(http::Status::not_found, "not_found", "no such endpoint");
    } else {
      if (auto get = router_.find(verb::get, path); get.handler && !get.handler->options.deprecated_on_get)
        match.allow += ", HEAD";
      response = error_response(http::Status::method_not_allowed, "method_not_allowed",
                                "this endpoint accepts " + match.allow);
      response.set(field::allow, match.allow);
    }
  } else {
    reply = co_await answer(request, client, *match.handler, query, match.params, key_name, table);
  }
  if (settings_.listener == Listener::api) {
    response.set("X-Content-Type-Options", "nosniff");
    if (response.find(field::cache_control) == response.end()) response.set(field::cache_control, "no-store");
  }
  response.set("X-Request-Id", id);

  const auto took = clock::now() - started;
  telemetry_.request(settings_.listener, match.route, method_label(request.method()), response.result_int(), took);
  if (settings_.access_log) {
    log_access({.listener = settings_.listener,
                .request_id = id,
                .method = request.method_string(),
                .route = match.route,
                .status = response.result_int(),
                .took = took,
                .key = key_name});
  }
  co_return reply;
}

asio::awaitable<http::Reply> Pipeline::answer(const http::Request& request, std::string_view client, const Route& route,
                                              std::string_view query, std::span<const std::string_view> params,
                                              std::string_view& key_name,
                                              std::shared_ptr<const auth::KeyTable>& table) const {
  Exchange exchange{request, query, params};
  if (settings_.keys && route.scope) {
    table = settings_.keys->current();
    const auto authorization = request[field::authorization];
    const auto cookie = cookie_value(request[field::cookie], session_cookie);
    auth::Decision decision{auth::Verdict::missing, {}};
    if (!authorization.empty() || cookie.empty() || !settings_.secrets) {
      decision = auth::authorize(*table, authorization, *route.scope);
      exchange.credential = Credential::bearer;
    } else {
      decision = open_session(*table, *settings_.secrets, cookie, *route.scope);
      exchange.credential = Credential::session;
      if (decision.verdict == auth::Verdict::unknown) {
        co_return error_response(http::Status::unauthorized, "unauthorized",
                                 "the session has expired or is no longer valid: open a new one with POST /session");
      }
    }
    key_name = decision.key_name;
    exchange.key = decision.key;
    exchange.key_name = key_name;
    if (decision.verdict != auth::Verdict::allowed) co_return unauthorized(decision.verdict, *route.scope);
    // A cookie goes along with any request the browser sends, also one that another site's page
    // makes it send: a change is made only from this origin's own pages.
    const bool safe = request.method() == verb::get || request.method() == verb::head;
    if (exchange.credential == Credential::session && !safe && !same_origin(request)) {
      co_return error_response(http::Status::forbidden, "cross_site",
                               "a change made with a session cookie must come from this site's own pages");
    }
  }
  if (auto header = request.find("Idempotency-Key"); header != request.end() && route.options.idempotent) {
    auto key = idempotency_key(header->value());
    if (!key) co_return invalid_idempotency_key();
    exchange.idempotency_key = *key;
  }
  http::Response limits;
  if (settings_.admission) {
    if (auto refusal = settings_.admission->admit(key_name, client, request["X-Forwarded-For"], limits))
      co_return std::move(*refusal);
  }
  auto reply = co_await route.handle(exchange);
  for (const auto& header : limits) reply.response.set(header.name_string(), header.value());
  if (route.options.deprecated_on_get && request.method() != verb::post) reply.response.set("Deprecation", "true");
  co_return reply;
}

http::Response Pipeline::reject(http::Status status, std::string_view code, std::string_view message) {
  telemetry_.request(settings_.listener, "unmatched", "other", static_cast<unsigned>(status), {});
  if (status == http::Status::request_timeout) telemetry_.refused("header_timeout");
  auto response = error_response(status, code, message);
  if (settings_.access_log) {
    log_access(
        {.listener = settings_.listener, .route = "unmatched", .status = static_cast<unsigned>(status), .error = code});
  }
  return response;
}

// Counted with the requests a limit refused: the connection was refused by one.
void Pipeline::closed_unanswered(std::string_view reason) { telemetry_.refused(reason); }

}  // namespace waitline::app
