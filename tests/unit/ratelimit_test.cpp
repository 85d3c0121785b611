// Token-bucket arithmetic on an injected clock, the bounded table, and whose address a request is.
#include "ratelimit/ratelimit.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace std::chrono_literals;
using waitline::ratelimit::BucketTable;
using waitline::ratelimit::client_address;
using waitline::ratelimit::Clock;
using waitline::ratelimit::parse_networks;
using waitline::ratelimit::Rate;
using waitline::ratelimit::TokenBucket;

const Clock::time_point t0{};

TEST(TokenBucket, LetsTheBurstThroughThenRefusesUntilATokenIsBack) {
  const Rate rate{.per_second = 2, .burst = 3};
  TokenBucket bucket(rate, t0);
  for (std::uint32_t left : {2u, 1u, 0u}) {
    const auto d = bucket.take(rate, t0);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, left);
    EXPECT_EQ(d.wait_seconds, 1u);  // half a second to the next token, rounded up
  }
  auto refused = bucket.take(rate, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.wait_seconds, 1u);
  EXPECT_FALSE(bucket.take(rate, t0 + 499ms).allowed);
  EXPECT_TRUE(bucket.take(rate, t0 + 500ms).allowed);
  EXPECT_FALSE(bucket.take(rate, t0 + 500ms).allowed);
}

TEST(TokenBucket, RefillsAtTheRateAndNeverAboveTheBurst) {
  const Rate rate{.per_second = 10, .burst = 5};
  TokenBucket bucket(rate, t0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(bucket.take(rate, t0).allowed);
  EXPECT_FALSE(bucket.full(rate, t0 + 499ms));
  EXPECT_TRUE(bucket.full(rate, t0 + 500ms));
  // An hour idle still gives only the burst.
  int allowed = 0;
  while (bucket.take(rate, t0 + 1h).allowed) ++allowed;
  EXPECT_EQ(allowed, 5);
  // Sustained: 10 a second over 3 seconds, sent every 50 ms (20 a second): 30 pass.
  allowed = 0;
  for (auto at = t0 + 1h + 50ms; at <= t0 + 1h + 3s; at += 50ms) allowed += bucket.take(rate, at).allowed;
  EXPECT_EQ(allowed, 30);
}

TEST(TokenBucket, RetryAfterIsTheWaitForOneToken) {
  const Rate slow{.per_second = 1, .burst = 1};
  TokenBucket bucket(slow, t0);
  ASSERT_TRUE(bucket.take(slow, t0).allowed);
  EXPECT_EQ(bucket.take(slow, t0 + 100ms).wait_seconds, 1u);
  const Rate very_slow{.per_second = 1, .burst = 10};
  TokenBucket other(very_slow, t0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(other.take(very_slow, t0).allowed);
  EXPECT_EQ(other.take(very_slow, t0 + 250ms).wait_seconds, 1u);
}

TEST(TokenBucket, AnOlderTimePointIsNoTime) {
  const Rate rate{.per_second = 1, .burst = 1};
  TokenBucket bucket(rate, t0 + 10s);
  ASSERT_TRUE(bucket.take(rate, t0 + 10s).allowed);
  EXPECT_FALSE(bucket.take(rate, t0).allowed);  // another thread read the clock a little earlier
  EXPECT_TRUE(bucket.take(rate, t0 + 11s).allowed);
}

TEST(BucketTable, KeepsOneBucketPerName) {
  BucketTable table({.per_second = 1, .burst = 2}, 100);
  EXPECT_TRUE(table.take("a", t0).allowed);
  EXPECT_TRUE(table.take("a", t0).allowed);
  EXPECT_FALSE(table.take("a", t0).allowed);
  EXPECT_TRUE(table.take("b", t0).allowed);
  EXPECT_EQ(table.size(), 2u);
}

TEST(BucketTable, RotatingNamesNeverGrowItBeyondItsCapacity) {
  BucketTable table({.per_second = 1, .burst = 5}, 1000);
  for (int i = 0; i < 100'000; ++i) table.take("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0);
  EXPECT_EQ(table.size(), 1000u);
}

TEST(BucketTable, ForgetsRefilledBucketsAsNewNamesCome) {
  BucketTable table({.per_second = 1, .burst = 1}, 1000);
  for (int i = 0; i < 100; ++i) table.take("old" + std::to_string(i), t0);
  EXPECT_EQ(table.size(), 100u);
  // A second later the old buckets are full again: each new name forgets up to two of them.
  for (int i = 0; i < 60; ++i) table.take("new" + std::to_string(i), t0 + 1s);
  EXPECT_EQ(table.size(), 60u);
  // The spent ones are kept: the new names' buckets are still empty.
  EXPECT_FALSE(table.take("new0", t0 + 1s).allowed);
}

TEST(BucketTable, TheCapForgetsTheLeastRecentlyUsedFirst) {
  BucketTable table({.per_second = 1, .burst = 1}, 2);
  table.take("a", t0);
  table.take("b", t0);
  table.take("a", t0);  // a is now the most recent
  table.take("c", t0);  // forgets b
  EXPECT_FALSE(table.take("a", t0).allowed);
  EXPECT_FALSE(table.take("c", t0).allowed);
  EXPECT_TRUE(table.take("b", t0).allowed);  // b was forgotten: a fresh bucket
}

TEST(Networks, ParseAddressesAndCidrsOfBothFamilies) {
  const auto networks = parse_networks(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1");
  ASSERT_TRUE(networks);
  ASSERT_EQ(networks->size(), 4u);
  const auto address = [](const char* text) { return *waitline::ratelimit::parse_address(text); };
  EXPECT_TRUE((*networks)[0].contains(address("10.255.1.2")));
  EXPECT_FALSE((*networks)[0].contains(address("11.0.0.1")));
  EXPECT_TRUE((*networks)[1].contains(address("192.168.1.7")));
  EXPECT_FALSE((*networks)[1].contains(address("192.168.1.8")));
  EXPECT_TRUE((*networks)[2].contains(address("fd12::1")));
  EXPECT_TRUE((*networks)[3].contains(address("::1")));
  EXPECT_TRUE((*networks)[0].contains(address("::ffff:10.1.2.3")));  // IPv4-mapped is IPv4
  EXPECT_TRUE(parse_networks("")->empty());
  EXPECT_TRUE(parse_networks("0.0.0.0/0"));
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.256", "10.0.0.0/", "a,b", "10.0.0.0/8,,::1", "1.2.3.4/-1"})
    EXPECT_FALSE(parse_networks(bad)) << bad;
}

TEST(ClientAddress, IsThePeerUnlessThePeerIsATrustedProxy) {
  const auto trusted = *parse_networks("10.0.0.0/24");
  EXPECT_EQ(client_address("203.0.113.9", "198.51.100.1", trusted), "203.0.113.9");  // forged: ignored
  EXPECT_EQ(client_address("10.0.0.5", "198.51.100.1", trusted), "198.51.100.1");
  EXPECT_EQ(client_address("10.0.0.5", "", trusted), "10.0.0.5");
  EXPECT_EQ(client_address("10.0.0.5", "198.51.100.1", {}), "10.0.0.5");
}

TEST(ClientAddress, ReadsFromTheRightSkippingTrustedHops) {
  const auto trusted = *parse_networks("10.0.0.0/24");
  // What the client wrote is left of what its proxy appended: it cannot choose its bucket.
  EXPECT_EQ(client_address("10.0.0.5", "1.1.1.1, 198.51.100.1", trusted), "198.51.100.1");
  EXPECT_EQ(client_address("10.0.0.5", "1.1.1.1, 198.51.100.1 , 10.0.0.7", trusted), "198.51.100.1");
  EXPECT_EQ(client_address("10.0.0.5", "10.0.0.8,10.0.0.7", trusted), "10.0.0.8");
  // A hop that is not an address stops the walk at the hop that wrote it.
  EXPECT_EQ(client_address("10.0.0.5", "198.51.100.1, garbage", trusted), "10.0.0.5");
  EXPECT_EQ(client_address("10.0.0.5", "garbage, 10.0.0.7", trusted), "10.0.0.7");
}

}  // namespace
