#include "app/api.hpp"

#include <boost/beast/http/field.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

#include "docs/docs.hpp"
#include "json/json.hpp"
#include "log/log.hpp"
#include "pages/pages.hpp"

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

// The body of a take or a call: {"queue":...,"ticket":N or null,"waiting":N,...,"message":...};
// `more` writes the members between waiting and message.
template <class More>
http::Response ticket_response(std::string_view queue, std::optional<std::int64_t> ticket, std::int64_t waiting,
                               std::string_view message, More more) {
  std::string body;
  json::Object object(body);
  object.text("queue", queue).number_or_null("ticket", ticket).number("waiting", waiting);
  more(object);
  object.text("message", message).close();
  return json_response(http::Status::ok, std::move(body));
}

http::Response replay_marked(http::Response response, bool replayed) {
  if (replayed) response.set("Idempotent-Replayed", "true");
  return response;
}

// The counter a desk names (?counter=3): empty when absent, nullopt when malformed.
std::optional<std::string> counter_of(std::string_view query) {
  bool malformed = false;
  auto counter = query_param(query, "counter", malformed);
  if (malformed || (counter && !queue::is_counter_name(*counter))) return std::nullopt;
  return counter.value_or(std::string());
}

http::Response bad_counter() {
  return error_response(http::Status::bad_request, "invalid_parameter",
                        "counter must be 1 to " + std::to_string(queue::max_counter_name) +
                            " characters among A-Z a-z 0-9 _ . -");
}

// The Set-Cookie line of a session (an empty value and no lifetime end it), limited to the queue's
// public prefix.
std::string session_cookie_line(const http::Request& request, std::string_view value, std::chrono::seconds ttl,
                                bool secure) {
  const std::string_view prefix = public_prefix(request);
  std::string line(session_cookie);
  line.append("=").append(value).append("; Path=").append(prefix.empty() ? std::string_view("/") : prefix);
  line.append("; Max-Age=").append(std::to_string(ttl.count())).append("; HttpOnly; SameSite=Strict");
  if (secure) line.append("; Secure");
  return line;
}

std::string scopes_json(unsigned scopes) {
  std::string list = "[";
  for (auto [scope, name] : {std::pair{auth::take, "take"}, {auth::call, "call"}, {auth::read, "read"}}) {
    if ((scopes & scope) == 0) continue;
    if (list.size() > 1) list.push_back(',');
    json::append_string(list, name);
  }
  return list + "]";
}

}  // namespace

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

std::string_view public_prefix(const http::Request& request) {
  const std::string_view prefix = request["X-Forwarded-Prefix"];
  constexpr std::size_t max_prefix = 128;
  const bool plain = prefix.size() <= max_prefix && prefix.starts_with('/') && !prefix.ends_with('/') &&
                     prefix.find("//") == std::string_view::npos &&
                     prefix.find_first_not_of("/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") ==
                         std::string_view::npos;
  return plain ? prefix : std::string_view{};
}

Api::Api(ApiParts parts, ApiOptions options) : parts_(parts), options_(std::move(options)) {
  if (options_.queue_label.empty()) {
    options_.queue_label = parts_.queue.name();
    if (!options_.queue_label.empty())
      options_.queue_label.front() = static_cast<char>(
          std::toupper(static_cast<unsigned char>(options_.queue_label.front())));
  }
}

std::vector<Route> Api::routes() {
  auto bind = [this](auto member) {
    return [this, member](const Exchange& exchange) { return (this->*member)(exchange); };
  };
  std::vector<Route> routes{
      {verb::post, "/get_ticket", auth::take, bind(&Api::take), {.idempotent = true}},
      {verb::post, "/call_ticket", auth::call, bind(&Api::call), {.idempotent = true}},
      {verb::post, "/recall", auth::call, bind(&Api::recall), {.idempotent = true}},
      {verb::get, "/list_tickets", auth::read, bind(&Api::list)},
      {verb::get, "/last_called", auth::read, bind(&Api::last_called)},
      {verb::get, "/events", auth::read, bind(&Api::events)},
      // A visitor's ticket needs no key: its link's token opens it, and only it.
      {verb::get, "/tickets/{n}", std::nullopt, bind(&Api::ticket)},
      {verb::get, "/tickets/{n}/events", std::nullopt, bind(&Api::ticket_events)},
      {verb::post, "/session", auth::identified, bind(&Api::open_session)},
      {verb::get, "/session", auth::identified, bind(&Api::show_session)},
      {verb::delete_, "/session", std::nullopt, bind(&Api::close_session)},
      // The people's screens: the pages themselves hold nothing secret (a staff screen opens a
      // session, the phone's page is opened by its ticket's link).
      {verb::get, "/kiosk", std::nullopt, bind(&Api::page)},
      {verb::get, "/desk", std::nullopt, bind(&Api::page)},
      {verb::get, "/display", std::nullopt, bind(&Api::page)},
      {verb::get, "/pages/", std::nullopt, bind(&Api::page), {.prefix = true, .label = "/pages/{file}"}},
      // Documentation is public: a browser cannot send a bearer key when it loads a page.
      {verb::get, "/docs", std::nullopt, bind(&Api::document)},
      {verb::get, "/docs/", std::nullopt, bind(&Api::document)},
      {verb::get, "/docs/", std::nullopt, bind(&Api::document), {.prefix = true, .label = "/docs/{asset}"}},
      {verb::get, "/openapi.json", std::nullopt, bind(&Api::openapi)},
  };
  if (options_.legacy_get) {
    routes.push_back(
        {verb::get, "/get_ticket", auth::take, bind(&Api::take), {.idempotent = true, .deprecated_on_get = true}});
    routes.push_back(
        {verb::get, "/call_ticket", auth::call, bind(&Api::call), {.idempotent = true, .deprecated_on_get = true}});
  }
  return routes;
}

asio::awaitable<http::Reply> Api::document(const Exchange& exchange) {
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

asio::awaitable<http::Reply> Api::openapi(const Exchange& /*exchange*/) const {
  http::Response response{http::Status::ok, 11};
  response.set(field::content_type, "application/json");
  response.set(field::cache_control, "no-cache");
  response.set("Content-Security-Policy", docs::content_security_policy);
  response.body().assign(parts_.openapi);
  co_return response;
}

namespace {
http::Response page_response(const pages::Asset& asset) {
  http::Response response{http::Status::ok, 11};
  response.set(field::content_type, asset.content_type);
  response.set(field::cache_control, "no-cache");
  response.set("Content-Security-Policy", pages::content_security_policy);
  response.set("Referrer-Policy", "no-referrer");
  response.body().assign(asset.body);
  return response;
}

// A browser asking for a page (its Accept names HTML); fetch() and API clients do not.
bool wants_html(const http::Request& request) {
  return std::string_view(request[field::accept]).find("text/html") != std::string_view::npos;
}
}  // namespace

asio::awaitable<http::Reply> Api::page(const Exchange& exchange) {
  const std::string_view path = exchange.request.target().substr(0, exchange.request.target().find('?'));
  const auto* asset = pages::find(path);
  if (!asset) co_return error_response(http::Status::not_found, "not_found", "no such page");
  co_return page_response(*asset);
}

http::Response Api::failed(queue::Failure failure, std::string_view detail, bool changes) const {
  if (failure == queue::Failure::unknown && changes) {
    log::warn("redis outcome unknown", {{"queue", parts_.queue.name()}, {"error", detail}});
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
                          "this Idempotency-Key was used for another operation (take, call, recall); use a new key");
  }
  if (failure == queue::Failure::nothing_to_recall) {
    return error_response(http::Status::not_found, "nothing_to_recall", "no ticket has been called to recall");
  }
  if (failure == queue::Failure::unavailable || failure == queue::Failure::unknown) {
    if (parts_.draining.load())
      return error_response(http::Status::service_unavailable, "shutting_down",
                            "this replica is shutting down and did not do it; retry");
    return error_response(http::Status::service_unavailable, "redis_unavailable",
                          "the queue's database is unavailable; retry shortly");
  }
  log::error("redis operation failed", {{"queue", parts_.queue.name()}, {"error", detail}});
  return error_response(http::Status::internal_server_error, "internal_error", "the queue's data could not be read");
}

asio::awaitable<http::Reply> Api::take(const Exchange& exchange) {
  auto outcome = co_await parts_.queue.take(exchange.idempotency_key);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, true);
  const auto& t = outcome.value;
  std::string message = "Sure thing, your ticket has the number : ";
  json::append_int(message, t.ticket);
  message += ". ";
  json::append_int(message, t.waiting);
  message += " people are waiting";
  // The visitor's own link: relative to this host, under the public prefix, like /docs.
  std::string url(public_prefix(exchange.request));
  url += "/tickets/";
  json::append_int(url, t.ticket);
  url += "?token=";
  url += parts_.secrets.current()->ticket_token(parts_.queue.name(), t.ticket);
  auto more = [&](json::Object& object) {
    object.number("ahead", t.waiting - 1)
        .number_or_null("estimated_wait_seconds", t.estimate_seconds)
        .text("ticket_url", url);
  };
  co_return replay_marked(ticket_response(parts_.queue.name(), t.ticket, t.waiting, message, more), t.replayed);
}

asio::awaitable<http::Reply> Api::call(const Exchange& exchange) {
  const auto counter = counter_of(exchange.query);
  if (!counter) co_return bad_counter();
  auto outcome = co_await parts_.queue.call(exchange.idempotency_key, *counter);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, true);
  const auto& c = outcome.value;
  std::string message;
  if (c.ticket) {
    message = "Customer with ticket ";
    json::append_int(message, *c.ticket);
    message += c.counter.empty() ? ", please proceed ! " : ", please proceed to counter " + c.counter + " ! ";
    json::append_int(message, c.waiting);
    message += " people are waiting";
  } else {
    message = "Queue is empty";
  }
  auto more = [&](json::Object& object) { object.text_or_null("counter", c.counter); };
  co_return replay_marked(ticket_response(parts_.queue.name(), c.ticket, c.waiting, message, more), c.replayed);
}

asio::awaitable<http::Reply> Api::recall(const Exchange& exchange) {
  const auto counter = counter_of(exchange.query);
  if (!counter) co_return bad_counter();
  auto outcome = co_await parts_.queue.recall(exchange.idempotency_key, *counter);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, true);
  const auto& r = outcome.value;
  std::string message = "Customer with ticket ";
  json::append_int(message, r.ticket);
  message += r.counter.empty() ? ", please proceed ! (called again)"
                               : ", please proceed to counter " + r.counter + " ! (called again)";
  auto more = [&](json::Object& object) { object.text_or_null("counter", r.counter); };
  co_return replay_marked(ticket_response(parts_.queue.name(), r.ticket, r.waiting, message, more), r.replayed);
}

asio::awaitable<http::Reply> Api::list(const Exchange& exchange) {
  std::int64_t limit = default_limit;
  bool malformed = false;
  auto raw = query_param(exchange.query, "limit", malformed);
  if (raw) {
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.InnerPointer): clang 14's analyzer does not follow coroutines
    auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), limit);
    malformed = ec != std::errc() || p != raw->data() + raw->size() || raw->empty() || limit < 0 || limit > max_limit;
  }
  if (malformed)
    co_return error_response(http::Status::bad_request, "invalid_parameter",
                             "limit must be an integer from 0 to " + std::to_string(max_limit));
  auto outcome = co_await parts_.queue.list(limit);
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
  json::Object(body)
      .text("queue", parts_.queue.name())
      .number("waiting", l.waiting)
      .raw("tickets", tickets)
      .text("message", message)
      .close();
  co_return json_response(http::Status::ok, std::move(body));
}

asio::awaitable<http::Reply> Api::last_called(const Exchange& /*exchange*/) {
  auto outcome = co_await parts_.queue.last_called();
  if (!outcome) co_return failed(outcome.failure, outcome.detail, false);
  const auto& last = outcome.value;
  std::string message = "No ticket has been called yet";
  if (last.ticket) {
    message = "The last ticket called is ";
    json::append_int(message, *last.ticket);
    if (!last.counter.empty()) message += ", to counter " + last.counter;
  }
  std::string body;
  json::Object(body)
      .text("queue", parts_.queue.name())
      .number_or_null("ticket", last.ticket)
      .text_or_null("counter", last.counter)
      .text("message", message)
      .close();
  co_return json_response(http::Status::ok, std::move(body));
}

std::optional<std::int64_t> Api::opened_ticket(const Exchange& exchange) const {
  std::int64_t n = 0;
  const auto text = exchange.params.empty() ? std::string_view{} : exchange.params[0];
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  // One spelling per ticket: "042" is no ticket's URL.
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || text.front() == '0') return std::nullopt;
  bool malformed = false;
  const auto token = query_param(exchange.query, "token", malformed);
  if (!token || !parts_.secrets.current()->check_ticket(parts_.queue.name(), n, *token)) return std::nullopt;
  return n;
}

std::string Api::status_json(std::int64_t ticket, const queue::TicketStatus& status) const {
  std::string body;
  json::Object object(body);
  object.text("queue", parts_.queue.name())
      .text("label", options_.queue_label)
      .number("ticket", ticket)
      .text("state", queue::name(status.state));
  const bool waiting = status.state == queue::TicketState::waiting;
  const bool called = status.state == queue::TicketState::called;
  object.number_or_null("ahead", waiting ? std::optional(status.ahead) : std::nullopt)
      .number_or_null("estimated_wait_seconds", waiting ? status.estimate_seconds : std::nullopt);
  if (called) object.text_or_null("counter", status.counter).time("called_at", status.called_at_ms);
  else object.null("counter").null("called_at");
  object.close();
  return body;
}

// A wrong, missing or other ticket's token gets the answer of a ticket that does not exist: the
// endpoint tells nothing about tickets to whoever has no link. A browser gets the phone's page,
// which reads the same URL as JSON (the page itself holds nothing).
asio::awaitable<http::Reply> Api::ticket(const Exchange& exchange) {
  if (wants_html(exchange.request)) {
    auto page = page_response(pages::ticket_page());
    page.set(field::cache_control, "no-store");
    page.set(field::vary, "Accept");
    co_return page;
  }
  const auto n = opened_ticket(exchange);
  if (!n) co_return error_response(http::Status::not_found, "not_found", "no such ticket");
  auto outcome = co_await parts_.queue.status(*n);
  if (!outcome) co_return failed(outcome.failure, outcome.detail, false);
  if (!outcome.value) co_return error_response(http::Status::not_found, "not_found", "no such ticket");
  auto response = json_response(http::Status::ok, status_json(*n, *outcome.value));
  response.set(field::vary, "Accept");
  co_return response;
}

// Browser sessions: a page exchanges the API key it was given once for a cookie, and forgets the
// key. The cookie is HttpOnly (no script reads it), SameSite=Strict, limited to this queue's
// prefix, Secure when the browser came over HTTPS.
asio::awaitable<http::Reply> Api::open_session(const Exchange& exchange) {
  if (exchange.credential == Credential::session)
    co_return error_response(http::Status::bad_request, "bearer_key_required",
                             "a session is opened with an API key (Authorization: Bearer <key>), not with a session");
  http::Response response{http::Status::no_content, 11};
  if (!exchange.key) co_return response;  // authentication is off: there is nothing to remember
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const auth::Session session{exchange.key->name, exchange.key->scopes, now + options_.session_ttl,
                              auth::key_tag(exchange.key->hash)};
  const bool https = exchange.request["X-Forwarded-Proto"] == "https";
  response.set(field::set_cookie,
               session_cookie_line(exchange.request, parts_.secrets.current()->session_token(session),
                                   options_.session_ttl, https));
  co_return response;
}

asio::awaitable<http::Reply> Api::show_session(const Exchange& exchange) const {
  std::string body;
  json::Object object(body);
  object.text("queue", parts_.queue.name()).text("label", options_.queue_label);
  if (exchange.key) object.text("key", exchange.key->name).raw("scopes", scopes_json(exchange.key->scopes));
  else object.null("key").raw("scopes", scopes_json(auth::all_scopes));
  static constexpr std::string_view credentials[] = {"none", "bearer", "session"};
  object.text("credential", credentials[static_cast<std::size_t>(exchange.credential)]).close();
  // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move): clang 14's analyzer does not follow coroutines
  co_return json_response(http::Status::ok, std::move(body));
}

asio::awaitable<http::Reply> Api::close_session(const Exchange& exchange) {
  http::Response response{http::Status::no_content, 11};
  response.set(field::set_cookie, session_cookie_line(exchange.request, {}, std::chrono::seconds(0), false));
  co_return response;
}

}  // namespace waitline::app
