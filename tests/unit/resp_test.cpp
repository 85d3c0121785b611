#include "redis/resp.hpp"

#include <gtest/gtest.h>

using waitline::redis::encode_command;
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
