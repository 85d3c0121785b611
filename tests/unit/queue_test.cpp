// What the queue computes without Redis: event ids as clients echo them back, counter names, and
// the wait estimate (docs/service.md, "Wait estimates").
#include <gtest/gtest.h>

#include "queue/queue.hpp"

namespace waitline::queue {
namespace {

TEST(EventId, ParsesWhatRedisWritesAndNothingElse) {
  EXPECT_EQ(EventId::parse("1796599557688-0"), (EventId{1796599557688, 0}));
  EXPECT_EQ(EventId::parse("0-0"), (EventId{0, 0}));
  EXPECT_EQ(EventId::parse("18446744073709551615-18446744073709551615"),
            (EventId{18446744073709551615u, 18446744073709551615u}));
  for (const char* bad : {"", "-", "1", "1-", "-1", "1-2-3", "a-1", "1-b", " 1-2", "1-2 ", "+1-2", "1--2",
                          "18446744073709551616-0", "0x1-0", "01-0", "1-00"}) {
    EXPECT_FALSE(EventId::parse(bad)) << bad;
  }
  EXPECT_EQ(EventId({12, 3}).text(), "12-3");
  EXPECT_LT((EventId{1, 9}), (EventId{2, 0}));
  EXPECT_LT((EventId{2, 0}), (EventId{2, 1}));
}

TEST(Counter, NamesAreOneToThirtyTwoPlainCharacters) {
  for (const char* good : {"3", "Guichet_3.b", "desk-12", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"}) {
    EXPECT_TRUE(is_counter_name(good)) << good;
  }
  for (const char* bad : {"", "a b", "é", "a/b", "a:b", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"}) {
    EXPECT_FALSE(is_counter_name(bad)) << bad;
  }
}

TEST(Estimate, AheadIntervalsAndWhatRemainsOfTheCurrentOne) {
  EXPECT_EQ(estimate_wait(0, -1, 0), std::nullopt) << "no pace: no estimate";
  // A call every 2 minutes, the last one 30 s ago: the next in line waits 90 s, the third 330 s.
  EXPECT_EQ(estimate_wait(0, 120'000, 30'000), 90);
  EXPECT_EQ(estimate_wait(2, 120'000, 30'000), 330);
  // The current interval is over: only the whole intervals ahead remain.
  EXPECT_EQ(estimate_wait(0, 120'000, 300'000), 0);
  EXPECT_EQ(estimate_wait(3, 120'000, 300'000), 360);
  // Rounded to the second; a clock a little behind (negative time since) counts as none.
  EXPECT_EQ(estimate_wait(1, 1'499, 0), 3);
  EXPECT_EQ(estimate_wait(0, 1'000, -50), 1);
  EXPECT_EQ(estimate_wait(-1, 1'000, 0), std::nullopt);
  // A pace of calls more than an hour ago says nothing of now.
  EXPECT_EQ(estimate_wait(1, 120'000, 3'600'001), std::nullopt);
  EXPECT_EQ(estimate_wait(1, 120'000, 3'600'000), 120);
}

}  // namespace
}  // namespace waitline::queue
