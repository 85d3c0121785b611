#include "log/log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono;
using waitline::log::append_timestamp;

// The instant a timestamp names, in milliseconds since the epoch; fails the test on a bad format.
milliseconds instant_of(const std::string& stamp) {
  static const std::regex format(R"re("(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")re");
  std::smatch parts;
  EXPECT_TRUE(std::regex_match(stamp, parts, format)) << stamp;
  if (parts.empty()) return milliseconds(-1);
  std::tm utc{};
  utc.tm_year = std::stoi(parts[1]) - 1900;
  utc.tm_mon = std::stoi(parts[2]) - 1;
  utc.tm_mday = std::stoi(parts[3]);
  utc.tm_hour = std::stoi(parts[4]);
  utc.tm_min = std::stoi(parts[5]);
  utc.tm_sec = std::stoi(parts[6]);
  return seconds(timegm(&utc)) + milliseconds(std::stoi(parts[7]));
}

milliseconds now_ms() { return floor<milliseconds>(system_clock::now()).time_since_epoch(); }

// Every stamp lies between the clock read before and after it, also across second boundaries,
// where the per-thread cache of the date and seconds must be renewed.
void expect_stamps_follow_the_clock(nanoseconds during) {
  const auto until = steady_clock::now() + during;
  while (steady_clock::now() < until) {
    const auto before = now_ms();
    std::string line = "{\"time\":";
    append_timestamp(line);
    const auto after = now_ms();
    const auto stamp = instant_of(line.substr(8));
    ASSERT_GE(stamp, before) << line;
    ASSERT_LE(stamp, after) << line;
  }
}

TEST(Log, TimestampIsQuotedUtcWithMillisecondsAndAppended) {
  std::string line = "x";
  append_timestamp(line);
  ASSERT_EQ(line.size(), 1u + 26u) << line;
  EXPECT_EQ(line[0], 'x');
  const auto stamp = instant_of(line.substr(1));
  EXPECT_LE(abs(stamp - now_ms()), seconds(1));
}

TEST(Log, TimestampsFollowTheClockAcrossSeconds) { expect_stamps_follow_the_clock(milliseconds(2100)); }

TEST(Log, TimestampsFollowTheClockOnSeveralThreadsAtOnce) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([] { expect_stamps_follow_the_clock(milliseconds(1100)); });
  for (auto& thread : threads) thread.join();
}

}  // namespace
