#include "app/api.hpp"

#include <boost/beast/http/field.hpp>
#include <charconv>
#include <optional>

#include "docs/docs.hpp"
#include "json/json.hpp"
#include "log/log.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using boost::beast::http::field;
using boost::beast::http::verb;

namespace {

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
  std::string body;
  json::Object(body).text("queue", queue).number_or_null("ticket", ticket).number("waiting", waiting)
      .text("message", message).close();
  return json_response(http::Status::ok, std::move(body));
}

}  // namespace

Api::Api(queue::TicketQueue& queue, ApiSettings settings, const std::atomic<bool>& draining)
    : queue_(queue), settings_(settings), draining_(draining) {}

std::vector<Route> Api::routes() {
  auto bind = [this](auto member) {
    return [this, member](const Exchange& exchange) { return (this->*member)(exchange); };
  };
  std::vector<Route> routes{
      {verb::post, "/get_ticket", auth::take, bind(&Api::take), {.idempotent = true}},
      {verb::post, "/call_ticket", auth::call, bind(&Api::call), {.idempotent = true}},
      {verb::get, "/list_tickets", auth::read, bind(&Api::list)},
      {verb::get, "/last_called", auth::read, bind(&Api::last_called)},
      // Documentation is public: a browser cannot send a bearer key when it loads a page.
      {verb::get, "/docs", std::nullopt, bind(&Api::document)},
      {verb::get, "/docs/", std::nullopt, bind(&Api::document)},
      {verb::get, "/docs/", std::nullopt, bind(&Api::document), {.prefix = true, .label = "/docs/{asset}"}},
      {verb::get, "/openapi.json", std::nullopt, bind(&Api::document)},
  };
  if (settings_.legacy_get) {
    routes.push_back({verb::get, "/get_ticket", auth::take, bind(&Api::take), {.idempotent = true, .deprecated_on_get = true}});
    routes.push_back({verb::get, "/call_ticket", auth::call, bind(&Api::call), {.idempotent = true, .deprecated_on_get = true}});
  }
  return routes;
}

asio::awaitable<http::Response> Api::document(const Exchange& exchange) {
  std::string_view path = exchange.request.target().substr(0, exchange.request.target().find('?'));
  if (path == "/docs/") {
    // Relative, so that it stays right behind a proxy that strips a prefix.
    http::Response response{http::Status::moved_permanently, 11};
    response.set(field::location, "../docs");
    co_return response;
  }
  const auto* asset = docs::find(path);
  if (!asset) co_return error_response(http::Status::not_found, "not_found", "no such document");
  http::Response response{http::Status::ok, 11};
  response.set(field::content_type, asset->content_type);
  response.set(field::cache_control, asset->immutable ? "public, max-age=86400" : "no-cache");
  response.set("Content-Security-Policy", docs::content_security_policy);
  response.body().assign(asset->body);
  co_return response;
}

http::Response Api::failed(queue::Failure failure, std::string_view detail, bool changes) const {
  if (failure == queue::Failure::unknown && changes) {
    log::warn("redis outcome unknown", {{"queue", queue_.name()}, {"error", detail}});
    return error_response(http::Status::gateway_timeout, "outcome_unknown",
                          "the queue's database got the request but no answer came back: it may have been done. "
                          "Retry with the same Idempotency-Key to learn the outcome, or see GET /last_called");
  }
  if (failure == queue::Failure::full) {
    return error_response(http::Status::conflict, "queue_full",
                          "the queue holds its maximum number of tickets; nothing was stored");
  }
  if (failure == queue::Failure::key_reused) {
    return error_response(http::Status::unprocessable_entity, "idempotency_key_reused",
                          "this Idempotency-Key was used for the other operation (take vs call); use a new key");
  }
  if (failure == queue::Failure::unavailable || failure == queue::Failure::unknown) {
    if (draining_.load())
      return error_response(http::Status::service_unavailable, "shutting_down",
                            "this replica is shutting down and did not do it; retry");
    return error_response(http::Status::service_unavailable, "redis_unavailable",
                          "the queue's database is unavailable; retry shortly");
  }
  log::error("redis operation failed", {{"queue", queue_.name()}, {"error", detail}});
  return error_response(http::Status::internal_server_error, "internal_error", "the queue's data could not be read");
}

namespace {
http::Response replay_marked(http::Response response, bool replayed) {
  if (replayed) response.set("Idempotent-Replayed", "true");
  return response;
}
}  // namespace

asio::awaitable<http::Response> Api::take(const Exchange& exchange) {
  auto outcome = co_await queue_.take(exchange.idempotency_key);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, true);
  const auto& t = outcome.value;
  std::string message = "Sure thing, your ticket has the number : ";
  json::append_int(message, t.ticket);
  message += ". ";
  json::append_int(message, t.waiting);
  message += " people are waiting";
  co_return replay_marked(ticket_response(queue_.name(), t.ticket, t.waiting, message), t.replayed);
}

asio::awaitable<http::Response> Api::call(const Exchange& exchange) {
  auto outcome = co_await queue_.call(exchange.idempotency_key);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, true);
  const auto& c = outcome.value;
  std::string message;
  if (c.ticket) {
    message = "Customer with ticket ";
    json::append_int(message, *c.ticket);
    message += ", please proceed ! ";
    json::append_int(message, c.waiting);
    message += " people are waiting";
  } else {
    message = "Queue is empty";
  }
  co_return replay_marked(ticket_response(queue_.name(), c.ticket, c.waiting, message), c.replayed);
}

asio::awaitable<http::Response> Api::list(const Exchange& exchange) {
  std::int64_t limit = default_limit;
  bool malformed = false;
  auto raw = query_param(exchange.query, "limit", malformed);
  if (raw) {
    auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), limit);
    malformed = ec != std::errc() || p != raw->data() + raw->size() || raw->empty() || limit < 0 || limit > max_limit;
  }
  if (malformed)
    co_return error_response(http::Status::bad_request, "invalid_parameter",
                             "limit must be an integer from 0 to " + std::to_string(max_limit));
  auto outcome = co_await queue_.list(limit);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, false);
  const auto& l = outcome.value;
  std::string tickets = "[";
  for (std::size_t i = 0; i < l.tickets.size(); ++i) {
    if (i) tickets.push_back(',');
    json::append_int(tickets, l.tickets[i]);
  }
  tickets += "]";
  std::string message;
  json::append_int(message, l.waiting);
  message += " people are waiting";
  std::string body;
  json::Object(body).text("queue", queue_.name()).number("waiting", l.waiting).raw("tickets", tickets)
      .text("message", message).close();
  co_return json_response(http::Status::ok, std::move(body));
}

asio::awaitable<http::Response> Api::last_called(const Exchange&) {
  auto outcome = co_await queue_.last_called();
  if (!outcome) co_return failed(outcome.failure, outcome.detail, false);
  std::string message = "No ticket has been called yet";
  if (outcome.value) {
    message = "The last ticket called is ";
    json::append_int(message, *outcome.value);
  }
  std::string body;
  json::Object(body).text("queue", queue_.name()).number_or_null("ticket", outcome.value).text("message", message)
      .close();
  co_return json_response(http::Status::ok, std::move(body));
}

}  // namespace waitline::app
