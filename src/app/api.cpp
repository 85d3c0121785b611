#include "app/api.hpp"

#include <boost/beast/http/field.hpp>
#include <charconv>
#include <chrono>
#include <optional>
#include <random>

#include "app/telemetry.hpp"
#include "docs/docs.hpp"
#include "log/log.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using boost::beast::http::field;
using boost::beast::http::verb;
using clock = std::chrono::steady_clock;

namespace {

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

http::Response json_response(http::Status status, std::string body) {
  http::Response res{status, 11};
  res.set(field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

// A client's X-Request-Id is kept when it is plausible, so one id follows a request across hops.
std::string request_id(std::string_view incoming) {
  if (!incoming.empty() && incoming.size() <= 128 &&
      incoming.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
          std::string_view::npos)
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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The decoded value of `name` in a query string, or nullopt when absent or badly encoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name, bool& malformed) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string value;
    auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        value.push_back(' ');
      } else if (raw[i] == '%') {
        int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
        int lo = i + 2 < raw.size() ? hex_value(raw[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          malformed = true;
          return std::nullopt;
        }
        value.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        value.push_back(raw[i]);
      }
    }
    return value;
  }
  return std::nullopt;
}

// The body of a take or a call: {"queue":...,"ticket":N or null,"waiting":N,"message":...}.
http::Response ticket_response(std::string_view queue, std::optional<std::int64_t> ticket, std::int64_t waiting,
                               std::string_view message) {
  std::string body = "{\"queue\":";
  log::append_json_string(body, queue);
  body += ",\"ticket\":";
  if (ticket) append_int(body, *ticket);
  else body += "null";
  body += ",\"waiting\":";
  append_int(body, waiting);
  body += ",\"message\":";
  log::append_json_string(body, message);
  body += "}";
  return json_response(http::Status::ok, std::move(body));
}

// A request that reached a handler: how long it took and the key it used (empty: none).
struct Served {
  clock::duration took;
  std::string_view key;
};

// One access-log line. A request the server refused before it could be read has no id and no
// method (both null), and carries its error code instead of a duration and a key.
struct AccessEntry {
  std::string_view request_id{};
  std::string_view method{};
  std::string_view route;
  unsigned status = 0;
  std::optional<Served> served{};
  std::string_view error{};
};

void append_json_string_or_null(std::string& out, std::string_view text) {
  if (text.empty()) out += "null";
  else log::append_json_string(out, text);
}

void log_access(const AccessEntry& entry) {
  std::string line = "{\"time\":";
  log::append_timestamp(line);
  line += ",\"request_id\":";
  append_json_string_or_null(line, entry.request_id);
  line += ",\"method\":";
  append_json_string_or_null(line, entry.method);
  line += ",\"route\":";
  log::append_json_string(line, entry.route);
  line += ",\"status\":";
  append_int(line, entry.status);
  if (entry.served) {
    line += ",\"duration_ms\":";
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf,
                                   std::chrono::duration<double, std::milli>(entry.served->took).count(),
                                   std::chars_format::fixed, 3);
    line.append(buf, end);
    line += ",\"key\":";
    append_json_string_or_null(line, entry.served->key);
  } else {
    line += ",\"error\":";
    log::append_json_string(line, entry.error);
  }
  line += "}";
  log::access(line);
}

std::string_view method_label(verb method) {
  return method == verb::unknown ? std::string_view("other") : std::string_view(boost::beast::http::to_string(method));
}

}  // namespace

http::Response error_response(http::Status status, std::string_view code, std::string_view message) {
  std::string body = "{\"error\":{\"code\":";
  log::append_json_string(body, code);
  body += ",\"message\":";
  log::append_json_string(body, message);
  body += "}}";
  auto res = json_response(status, std::move(body));
  if (status == http::Status::service_unavailable) res.set(field::retry_after, "1");
  if (status == http::Status::unauthorized) res.set(field::www_authenticate, "Bearer realm=\"waitline\"");
  return res;
}

Api::Api(queue::TicketQueue& queue, const auth::KeyStore* keys, Telemetry& telemetry, ApiSettings settings)
    : queue_(queue), keys_(keys), telemetry_(telemetry), settings_(settings) {
  router_.add(verb::post, "/get_ticket", {&Api::take, auth::take});
  router_.add(verb::post, "/call_ticket", {&Api::call, auth::call});
  if (settings_.legacy_get) {
    router_.add(verb::get, "/get_ticket", {&Api::take, auth::take});
    router_.add(verb::get, "/call_ticket", {&Api::call, auth::call});
  }
  router_.add(verb::get, "/list_tickets", {&Api::list, auth::read});
  // Documentation is public: a browser cannot send a bearer key when it loads a page.
  router_.add(verb::get, "/docs", {nullptr, 0});
  router_.add(verb::get, "/docs/", {nullptr, 0});
  router_.add_prefix(verb::get, "/docs/", "/docs/{asset}", {nullptr, 0});
  router_.add(verb::get, "/openapi.json", {nullptr, 0});
}

asio::awaitable<http::Response> Api::handle(http::Request& request) {
  const auto started = clock::now();
  std::string id = request_id(request["X-Request-Id"]);
  std::string_view target = request.target();
  auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

  auto match = router_.find(request.method(), path);
  std::shared_ptr<const auth::KeyTable> table;  // keeps key_name alive until the log line
  std::string_view key_name;
  http::Response response;
  if (!match.handler) {
    if (match.allow.empty()) {
      response = error_response(http::Status::not_found, "not_found", "no such endpoint");
    } else {
      response = error_response(http::Status::method_not_allowed, "method_not_allowed",
                                "this endpoint accepts " + match.allow);
      response.set(field::allow, match.allow);
    }
  } else if (match.handler->run == nullptr) {
    if (path == "/docs/") {
      // Relative, so that it stays right behind a proxy that strips a prefix.
      response = http::Response{http::Status::moved_permanently, 11};
      response.set(field::location, "../docs");
    } else if (const auto* asset = docs::find(path)) {
      response = http::Response{http::Status::ok, 11};
      response.set(field::content_type, asset->content_type);
      response.set(field::cache_control, asset->immutable ? "public, max-age=86400" : "no-cache");
      response.body().assign(asset->body);
    } else {
      response = error_response(http::Status::not_found, "not_found", "no such document");
    }
  } else {
    auto decision = auth::Decision{auth::Verdict::allowed, {}};
    if (keys_ && match.handler->scope != 0) {
      table = keys_->current();
      decision = auth::authorize(*table, request[field::authorization], static_cast<auth::Scope>(match.handler->scope));
      key_name = decision.key_name;
    }
    switch (decision.verdict) {
      case auth::Verdict::missing:
        response = error_response(http::Status::unauthorized, "unauthorized", "an API key is required: Authorization: Bearer <key>");
        break;
      case auth::Verdict::unknown:
        response = error_response(http::Status::unauthorized, "unauthorized", "the API key is not valid");
        break;
      case auth::Verdict::forbidden:
        response = error_response(http::Status::forbidden, "forbidden",
                                  "this API key lacks the scope " + auth::format_scopes(match.handler->scope));
        break;
      case auth::Verdict::allowed:
        response = co_await (this->*(match.handler->run))(query);
        if (request.method() == verb::get && match.handler->scope != auth::read) response.set("Deprecation", "true");
        break;
    }
    response.set(field::cache_control, "no-store");
  }
  response.set("X-Request-Id", id);

  const auto took = clock::now() - started;
  telemetry_.request(match.route, method_label(request.method()), response.result_int(), took);
  if (settings_.access_log) {
    log_access({.request_id = id, .method = request.method_string(), .route = match.route,
                .status = response.result_int(), .served = Served{took, key_name}});
  }
  co_return response;
}

http::Response Api::reject(http::Status status, std::string_view code, std::string_view message) {
  telemetry_.request("unmatched", "other", static_cast<unsigned>(status), {});
  auto response = error_response(status, code, message);
  if (settings_.access_log) {
    log_access({.route = "unmatched", .status = static_cast<unsigned>(status), .error = code});
  }
  return response;
}

http::Response Api::failed(queue::Failure failure, std::string_view detail) const {
  if (failure == queue::Failure::unavailable) {
    return error_response(http::Status::service_unavailable, "redis_unavailable",
                          "the queue's database is unavailable; retry shortly");
  }
  log::error("redis operation failed", {{"queue", queue_.name()}, {"error", detail}});
  return error_response(http::Status::internal_server_error, "internal_error", "the queue's data could not be read");
}

asio::awaitable<http::Response> Api::take(std::string_view) {
  auto outcome = co_await queue_.take();
  if (!outcome) co_return failed(outcome.failure, outcome.detail);
  const auto& t = outcome.value;
  std::string message = "Sure thing, your ticket has the number : ";
  append_int(message, t.ticket);
  message += ". ";
  append_int(message, t.waiting);
  message += " people are waiting";
  co_return ticket_response(queue_.name(), t.ticket, t.waiting, message);
}

asio::awaitable<http::Response> Api::call(std::string_view) {
  auto outcome = co_await queue_.call();
  if (!outcome) co_return failed(outcome.failure, outcome.detail);
  const auto& c = outcome.value;
  std::string message;
  if (c.ticket) {
    message = "Customer with ticket ";
    append_int(message, *c.ticket);
    message += ", please proceed ! ";
    append_int(message, c.waiting);
    message += " people are waiting";
  } else {
    message = "Queue is empty";
  }
  co_return ticket_response(queue_.name(), c.ticket, c.waiting, message);
}

asio::awaitable<http::Response> Api::list(std::string_view query) {
  std::int64_t limit = default_limit;
  bool malformed = false;
  auto raw = query_param(query, "limit", malformed);
  if (raw) {
    auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), limit);
    malformed = ec != std::errc() || p != raw->data() + raw->size() || raw->empty() || limit < 0 || limit > max_limit;
  }
  if (malformed)
    co_return error_response(http::Status::bad_request, "invalid_parameter",
                             "limit must be an integer from 0 to " + std::to_string(max_limit));
  auto outcome = co_await queue_.list(limit);
  if (!outcome) co_return failed(outcome.failure, outcome.detail);
  const auto& l = outcome.value;
  std::string body = "{\"queue\":";
  log::append_json_string(body, queue_.name());
  body += ",\"waiting\":";
  append_int(body, l.waiting);
  body += ",\"tickets\":[";
  for (std::size_t i = 0; i < l.tickets.size(); ++i) {
    if (i) body.push_back(',');
    append_int(body, l.tickets[i]);
  }
  body += "],\"message\":\"";
  append_int(body, l.waiting);
  body += " people are waiting\"}";
  co_return json_response(http::Status::ok, std::move(body));
}

}  // namespace waitline::app
