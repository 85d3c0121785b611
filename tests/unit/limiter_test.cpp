// The rate limiter as the pipeline sees it: 429 answers, their fields, and the refusal counts,
// on an injected clock.
#include "app/limiter.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using waitline::app::RateLimiter;
using waitline::app::Telemetry;
using waitline::ratelimit::Clock;

struct LimiterTest : ::testing::Test {
  Telemetry telemetry{"q"};
  Clock::time_point now{};
  RateLimiter limiter{{.key = {.per_second = 2, .burst = 3},
                       .client = {.per_second = 10, .burst = 20},
                       .trusted_proxies = "10.0.0.1"},
                      telemetry,
                      [this] { return now; }};

  std::optional<waitline::http::Response> admit(std::string_view key, std::string_view peer = "10.9.9.9",
                                                std::string_view forwarded_for = "") {
    headers = {};
    return limiter.admit(key, peer, forwarded_for, headers);
  }
  waitline::http::Response headers;
};

TEST_F(LimiterTest, AnswersLetThroughCarryTheDraftFields) {
  ASSERT_FALSE(admit("desk"));
  EXPECT_EQ(headers["RateLimit-Policy"], R"("client";q=20;w=2, "key";q=3;w=2)");
  EXPECT_EQ(headers["RateLimit"], R"("client";r=19;t=1, "key";r=2;t=1)");
  // A public route (no key) spends only the client's token.
  ASSERT_FALSE(admit(""));
  EXPECT_EQ(headers["RateLimit"], R"("client";r=18;t=1)");
}

TEST_F(LimiterTest, AnEmptyKeyBucketAnswers429WithRetryAfter) {
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(admit("desk"));
  auto refusal = admit("desk");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->result(), waitline::http::Status::too_many_requests);
  EXPECT_EQ((*refusal)["Retry-After"], "1");
  EXPECT_EQ((*refusal)["RateLimit"], R"("client";r=16;t=1, "key";r=0;t=1)");
  EXPECT_NE(refusal->body().find(R"("code":"rate_limited")"), std::string::npos);
  EXPECT_FALSE(admit("screen"));  // another key has its own bucket
  now += 500ms;
  EXPECT_FALSE(admit("desk"));
  EXPECT_NE(telemetry.render().find(R"(waitline_requests_refused_total{reason="rate_limit_key"} 1)"), std::string::npos)
      << telemetry.render();
}

TEST_F(LimiterTest, ClientsBehindATrustedProxyHaveTheirOwnBuckets) {
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(admit("", "10.0.0.1", "198.51.100.1"));
  ASSERT_TRUE(admit("", "10.0.0.1", "198.51.100.1"));
  EXPECT_FALSE(admit("", "10.0.0.1", "198.51.100.2"));
  // An untrusted peer's X-Forwarded-For is not believed.
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(admit("", "10.9.9.9", "198.51.100." + std::to_string(i)));
  auto refusal = admit("", "10.9.9.9", "198.51.100.77");
  ASSERT_TRUE(refusal);
  EXPECT_EQ((*refusal)["Retry-After"], "1");
  EXPECT_NE(telemetry.render().find(R"(reason="rate_limit_client"} 2)"), std::string::npos) << telemetry.render();
}

}  // namespace
