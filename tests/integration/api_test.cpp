// The public API against a real redis-server: bodies and the original sentences, FIFO order,
// listing bounds, legacy GET, errors, request ids, and the original application's Redis layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/testkit.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace kit;

// A take's answer without the two members that depend on the moment and the secret (the
// estimate, the ticket's link: events_test.cpp checks them), once their shape is checked.
json::object taken_body(const Response& response) {
  json::object body = parse_object(response.body);
  const auto estimate = body.at("estimated_wait_seconds");
  EXPECT_TRUE(estimate.is_null() || estimate.as_int64() >= 0) << response.body;
  EXPECT_TRUE(body.at("ticket_url")
                  .as_string()
                  .starts_with("/tickets/" + std::to_string(body.at("ticket").as_int64()) + "?token="))
      << response.body;
  body.erase("estimated_wait_seconds");
  body.erase("ticket_url");
  return body;
}

json::object take(HttpClient& client) {
  const Response response = client.post("/get_ticket");
  EXPECT_EQ(response.status, 200u) << response.body;
  EXPECT_TRUE(response.header("Content-Type").starts_with("application/json"));
  return taken_body(response);
}

json::object call(HttpClient& client) {
  const Response response = client.post("/call_ticket");
  EXPECT_EQ(response.status, 200u) << response.body;
  return parse_object(response.body);
}

json::object list(HttpClient& client, const std::string& query = "") {
  const Response response = client.get("/list_tickets" + query);
  EXPECT_EQ(response.status, 200u) << response.body;
  return parse_object(response.body);
}

json::object taken(const std::string& queue, std::int64_t ticket, std::int64_t waiting) {
  return {{"queue", queue},
          {"ticket", ticket},
          {"waiting", waiting},
          {"ahead", waiting - 1},
          {"message", "Sure thing, your ticket has the number : " + std::to_string(ticket) + ". " +
                          std::to_string(waiting) + " people are waiting"}};
}

json::object called(const std::string& queue, std::int64_t ticket, std::int64_t waiting) {
  return {{"queue", queue},
          {"ticket", ticket},
          {"waiting", waiting},
          {"counter", nullptr},
          {"message", "Customer with ticket " + std::to_string(ticket) + ", please proceed ! " +
                          std::to_string(waiting) + " people are waiting"}};
}

json::object listed(const std::string& queue, std::int64_t waiting, const std::vector<std::int64_t>& tickets) {
  json::array array;
  for (const std::int64_t ticket : tickets) array.push_back(ticket);
  return {{"queue", queue},
          {"waiting", waiting},
          {"tickets", std::move(array)},
          {"message", std::to_string(waiting) + " people are waiting"}};
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> numbers;
  for (std::int64_t n = first; n <= last; ++n) numbers.push_back(n);
  return numbers;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class Api : public ::testing::Test {
 protected:
  RedisServer redis;
  Service service{{.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}}};
  HttpClient client{service.port()};
};

TEST_F(Api, TakeAnswersTheOriginalSentenceAndCountsTheWaiting) {
  EXPECT_EQ(take(client), taken("rubis", 1, 1));
  EXPECT_EQ(take(client), taken("rubis", 2, 2));
  // The exact sentence of the original application, for the first ticket.
  EXPECT_EQ(taken("rubis", 1, 1).at("message").as_string(),
            "Sure thing, your ticket has the number : 1. 1 people are waiting");
}

TEST_F(Api, CallServesTicketsOldestFirst) {
  take(client);
  EXPECT_EQ(call(client), called("rubis", 1, 0));
  EXPECT_EQ(called("rubis", 1, 0).at("message").as_string(),
            "Customer with ticket 1, please proceed ! 0 people are waiting");

  for (int i = 0; i < 3; ++i) take(client);  // tickets 2, 3, 4
  EXPECT_EQ(call(client), called("rubis", 2, 2));
  EXPECT_EQ(call(client), called("rubis", 3, 1));
  EXPECT_EQ(take(client), taken("rubis", 5, 2));
  EXPECT_EQ(call(client), called("rubis", 4, 1));
  EXPECT_EQ(call(client), called("rubis", 5, 0));
}

TEST_F(Api, CallOnAnEmptyQueueAnswersANullTicket) {
  const json::object expected{
      {"queue", "rubis"}, {"ticket", nullptr}, {"waiting", 0}, {"counter", nullptr}, {"message", "Queue is empty"}};
  EXPECT_EQ(call(client), expected);
  take(client);
  call(client);
  EXPECT_EQ(call(client), expected);
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "1");  // calling takes nothing
}

TEST_F(Api, ListShowsTheWaitingTicketsOldestFirstAndChangesNothing) {
  EXPECT_EQ(list(client), listed("rubis", 0, {}));
  for (int i = 0; i < 3; ++i) take(client);
  call(client);
  EXPECT_EQ(list(client), listed("rubis", 2, {2, 3}));
  EXPECT_EQ(list(client), listed("rubis", 2, {2, 3}));
  EXPECT_EQ(redis.cli({"LLEN", "queue_rubis"}), "2");
}

TEST_F(Api, ListIsBoundedByLimitWhichDefaultsTo100AndAllowsUpTo1000) {
  for (int i = 0; i < 150; ++i) take(client);

  EXPECT_EQ(list(client), listed("rubis", 150, range(1, 100)));  // the oldest hundred
  EXPECT_EQ(list(client, "?limit=0"), listed("rubis", 150, {}));
  EXPECT_EQ(list(client, "?limit=1"), listed("rubis", 150, {1}));
  EXPECT_EQ(list(client, "?limit=149"), listed("rubis", 150, range(1, 149)));
  EXPECT_EQ(list(client, "?limit=1000"), listed("rubis", 150, range(1, 150)));
  EXPECT_EQ(list(client, "?other=x&limit=2"), listed("rubis", 150, {1, 2}));

  call(client);
  EXPECT_EQ(list(client, "?limit=3"), listed("rubis", 149, {2, 3, 4}));
}

// The count and the tickets come from one instant (a Redis transaction): with only takes running,
// the list is always tickets 1 to the count, as many as the limit allows, while another client
// (on another connection, so another thread and Redis connection of the service) takes.
TEST_F(Api, ListReadsTheCountAndTheTicketsAtOneInstantWhileOthersTake) {
  constexpr int kTakes = 1500;
  std::atomic<bool> taking{true};
  std::thread taker([&] {
    HttpClient own(service.port());
    for (int i = 0; i < kTakes; ++i) take(own);
    taking = false;
  });
  int lists = 0;
  while (taking) {
    const json::object answer = list(client, "?limit=1000");
    const std::int64_t waiting = answer.at("waiting").as_int64();
    std::vector<std::int64_t> tickets;
    for (const auto& ticket : answer.at("tickets").as_array()) tickets.push_back(ticket.as_int64());
    ASSERT_EQ(tickets, range(1, std::min<std::int64_t>(waiting, 1000))) << "waiting " << waiting;
    ++lists;
  }
  taker.join();
  EXPECT_GT(lists, 0);
  EXPECT_EQ(list(client, "?limit=0"), listed("rubis", kTakes, {}));
}

TEST_F(Api, ListRejectsALimitOutOfRangeOrNotANumber) {
  take(client);
  for (const std::string limit : {"1001", "-1", "abc", "%zz", "", "1.5", "10abc", "99999999999999999999"}) {
    SCOPED_TRACE("limit=" + limit);
    EXPECT_TRUE(is_error(client.get("/list_tickets?limit=" + limit), 400, "invalid_parameter"));
  }
  EXPECT_EQ(list(client, "?limit=%31"), listed("rubis", 1, {1}));  // percent-encoded "1"
}

TEST_F(Api, LegacyGetTakesAndCallsWithADeprecationHeader) {
  const Response got = client.get("/get_ticket");
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(taken_body(got), taken("rubis", 1, 1));
  EXPECT_EQ(got.header("Deprecation"), "true");

  const Response posted = client.post("/get_ticket");
  EXPECT_EQ(taken_body(posted), taken("rubis", 2, 2));
  EXPECT_EQ(posted.header("Deprecation"), "");

  const Response calling = client.get("/call_ticket");
  ASSERT_EQ(calling.status, 200u) << calling.body;
  EXPECT_EQ(parse_object(calling.body), called("rubis", 1, 1));
  EXPECT_EQ(calling.header("Deprecation"), "true");

  EXPECT_EQ(client.get("/list_tickets").header("Deprecation"), "");
}

TEST(ApiWithoutLegacyGet, GetOnStateChangingEndpointsAnswers405AllowPost) {
  RedisServer redis;
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth", "--legacy-get=false"}});
  HttpClient client(service.port());

  for (const std::string path : {"/get_ticket", "/call_ticket"}) {
    SCOPED_TRACE(path);
    const Response response = client.get(path);
    EXPECT_TRUE(is_error(response, 405, "method_not_allowed"));
    EXPECT_EQ(response.header("Allow"), "POST");
  }
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");  // the refused GET took nothing

  EXPECT_EQ(take(client), taken("rubis", 1, 1));
  EXPECT_EQ(call(client), called("rubis", 1, 0));
  EXPECT_EQ(list(client), listed("rubis", 0, {}));
}

TEST_F(Api, UnknownPathsAnswer404WithAJsonError) {
  for (const std::string path : {"/", "/nope", "/get_ticket/", "/get_ticket/1", "/GET_TICKET", "/list_tickets.json",
                                 "/docs/no-such-asset.js", "/metrics", "/livez", "/readyz", "/rubis/get_ticket"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(client.get(path), 404, "not_found"));
  }
  EXPECT_TRUE(is_error(client.post("/nope"), 404, "not_found"));
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");
}

std::vector<std::string> methods_in(const std::string& allow) {
  std::vector<std::string> methods;
  std::istringstream in(allow);
  for (std::string method; std::getline(in, method, ',');) {
    method.erase(0, method.find_first_not_of(' '));
    methods.push_back(method);
  }
  std::sort(methods.begin(), methods.end());
  return methods;
}

TEST_F(Api, WrongMethodsAnswer405WithAllow) {
  struct Case {
    std::string method, path;
    std::vector<std::string> allowed;
  };
  const std::vector<Case> cases{
      {"DELETE", "/get_ticket", {"GET", "POST"}},
      {"PUT", "/call_ticket", {"GET", "POST"}},
      {"POST", "/list_tickets", {"GET", "HEAD"}},
      {"DELETE", "/list_tickets", {"GET", "HEAD"}},
      {"POST", "/docs", {"GET", "HEAD"}},
      {"POST", "/openapi.json", {"GET", "HEAD"}},
      {"PATCH", "/docs/swagger-ui.css", {"GET", "HEAD"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    const Response response = client.request(c.method, c.path);
    EXPECT_TRUE(is_error(response, 405, "method_not_allowed"));
    EXPECT_EQ(methods_in(response.header("Allow")), c.allowed);
  }
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");
}

TEST_F(Api, XRequestIdIsEchoedWhenGivenAndMadeUpOtherwise) {
  EXPECT_EQ(client.post("/get_ticket", {{"X-Request-Id", "kiosk-7.take_1"}}).header("X-Request-Id"), "kiosk-7.take_1");
  EXPECT_EQ(client.get("/nope", {{"X-Request-Id", "abc123"}}).header("X-Request-Id"), "abc123");
  EXPECT_EQ(client.get("/list_tickets?limit=x", {{"X-Request-Id", "bad-limit"}}).header("X-Request-Id"), "bad-limit");

  const std::string first = client.get("/list_tickets").header("X-Request-Id");
  const std::string second = client.get("/list_tickets").header("X-Request-Id");
  EXPECT_FALSE(first.empty());
  EXPECT_FALSE(second.empty());
  EXPECT_NE(first, second);

  // Implausible ids (spaces, quotes, too long) are replaced rather than echoed into logs.
  for (const std::string& given : {std::string("has space"), std::string("quote\"d"), std::string(129, 'a')}) {
    const std::string answered = client.get("/list_tickets", {{"X-Request-Id", given}}).header("X-Request-Id");
    EXPECT_FALSE(answered.empty());
    EXPECT_NE(answered, given);
  }
  EXPECT_EQ(client.get("/list_tickets", {{"X-Request-Id", std::string(128, 'b')}}).header("X-Request-Id"),
            std::string(128, 'b'));
}

// --- The original application's data in Redis ----------------------------------------------------

TEST(LegacyData, ServesTicketsWrittenByTheOriginalApplication) {
  RedisServer redis;
  // What the Python app leaves after issuing 41 tickets, 40 and 41 still waiting:
  // INCR for the counter, LPUSH of each number (newest at the head), RPOP to call the oldest.
  ASSERT_EQ(redis.cli({"SET", "ticket_number_rubis", "41"}), "OK");
  ASSERT_EQ(redis.cli({"LPUSH", "queue_rubis", "40"}), "1");
  ASSERT_EQ(redis.cli({"LPUSH", "queue_rubis", "41"}), "2");

  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}});
  HttpClient client(service.port());

  EXPECT_EQ(list(client), listed("rubis", 2, {40, 41}));
  EXPECT_EQ(call(client), called("rubis", 40, 1));
  EXPECT_EQ(call(client), called("rubis", 41, 0));
  EXPECT_EQ(take(client), taken("rubis", 42, 1));
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "42");
}

TEST(LegacyData, WritesOnlyTheOriginalKeysWithDecimalNumbers) {
  RedisServer redis;
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}});
  HttpClient client(service.port());
  for (int i = 0; i < 3; ++i) take(client);
  call(client);
  list(client);

  std::vector<std::string> keys = lines_of(redis.cli({"KEYS", "*"}));
  std::sort(keys.begin(), keys.end());
  // The original's two keys, and the service's own (docs/service.md, "Redis data"): the last
  // ticket called, the calls' counters, times and pace, the take times, the event stream.
  EXPECT_EQ(keys,
            (std::vector<std::string>{"called_rubis", "events_rubis", "last_called_rubis", "pace_rubis", "queue_rubis",
                                      "recent_calls_rubis", "taken_at_rubis", "ticket_number_rubis"}));
  EXPECT_EQ(redis.cli({"TYPE", "ticket_number_rubis"}), "string");
  EXPECT_EQ(redis.cli({"TYPE", "queue_rubis"}), "list");
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "3");
  // LPUSH puts the newest at the head, as the original did; ticket 1 was called (RPOP).
  EXPECT_EQ(lines_of(redis.cli({"LRANGE", "queue_rubis", "0", "-1"})), (std::vector<std::string>{"3", "2"}));

  // Large numbers stay plain decimal text (Lua would format 1e14 as "1e+14").
  ASSERT_EQ(redis.cli({"SET", "ticket_number_rubis", "99999999999999"}), "OK");
  EXPECT_EQ(take(client), taken("rubis", 100000000000000, 3));
  EXPECT_EQ(redis.cli({"LINDEX", "queue_rubis", "0"}), "100000000000000");
  EXPECT_EQ(list(client, "?limit=1000"), listed("rubis", 3, {2, 3, 100000000000000}));
}

TEST(LegacyData, AForeignValueInTheListIsA500NamingItAndNothingIsCalled) {
  RedisServer redis;
  ASSERT_EQ(redis.cli({"RPUSH", "queue_rubis", "41", "not-a-ticket", "40"}), "3");
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}});
  HttpClient client(service.port());

  EXPECT_TRUE(is_error(client.get("/list_tickets"), 500, "internal_error"));
  // Below the foreign value the listing still reads numbers.
  EXPECT_EQ(list(client, "?limit=1"), listed("rubis", 3, {40}));
  EXPECT_TRUE(eventually([&] {
    return service.process().stdout_text().find("a ticket that is not a number: not-a-ticket") != std::string::npos;
  }));
  EXPECT_EQ(redis.cli({"LLEN", "queue_rubis"}), "3");
}

TEST(TwoQueues, ShareOneRedisWithoutInterfering) {
  RedisServer redis;
  Service rubis({.redis_port = redis.port(), .queue = "rubis", .extra_args = {"--insecure-no-auth"}});
  Service saphir({.redis_port = redis.port(), .queue = "saphir", .extra_args = {"--insecure-no-auth"}});
  HttpClient to_rubis(rubis.port());
  HttpClient to_saphir(saphir.port());

  EXPECT_EQ(take(to_rubis), taken("rubis", 1, 1));
  EXPECT_EQ(take(to_rubis), taken("rubis", 2, 2));
  EXPECT_EQ(take(to_saphir), taken("saphir", 1, 1));
  EXPECT_EQ(take(to_rubis), taken("rubis", 3, 3));

  EXPECT_EQ(list(to_rubis), listed("rubis", 3, {1, 2, 3}));
  EXPECT_EQ(list(to_saphir), listed("saphir", 1, {1}));

  std::vector<std::string> keys = lines_of(redis.cli({"KEYS", "*"}));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"events_rubis", "events_saphir", "queue_rubis", "queue_saphir", "taken_at_rubis",
                                      "taken_at_saphir", "ticket_number_rubis", "ticket_number_saphir"}));

  EXPECT_EQ(call(to_saphir), called("saphir", 1, 0));
  EXPECT_TRUE(call(to_saphir).at("ticket").is_null());
  EXPECT_EQ(list(to_rubis), listed("rubis", 3, {1, 2, 3}));
  EXPECT_EQ(call(to_rubis), called("rubis", 1, 2));
  EXPECT_EQ(take(to_saphir), taken("saphir", 2, 1));
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "3");
}

}  // namespace
}  // namespace waitline::test
