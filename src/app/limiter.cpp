#include "app/limiter.hpp"

#include <stdexcept>

namespace waitline::app {

namespace {

// A policy item: its quota (the burst) and the window in which an empty bucket fills again.
// Appended piece by piece: g++ 12 at -O3 sees a false overflow (-Wstringop-overflow) in
// `"..." + std::string(...)` here.
std::string policy_item(std::string_view name, const ratelimit::Rate& rate) {
  const auto window = (rate.burst + rate.per_second - 1) / rate.per_second;
  std::string item;
  item.append("\"").append(name).append("\";q=").append(std::to_string(rate.burst));
  item.append(";w=").append(std::to_string(window));
  return item;
}

void add_state(std::string& field, std::string_view name, const ratelimit::Decision& decision) {
  if (!field.empty()) field += ", ";
  field.append("\"").append(name).append("\";r=").append(std::to_string(decision.remaining));
  field.append(";t=").append(std::to_string(decision.wait_seconds));
}

}  // namespace

RateLimiter::RateLimiter(const ratelimit::Options& options, Telemetry& telemetry, Now now)
    : telemetry_(telemetry), now_(std::move(now)) {
  auto trusted = ratelimit::parse_networks(options.trusted_proxies);
  if (!trusted) throw std::invalid_argument("trusted proxies: \"" + options.trusted_proxies + "\" is malformed");
  trusted_ = std::move(*trusted);
  if (options.client.on()) {
    clients_.emplace(options.client, ratelimit::max_tracked);
    policy_ = policy_item("client", options.client);
  }
  if (options.key.on()) {
    keys_.emplace(options.key, ratelimit::max_tracked);
    policy_ += (policy_.empty() ? "" : ", ") + policy_item("key", options.key);
  }
}

std::optional<http::Response> RateLimiter::admit(std::string_view key_name, std::string_view peer,
                                                 std::string_view forwarded_for, http::Response& headers) {
  const auto now = now_();
  std::string state;
  const auto refuse = [&](std::string_view reason, std::string_view whose, const ratelimit::Rate& rate,
                          const ratelimit::Decision& decision) {
    telemetry_.refused(reason);
    auto response = error_response(http::Status::too_many_requests, "rate_limited",
                                   "too many requests from this " + std::string(whose) + ": at most " +
                                       std::to_string(rate.per_second) + " a second, " + std::to_string(rate.burst) +
                                       " at once; retry after Retry-After seconds");
    response.set(boost::beast::http::field::retry_after, std::to_string(decision.wait_seconds));
    response.set("RateLimit-Policy", policy_);
    response.set("RateLimit", state);
    return response;
  };
  if (clients_) {
    const auto decision = clients_->take(ratelimit::client_address(peer, forwarded_for, trusted_), now);
    add_state(state, "client", decision);
    if (!decision.allowed) return refuse("rate_limit_client", "client address", clients_->rate(), decision);
  }
  if (keys_ && !key_name.empty()) {
    const auto decision = keys_->take(key_name, now);
    add_state(state, "key", decision);
    if (!decision.allowed) return refuse("rate_limit_key", "API key", keys_->rate(), decision);
  }
  headers.set("RateLimit-Policy", policy_);
  if (!state.empty()) headers.set("RateLimit", state);
  return std::nullopt;
}

}  // namespace waitline::app
