// The admission port's one implementation: token buckets per API key and per client address.
//
//   RateLimiter limiter({.key = {20, 40}, .client = {50, 100}, .trusted_proxies = "10.0.0.0/8"}, telemetry);
//   Pipeline api(routes, telemetry, {.admission = limiter.active() ? &limiter : nullptr});
//
// A request spends a token of its client's bucket, then of its key's (when it has a key); an
// empty bucket answers 429 rate_limited with Retry-After, counted as rate_limit_client or
// rate_limit_key. Every answer let through carries the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-10 (docs/service.md, "Rate limits").
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "app/pipeline.hpp"
#include "app/telemetry.hpp"
#include "ratelimit/ratelimit.hpp"

namespace waitline::app {

class RateLimiter final : public Admission {
 public:
  using Now = std::function<ratelimit::Clock::time_point()>;
  // Throws std::invalid_argument when `options.trusted_proxies` is malformed (the settings check it).
  RateLimiter(const ratelimit::Options& options, Telemetry& telemetry, Now now = ratelimit::Clock::now);

  bool active() const { return keys_ || clients_; }
  std::optional<http::Response> admit(std::string_view key_name, std::string_view peer, std::string_view forwarded_for,
                                      http::Response& headers) override;

 private:
  Telemetry& telemetry_;
  Now now_;
  std::optional<ratelimit::BucketTable> keys_;
  std::optional<ratelimit::BucketTable> clients_;
  std::vector<ratelimit::Network> trusted_;
  std::string policy_;  // the RateLimit-Policy field, the same on every answer
};

}  // namespace waitline::app
