#include "redis/resp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

using waitline::redis::decimal;
using waitline::redis::encode_command;
using waitline::redis::Parse;
using waitline::redis::parse_reply;
using waitline::redis::ProtocolError;
using waitline::redis::Reply;

TEST(Resp, EncodesCommandsAsArraysOfBulkStrings) {
  std::string out;
  encode_command(out, {"LPUSH", "queue_rubis", ""});
  EXPECT_EQ(out, "*3\r\n$5\r\nLPUSH\r\n$11\r\nqueue_rubis\r\n$0\r\n\r\n");
}

TEST(Resp, ParsesEveryReplyType) {
  Reply r;
  EXPECT_EQ(parse_reply("+OK\r\n", r), 5u);
  EXPECT_EQ(r.type, Reply::Type::status);
  EXPECT_EQ(r.text, "OK");
  EXPECT_EQ(parse_reply("-NOSCRIPT No matching script\r\n", r), 30u);
  EXPECT_TRUE(r.is_error());
  EXPECT_EQ(parse_reply(":-42\r\n", r), 6u);
  EXPECT_EQ(r.integer, -42);
  EXPECT_EQ(parse_reply("$3\r\na\r\n\r\n", r), 9u);  // binary-safe: CRLF inside a bulk string
  EXPECT_EQ(r.text, "a\r\n");
  EXPECT_EQ(parse_reply("$-1\r\n", r), 5u);
  EXPECT_EQ(r.type, Reply::Type::nil);
}

TEST(Resp, ParsesNestedArraysAsOurScriptsReturnThem) {
  Reply r;
  std::string_view data = "*2\r\n:2\r\n*2\r\n$2\r\n41\r\n$2\r\n40\r\n";
  ASSERT_EQ(parse_reply(data, r), data.size());
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[0].integer, 2);
  ASSERT_EQ(r.elements[1].elements.size(), 2u);
  EXPECT_EQ(r.elements[1].elements[1].text, "40");
}

TEST(Resp, AnIncompleteReplyConsumesNothingAtEveryCut) {
  std::string_view data = "*2\r\n:2\r\n*2\r\n$2\r\n41\r\n$2\r\n40\r\n";
  for (std::size_t cut = 0; cut < data.size(); ++cut) {
    Reply r;
    EXPECT_EQ(parse_reply(data.substr(0, cut), r), 0u) << "cut at " << cut;
  }
}

TEST(Resp, PipelinedRepliesAreReadOneAtATime) {
  std::string_view data = ":1\r\n:2\r\n+PONG\r\n";
  Reply r;
  auto used = parse_reply(data, r);
  EXPECT_EQ(r.integer, 1);
  data.remove_prefix(used);
  used = parse_reply(data, r);
  EXPECT_EQ(r.integer, 2);
  data.remove_prefix(used);
  EXPECT_EQ(parse_reply(data, r), data.size());
  EXPECT_EQ(r.text, "PONG");
}

TEST(Resp, RejectsBytesThatAreNotResp) {
  Reply r;
  EXPECT_THROW(parse_reply("?what\r\n", r), ProtocolError);
  EXPECT_THROW(parse_reply(":12x\r\n", r), ProtocolError);
  EXPECT_THROW(parse_reply("$-7\r\n", r), ProtocolError);
  EXPECT_THROW(parse_reply("$2\r\nabcd\r\n", r), ProtocolError);
  EXPECT_THROW(parse_reply("*99999999999\r\n", r), ProtocolError);
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  EXPECT_THROW(parse_reply(deep, r), ProtocolError);
}

// What a list gets from EXEC: {LLEN, LRANGE of the oldest tickets as decimal strings}.
constexpr std::string_view kListing = "*2\r\n:3\r\n*3\r\n$2\r\n42\r\n$2\r\n41\r\n:40\r\n";

TEST(Resp, IntegerArraysModeReadsAnArrayOfNumbersStraightIntoIntegers) {
  Reply r;
  ASSERT_EQ(parse_reply(kListing, r, Parse::integer_arrays), kListing.size());
  // The outer array holds an array, so it stays generic; the inner one is all numbers.
  ASSERT_EQ(r.type, Reply::Type::array);
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[0].integer, 3);
  ASSERT_EQ(r.elements[1].type, Reply::Type::integers);
  EXPECT_EQ(r.elements[1].integers, (std::vector<std::int64_t>{42, 41, 40}));
  EXPECT_TRUE(r.elements[1].elements.empty());
}

TEST(Resp, IntegerArraysModeReadsAnEmptyArrayAsNoIntegers) {
  Reply r;
  ASSERT_EQ(parse_reply("*0\r\n", r, Parse::integer_arrays), 4u);
  EXPECT_EQ(r.type, Reply::Type::integers);
  EXPECT_TRUE(r.integers.empty());
  ASSERT_EQ(parse_reply("*-1\r\n", r, Parse::integer_arrays), 5u);
  EXPECT_EQ(r.type, Reply::Type::nil);
}

TEST(Resp, IntegerArraysModeFallsBackToGenericAtAnElementThatIsNotANumber) {
  for (std::string_view odd : {"$3\r\nabc\r\n", "$-1\r\n", "+OK\r\n", "$0\r\n\r\n", "$3\r\n+12\r\n", "*1\r\n+x\r\n"}) {
    SCOPED_TRACE(odd);
    const std::string data = "*3\r\n$1\r\n7\r\n" + std::string(odd) + ":9\r\n";
    Reply generic, r;
    ASSERT_EQ(parse_reply(data, generic), data.size());
    ASSERT_EQ(parse_reply(data, r, Parse::integer_arrays), data.size());
    ASSERT_EQ(r.type, Reply::Type::array);
    ASSERT_EQ(r.elements.size(), 3u);
    EXPECT_TRUE(r.integers.empty());
    EXPECT_EQ(r.elements[0].text, "7");
    EXPECT_EQ(r.elements[1].type, generic.elements[1].type);
    EXPECT_EQ(r.elements[1].text, generic.elements[1].text);
    EXPECT_EQ(r.elements[2].integer, 9);
  }
}

TEST(Resp, IntegerArraysModeTakesNumbersAtTheLimitsAndNothingBeyond) {
  Reply r;
  const std::string_view limits = "*2\r\n$20\r\n-9223372036854775808\r\n$19\r\n9223372036854775807\r\n";
  ASSERT_EQ(parse_reply(limits, r, Parse::integer_arrays), limits.size());
  ASSERT_EQ(r.type, Reply::Type::integers);
  EXPECT_EQ(r.integers, (std::vector<std::int64_t>{INT64_MIN, INT64_MAX}));
  const std::string_view beyond = "*1\r\n$19\r\n9223372036854775808\r\n";
  ASSERT_EQ(parse_reply(beyond, r, Parse::integer_arrays), beyond.size());
  ASSERT_EQ(r.type, Reply::Type::array);
  EXPECT_EQ(r.elements[0].text, "9223372036854775808");
}

TEST(Resp, IntegerArraysModeConsumesNothingAtEveryCut) {
  for (std::size_t cut = 0; cut < kListing.size(); ++cut) {
    Reply r;
    EXPECT_EQ(parse_reply(kListing.substr(0, cut), r, Parse::integer_arrays), 0u) << "cut at " << cut;
  }
}

TEST(Resp, IntegerArraysModeRejectsWhatGenericRejects) {
  Reply r;
  EXPECT_THROW(parse_reply("*2\r\n:1\r\n:12x\r\n", r, Parse::integer_arrays), ProtocolError);
  EXPECT_THROW(parse_reply("*1\r\n$-7\r\n", r, Parse::integer_arrays), ProtocolError);
  EXPECT_THROW(parse_reply("*1\r\n$1\r\n12\r\n", r, Parse::integer_arrays), ProtocolError);
  EXPECT_THROW(parse_reply("*1\r\n?1\r\n", r, Parse::integer_arrays), ProtocolError);
  // Found by tests/fuzz: an array of numbers one level past the depth limit.
  std::string deep;
  for (int i = 0; i < 9; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  EXPECT_THROW(parse_reply(deep, r, Parse::generic), ProtocolError);
  EXPECT_THROW(parse_reply(deep, r, Parse::integer_arrays), ProtocolError);
}

TEST(Resp, DecimalTakesWholeDecimalIntegersOnly) {
  EXPECT_EQ(decimal("40"), 40);
  EXPECT_EQ(decimal("-3"), -3);
  for (std::string_view bad : {"", "+3", " 3", "3 ", "3.0", "1e3", "0x10", "99999999999999999999"}) {
    EXPECT_FALSE(decimal(bad)) << bad;
  }
}
