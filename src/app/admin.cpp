#include "app/admin.hpp"

#include <boost/beast/http/field.hpp>
#include <utility>

#include "json/json.hpp"

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

Handle answer_with(std::function<http::Response()> make) {
  return [make = std::move(make)](const Exchange&) -> boost::asio::awaitable<http::Reply> { co_return make(); };
}
}  // namespace

Admin::Admin(Telemetry& telemetry, std::function<bool()> redis_connected, const std::atomic<bool>& draining)
    : telemetry_(telemetry), redis_connected_(std::move(redis_connected)), draining_(draining) {}

std::vector<Route> Admin::routes() {
  return {
      {verb::get, "/livez", std::nullopt,
       answer_with([] { return text(http::Status::ok, "application/json", R"({"status":"ok"})"); })},
      {verb::get, "/readyz", std::nullopt, answer_with([this] { return readyz(); })},
      {verb::get, "/metrics", std::nullopt, answer_with([this] {
         return text(http::Status::ok, "text/plain; version=0.0.4; charset=utf-8", telemetry_.render());
       })},
  };
}

http::Response Admin::readyz() const {
  bool redis = redis_connected_();
  bool draining = draining_.load();
  bool ready = redis && !draining;
  std::string body;
  json::Object(body)
      .text("status", ready ? "ready" : "not ready")
      .boolean("redis", redis)
      .boolean("shutting_down", draining)
      .close();
  return text(ready ? http::Status::ok : http::Status::service_unavailable, "application/json", std::move(body));
}

}  // namespace waitline::app
