#include "app/admin.hpp"

#include <boost/beast/http/field.hpp>

#include "app/api.hpp"
#include "app/telemetry.hpp"

namespace waitline::app {

using boost::beast::http::field;
using boost::beast::http::verb;

namespace {
http::Response text(http::Status status, std::string_view content_type, std::string body) {
  http::Response res{status, 11};
  res.set(field::content_type, content_type);
  res.set(field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}
}  // namespace

Admin::Admin(Telemetry& telemetry, const redis::Client& redis, const std::atomic<bool>& draining)
    : telemetry_(telemetry), redis_(redis), draining_(draining) {
  router_.add(verb::get, "/livez", &Admin::livez);
  router_.add(verb::get, "/readyz", &Admin::readyz);
  router_.add(verb::get, "/metrics", &Admin::metrics);
}

boost::asio::awaitable<http::Response> Admin::handle(http::Request& request) {
  auto path = request.target().substr(0, request.target().find('?'));
  auto match = router_.find(request.method(), path);
  if (match.handler) co_return (this->*(*match.handler))();
  if (match.allow.empty()) co_return error_response(http::Status::not_found, "not_found", "no such endpoint");
  auto res = error_response(http::Status::method_not_allowed, "method_not_allowed", "this endpoint accepts " + match.allow);
  res.set(field::allow, match.allow);
  co_return res;
}

http::Response Admin::reject(http::Status status, std::string_view code, std::string_view message) {
  return error_response(status, code, message);
}

http::Response Admin::livez() const { return text(http::Status::ok, "application/json", "{\"status\":\"ok\"}"); }

http::Response Admin::readyz() const {
  bool redis = redis_.connected();
  bool draining = draining_.load();
  bool ready = redis && !draining;
  std::string body = ready ? "{\"status\":\"ready\"" : "{\"status\":\"not ready\"";
  body += ",\"redis\":";
  body += redis ? "true" : "false";
  body += ",\"shutting_down\":";
  body += draining ? "true" : "false";
  body += "}";
  return text(ready ? http::Status::ok : http::Status::service_unavailable, "application/json", std::move(body));
}

http::Response Admin::metrics() const {
  return text(http::Status::ok, "text/plain; version=0.0.4; charset=utf-8", telemetry_.render());
}

}  // namespace waitline::app
