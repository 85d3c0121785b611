// Token-bucket limits per API key and per client address (X-Forwarded-For believed only from a
// trusted proxy), against a real redis-server: 429 rate_limited with Retry-After and the RateLimit
// fields, nothing stored for a refused take, refusals counted by reason.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "integration/testkit.hpp"

namespace waitline::test {
namespace {

using namespace kit;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Tally {
  int ok = 0, limited = 0;
  std::optional<Response> refusal;
  double seconds = 0;
};

// Sends `count` requests made by `send(i)` as fast as one connection allows.
template <class Send>
Tally flood(int count, Send&& send) {
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    Response response = send(i);
    if (response.status == 200) {
      ++tally.ok;
    } else {
      EXPECT_TRUE(is_error(response, 429, "rate_limited"));
      ++tally.limited;
      if (!tally.refusal) tally.refusal = std::move(response);
    }
  }
  tally.seconds = seconds_since(start);
  return tally;
}

// At most the burst plus what the rate refilled while the flood lasted (one token a second).
::testing::AssertionResult within_bucket(int ok, double seconds, int burst) {
  if (ok <= burst + static_cast<int>(seconds) + 1) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << ok << " let through in " << seconds << " s, burst " << burst;
}

class RateLimitPerKey : public ::testing::Test {
 protected:
  RedisServer redis;
  TempDir dir;
  ApiKey a = make_key("kiosk-a", "take,read"), b = make_key("kiosk-b", "take,read");
  Service service{{.redis_port = redis.port(),
                   .extra_args = {"--api-keys-file", dir.write("keys", key_file({a, b})), "--rate-limit-key", "1",
                                  "--rate-limit-key-burst", "10"}}};
  HttpClient client{service.port()};
};

TEST_F(RateLimitPerKey, AFloodWithOneKeyGets429sWhileAnotherKeysRequestsSucceed) {
  const Response first = client.post("/get_ticket", bearer(a.key));
  ASSERT_EQ(first.status, 200u) << first.body;
  // The draft's fields on an answer let through too (draft-ietf-httpapi-ratelimit-headers-10).
  EXPECT_EQ(first.header("RateLimit-Policy"), R"("key";q=10;w=10)");
  EXPECT_EQ(first.header("RateLimit"), R"("key";r=9;t=1)");

  const Tally flood_a = flood(40, [&](int) { return client.post("/get_ticket", bearer(a.key)); });
  const Tally then_b = flood(8, [&](int) { return client.post("/get_ticket", bearer(b.key)); });

  EXPECT_GT(flood_a.limited, 0);
  EXPECT_TRUE(within_bucket(flood_a.ok + 1, flood_a.seconds, 10));
  EXPECT_EQ(then_b.ok, 8) << "key B has its own bucket";
  ASSERT_TRUE(flood_a.refusal);
  const Response& refusal = *flood_a.refusal;
  const int retry_after = std::stoi(refusal.header("Retry-After"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 1) << "one token a second: the next comes within a second";
  EXPECT_EQ(refusal.header("RateLimit-Policy"), R"("key";q=10;w=10)");
  EXPECT_EQ(refusal.header("RateLimit"), R"("key";r=0;t=)" + refusal.header("Retry-After"));
  EXPECT_EQ(refusal.header("X-Content-Type-Options"), "nosniff");
  // A refused take stores nothing: Redis holds exactly the tickets answered 200.
  EXPECT_EQ(tickets_in_redis(redis, "rubis").size(), static_cast<std::size_t>(1 + flood_a.ok + then_b.ok));
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_requests_refused_total", {{"reason", "rate_limit_key"}}),
            flood_a.limited);
  std::cout << "rate limit per key (1/s, burst 10): key A " << 1 + flood_a.ok << " answered 200 and " << flood_a.limited
            << " answered 429 of 41 in " << flood_a.seconds << " s; key B then " << then_b.ok << " of 8 answered 200"
            << std::endl;
}

// Clients reach the service from 127.0.0.1: trusted as a proxy in one case, not in the other.
Service client_limited_service(const RedisServer& redis, const std::string& trusted) {
  return insecure_service(redis,
                          {"--rate-limit-client", "1", "--rate-limit-client-burst", "5", "--trusted-proxies", trusted});
}

std::map<std::string, std::string> forwarded_for(const std::string& chain) { return {{"X-Forwarded-For", chain}}; }

TEST(RateLimitPerClient, ClientsBehindATrustedProxyAreLimitedSeparately) {
  RedisServer redis;
  Service service = client_limited_service(redis, "10.0.0.0/8,127.0.0.1");
  HttpClient proxy(service.port());
  // A client's own X-Forwarded-For entry is left of the one its proxy appends: it changes nothing.
  const Tally first = flood(20, [&](int i) {
    return proxy.get("/list_tickets", forwarded_for("192.0.2." + std::to_string(i) + ", 198.51.100.1"));
  });
  const Tally second = flood(5, [&](int) { return proxy.get("/list_tickets", forwarded_for("198.51.100.2")); });
  EXPECT_GT(first.limited, 0);
  EXPECT_TRUE(within_bucket(first.ok, first.seconds, 5));
  EXPECT_EQ(second.ok, 5) << "198.51.100.2 has its own bucket";
  ASSERT_TRUE(first.refusal);
  EXPECT_EQ(first.refusal->header("RateLimit-Policy"), R"("client";q=5;w=5)");
  EXPECT_GE(std::stoi(first.refusal->header("Retry-After")), 1);
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_requests_refused_total", {{"reason", "rate_limit_client"}}),
            first.limited);
  std::cout << "rate limit per client behind a trusted proxy (1/s, burst 5): 198.51.100.1 " << first.ok << " x 200, "
            << first.limited << " x 429 of 20; 198.51.100.2 then " << second.ok << " of 5 x 200" << std::endl;
}

TEST(RateLimitPerClient, AnUntrustedPeerCannotDodgeTheLimitByForgingXForwardedFor) {
  RedisServer redis;
  Service service = client_limited_service(redis, "10.0.0.0/8");
  HttpClient client(service.port());
  const Tally forged = flood(20, [&](int i) {
    return client.get("/list_tickets", forwarded_for("198.51.100." + std::to_string(i)));
  });
  EXPECT_GT(forged.limited, 0);
  EXPECT_TRUE(within_bucket(forged.ok, forged.seconds, 5));
  std::cout << "untrusted peer forging 20 X-Forwarded-For addresses (1/s, burst 5): " << forged.ok << " x 200, "
            << forged.limited << " x 429" << std::endl;
}

TEST(RateLimitPerClient, OffByDefaultAndNoRateLimitFields) {
  RedisServer redis;
  Service service = insecure_service(redis);
  HttpClient client(service.port());
  const Tally tally = flood(30, [&](int) { return client.get("/list_tickets"); });
  EXPECT_EQ(tally.ok, 30);
  EXPECT_EQ(client.get("/list_tickets").header("RateLimit-Policy"), "");
}

}  // namespace
}  // namespace waitline::test
