// Idempotency-Key on take and call, /last_called, the maximum queue length, HEAD, and the
// headers every API answer carries; against a real redis-server.
#include <gtest/gtest.h>

#include "integration/testkit.hpp"

namespace waitline::test {
namespace {

using namespace kit;

std::map<std::string, std::string> with_key(const std::string& key) { return {{"Idempotency-Key", key}}; }

class Idempotency : public ::testing::Test {
 protected:
  RedisServer redis;
  Service service = insecure_service(redis, {"--max-queue-length", "3"});
  HttpClient client{service.port()};
};

TEST_F(Idempotency, ARetriedTakeReplaysTheSameBodyAndAddsNoTicket) {
  const Response first = client.post("/get_ticket", with_key("\"kiosk-7-0042\""));
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.header("Idempotent-Replayed"), "");
  const Response again = client.post("/get_ticket", with_key("kiosk-7-0042"));  // quotes are optional
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), std::vector<std::int64_t>{1});
  const std::string ttl = redis.cli({"TTL", "idempotency_rubis:kiosk-7-0042"});
  EXPECT_GT(std::stoll(ttl), 86'000) << "24 h by default";
}

TEST_F(Idempotency, ARetriedCallReplaysTheSameTicketAndLastCalledKeepsIt) {
  EXPECT_TRUE(parse_object(client.get("/last_called").body).at("ticket").is_null());
  client.post("/get_ticket");
  client.post("/get_ticket");
  const Response first = client.post("/call_ticket", with_key("desk-1"));
  const Response again = client.post("/call_ticket", with_key("desk-1"));
  EXPECT_EQ(ticket_of(first), 1);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), std::vector<std::int64_t>{2});
  EXPECT_EQ(ticket_of(client.get("/last_called")), 1);
  // An empty call is an outcome too.
  client.post("/call_ticket");
  const Response empty = client.post("/call_ticket", with_key("desk-2"));
  EXPECT_TRUE(parse_object(empty.body).at("ticket").is_null());
  EXPECT_EQ(client.post("/get_ticket").status, 200u);
  const Response replayed_empty = client.post("/call_ticket", with_key("desk-2"));
  EXPECT_EQ(replayed_empty.body, empty.body);
  EXPECT_EQ(ticket_of(client.get("/last_called")), 2);
}

TEST_F(Idempotency, TheSameKeyOnTheOtherOperationIsRefusedAndChangesNothing) {
  ASSERT_EQ(client.post("/get_ticket", with_key("k1")).status, 200u);
  EXPECT_TRUE(is_error(client.post("/call_ticket", with_key("k1")), 422, "idempotency_key_reused"));
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), std::vector<std::int64_t>{1});
  ASSERT_EQ(client.post("/call_ticket", with_key("k2")).status, 200u);
  EXPECT_TRUE(is_error(client.post("/get_ticket", with_key("k2")), 422, "idempotency_key_reused"));
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "1");
}

TEST_F(Idempotency, AMalformedKeyIsRefusedBeforeAnythingHappens) {
  for (const std::string& key :
       {std::string(129, 'a'), std::string("has space"), std::string("\"\""), std::string("k/1"), std::string("é")}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(is_error(client.post("/get_ticket", with_key(key)), 400, "invalid_idempotency_key"));
  }
  EXPECT_EQ(client.post("/get_ticket", with_key(std::string(128, 'a'))).status, 200u);
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "1");
}

TEST_F(Idempotency, AFullQueueRefusesTakesAndStoresNothing) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  const Response refused = client.post("/get_ticket", with_key("late"));
  EXPECT_TRUE(is_error(refused, 409, "queue_full"));
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "3") << "a refused take used a number";
  EXPECT_EQ(redis.cli({"LLEN", "queue_rubis"}), "3");
  EXPECT_EQ(redis.cli({"EXISTS", "idempotency_rubis:late"}), "0") << "a refusal is not an outcome";
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_requests_refused_total", {{"reason", "queue_full"}}), 1.0);
  // Once a ticket is called there is room again, and the same key now takes one.
  ASSERT_EQ(client.post("/call_ticket").status, 200u);
  const Response taken = client.post("/get_ticket", with_key("late"));
  ASSERT_EQ(taken.status, 200u) << taken.body;
  EXPECT_EQ(ticket_of(taken), 4);
}

TEST_F(Idempotency, ApiAnswersSayNosniffAndNoStoreAndHeadAnswersLikeGetWithoutBody) {
  const Response list = client.get("/list_tickets");
  EXPECT_EQ(list.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(list.header("Cache-Control"), "no-store");
  EXPECT_EQ(client.get("/nope").header("X-Content-Type-Options"), "nosniff");

  const std::string head = raw_exchange(service.port(),
                                        "HEAD /list_tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
  EXPECT_NE(head.find("Content-Length: " + std::to_string(list.body.size())), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "HEAD carries no body: " << head;
  // HEAD never takes a ticket, even where the original's GET did.
  const std::string legacy = raw_exchange(service.port(),
                                          "HEAD /get_ticket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(legacy.starts_with("HTTP/1.1 405")) << legacy;
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");
}

}  // namespace
}  // namespace waitline::test
