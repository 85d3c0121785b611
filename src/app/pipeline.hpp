// The one way a request goes through either listener, API or admin:
//
//   request id -> route (404, 405 with Allow; HEAD served as GET) -> key or session, and scope
//   (401, 403; a change made with a session must come from the same origin: 403) -> Idempotency-Key
//   checked (400) -> admission (429: rate limits) -> the endpoint's handler -> common headers
//   -> metrics -> access log
//
//   Pipeline api({{verb::post, "/get_ticket", auth::take, take, {.idempotent = true}}, ...},
//                telemetry, {.listener = Listener::api, .keys = &keys});
//   http::Server server({{io, api}}, endpoint, limits);
//
// Endpoints are rows (method, path, scope, handler); a handler sees only what it needs (Exchange)
// and returns its answer. Nothing here knows about tickets.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "app/telemetry.hpp"
#include "auth/auth.hpp"
#include "auth/tokens.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

namespace waitline::app {

// How the caller proved who it is.
enum class Credential : std::uint8_t { none, bearer, session };

// What a handler gets: the request, and what the pipeline learned about it.
struct Exchange {
  const http::Request& request;
  std::string_view query;                      // after '?', undecoded
  std::span<const std::string_view> params{};  // what the route template's {...} matched
  std::string_view key_name{};                 // the API key's name; empty when public or auth is off
  const auth::Key* key = nullptr;              // that key (valid until the answer is sent)
  Credential credential = Credential::none;
  std::string_view idempotency_key{};  // the checked Idempotency-Key; empty when absent
};

using Handle = std::function<boost::asio::awaitable<http::Reply>(const Exchange&)>;

struct RouteOptions {
  bool prefix = false;  // `path` is a prefix; `label` names the route in metrics
  std::string_view label = {};
  bool idempotent = false;  // reads Idempotency-Key (other routes ignore it)
  // The original's state-changing GET: answered with `Deprecation: true`, and no HEAD.
  bool deprecated_on_get = false;
};

struct Route {
  boost::beast::http::verb method;
  std::string_view path;
  std::optional<auth::Scope> scope;  // nullopt: public
  Handle handle;
  RouteOptions options = {};
};

// The admission port: rate limits. It may add headers (RateLimit) to the answer it lets through.
struct Admission {
  virtual ~Admission() = default;
  // `key_name` empty when the route is public or auth is off; `peer` is the TCP peer's address,
  // `forwarded_for` the request's X-Forwarded-For (empty when absent).
  // Returns the refusal (429 with its headers), or nullopt after adding its headers to `headers`.
  virtual std::optional<http::Response> admit(std::string_view key_name, std::string_view peer,
                                              std::string_view forwarded_for, http::Response& headers) = 0;
};

struct PipelineSettings {
  Listener listener = Listener::api;
  const auth::KeyStore* keys = nullptr;        // null: no authentication (admin, or --insecure-no-auth)
  const auth::SecretStore* secrets = nullptr;  // opens session cookies; null: none accepted
  bool access_log = true;
  Admission* admission = nullptr;  // null: no limits
};

class Pipeline final : public http::Handler {
 public:
  Pipeline(const std::vector<Route>& routes, Telemetry& telemetry, PipelineSettings settings);

  boost::asio::awaitable<http::Reply> handle(http::Request& request, std::string_view client) override;
  http::Response reject(http::Status status, std::string_view code, std::string_view message) override;
  void closed_unanswered(std::string_view reason) override;

 private:
  boost::asio::awaitable<http::Reply> answer(const http::Request& request, std::string_view client, const Route& route,
                                             std::string_view query, std::span<const std::string_view> params,
                                             std::string_view& key_name,
                                             std::shared_ptr<const auth::KeyTable>& table) const;

  http::Router<Route> router_;
  Telemetry& telemetry_;
  PipelineSettings settings_;
};

// The error body every failure carries: {"error":{"code":"...","message":"..."}}; 503 adds
// Retry-After, 401 adds WWW-Authenticate.
http::Response error_response(http::Status status, std::string_view code, std::string_view message);
http::Response json_response(http::Status status, std::string body);

// The browser session cookie's name, and its value in a Cookie header (empty when absent).
inline constexpr std::string_view session_cookie = "waitline_session";
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);

// Whether a browser sent the request from a page of this same origin: Sec-Fetch-Site says so, or,
// from a browser too old to send it, Origin names the Host the request was sent to.
bool same_origin(const http::Request& request);

// Idempotency-Key as the IETF httpapi draft sends it (a structured-field string, "..."), or bare:
// the key inside, or nullopt when it is not 1-128 of [A-Za-z0-9._:-].
std::optional<std::string_view> idempotency_key(std::string_view header);
inline constexpr std::size_t max_idempotency_key = 128;

}  // namespace waitline::app
