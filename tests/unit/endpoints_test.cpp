// The API's endpoints through the pipeline, on an io_context without a socket, against a real
// redis-server: the answers' bodies and statuses (the original's sentences, FIFO, counters,
// limits, idempotent replays, Redis away or stalled, shutting down), legacy GET on and off, the
// documentation, sessions and the screens' pages.
#include "app/api.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "app/pipeline.hpp"
#include "app/telemetry.hpp"
#include "auth/tokens.hpp"
#include "docs/docs.hpp"
#include "events/hub.hpp"
#include "queue/queue.hpp"
#include "redis/client.hpp"
#include "support/support.hpp"
#include "unit/handle.hpp"

namespace waitline::app {
namespace {

using namespace std::chrono_literals;
using boost::beast::http::field;
using unit::body_of;
using unit::is_error;
using unit::request;
using unit::verb;
namespace asio = boost::asio;

redis::Options on_port(std::uint16_t port) {
  redis::Options options;
  options.port = port;
  options.timeout = 300ms;
  options.max_backoff = 100ms;
  return options;
}

// One lane of the service, as a worker thread has it: a Redis connection, the queue, the API and
// the pipeline, with the settings a test gives.
struct Lane {
  Lane(asio::io_context& io, std::uint16_t redis_port, ApiOptions options, queue::Options queue_options,
       const auth::KeyStore* keys)
      : redis(io.get_executor(), on_port(redis_port)),
        queue(redis, "rubis", queue_options, telemetry),
        hub("rubis", 1, {}, telemetry),
        document(docs::openapi({.legacy_get = options.legacy_get, .authentication = keys != nullptr})),
        api({.queue = queue,
             .hub = hub,
             .lane = 0,
             .secrets = secrets,
             .telemetry = telemetry,
             .draining = draining,
             .openapi = document},
            options),
        pipeline(api.routes(), telemetry,
                 {.listener = Listener::api, .keys = keys, .secrets = &secrets, .access_log = false}) {
    hub.attach(0, io.get_executor());
    redis.start();
  }
  ~Lane() { redis.stop(); }

  Telemetry telemetry{"rubis"};
  auth::SecretStore secrets{auth::Signer::random()};
  std::atomic<bool> draining{false};
  redis::Client redis;
  queue::TicketQueue queue;
  events::Hub hub;
  std::string document;
  Api api;
  Pipeline pipeline;
};

struct EndpointsTest : ::testing::Test {
  test::RedisServer redis_server;
  asio::io_context io;
  std::unique_ptr<Lane> lane;

  void SetUp() override { serve({}, {}); }

  // (Re)builds the lane with these settings, and waits for its Redis connection.
  void serve(ApiOptions options, queue::Options queue_options, const auth::KeyStore* keys = nullptr) {
    lane.reset();
    lane = std::make_unique<Lane>(io, redis_server.port(), options, queue_options, keys);
    ASSERT_TRUE(connected(true));
  }
  bool connected(bool wanted) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (lane->redis.connected() != wanted && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(20ms);
    }
    return lane->redis.connected() == wanted;
  }
  http::Response send(verb method, std::string_view target, const std::map<std::string, std::string>& headers = {}) {
    return unit::handle(io, lane->pipeline, request(method, target, headers)).response;
  }
  std::string redis(std::vector<std::string> command) const { return redis_server.cli(std::move(command)); }
};

// --- Take, call, list --------------------------------------------------------------------------------

TEST_F(EndpointsTest, TakeAnswersTheOriginalSentenceAndTheVisitorsLinkUnderThePrefix) {
  const auto response = send(verb::post, "/get_ticket", {{"X-Forwarded-Prefix", "/rubis"}});
  ASSERT_EQ(response.result(), http::Status::ok) << response.body();
  EXPECT_EQ(response[field::content_type], "application/json");
  const auto body = body_of(response);
  EXPECT_EQ(body.at("queue"), "rubis");
  EXPECT_EQ(body.at("ticket"), 1);
  EXPECT_EQ(body.at("waiting"), 1);
  EXPECT_EQ(body.at("ahead"), 0);
  EXPECT_EQ(body.at("message"), "Sure thing, your ticket has the number : 1. 1 people are waiting");
  const std::string url(body.at("ticket_url").as_string());
  EXPECT_TRUE(url.starts_with("/rubis/tickets/1?token=")) << url;
  EXPECT_EQ(redis({"LRANGE", "queue_rubis", "0", "-1"}), "1");
}

TEST_F(EndpointsTest, TheVisitorsLinkOpensItsTicketAndNoOther) {
  const std::string url(body_of(send(verb::post, "/get_ticket")).at("ticket_url").as_string());
  const auto status = send(verb::get, url);
  ASSERT_EQ(status.result(), http::Status::ok) << status.body();
  EXPECT_EQ(body_of(status).at("state"), "waiting");
  EXPECT_EQ(body_of(status).at("label"), "Rubis");
  const std::string token = url.substr(url.find("token="));
  send(verb::post, "/get_ticket");
  EXPECT_TRUE(is_error(send(verb::get, "/tickets/2?" + token), http::Status::not_found, "not_found"));
  EXPECT_TRUE(is_error(send(verb::get, "/tickets/01?" + token), http::Status::not_found, "not_found"));
  EXPECT_TRUE(is_error(send(verb::get, "/tickets/1"), http::Status::not_found, "not_found"));
  // A browser gets the phone's page, which reads the same URL as JSON.
  const auto page = send(verb::get, url, {{"Accept", "text/html"}});
  EXPECT_EQ(page.result(), http::Status::ok);
  EXPECT_TRUE(std::string_view(page[field::content_type]).starts_with("text/html"));
}

TEST_F(EndpointsTest, CallIsFirstInFirstOutAndAnEmptyQueueSaysSo) {
  send(verb::post, "/get_ticket");
  send(verb::post, "/get_ticket");
  const auto first = body_of(send(verb::post, "/call_ticket"));
  EXPECT_EQ(first.at("ticket"), 1);
  EXPECT_EQ(first.at("waiting"), 1);
  EXPECT_EQ(first.at("message"), "Customer with ticket 1, please proceed ! 1 people are waiting");
  EXPECT_EQ(body_of(send(verb::post, "/call_ticket")).at("ticket"), 2);
  const auto empty = body_of(send(verb::post, "/call_ticket"));
  EXPECT_TRUE(empty.at("ticket").is_null());
  EXPECT_EQ(empty.at("message"), "Queue is empty");
}

TEST_F(EndpointsTest, ADeskNamesItsCounterAndRecallsItsLastCall) {
  EXPECT_TRUE(is_error(send(verb::post, "/recall?counter=3"), http::Status::not_found, "nothing_to_recall"));
  const auto before = body_of(send(verb::get, "/last_called"));
  EXPECT_TRUE(before.at("ticket").is_null());
  EXPECT_EQ(before.at("message"), "No ticket has been called yet");
  send(verb::post, "/get_ticket");
  const auto called = body_of(send(verb::post, "/call_ticket?counter=3"));
  EXPECT_EQ(called.at("counter"), "3");
  EXPECT_EQ(called.at("message"), "Customer with ticket 1, please proceed to counter 3 ! 0 people are waiting");
  const auto recalled = body_of(send(verb::post, "/recall?counter=3"));
  EXPECT_EQ(recalled.at("ticket"), 1);
  EXPECT_EQ(recalled.at("message"), "Customer with ticket 1, please proceed to counter 3 ! (called again)");
  EXPECT_EQ(body_of(send(verb::get, "/last_called")).at("message"), "The last ticket called is 1, to counter 3");
  for (const char* bad : {"/call_ticket?counter=no%20spaces", "/recall?counter=%zz", "/call_ticket?counter="}) {
    EXPECT_TRUE(is_error(send(verb::post, bad), http::Status::bad_request, "invalid_parameter")) << bad;
  }
}

TEST_F(EndpointsTest, ListGivesTheTicketsOldestFirstUpToItsLimit) {
  for (int i = 0; i < 3; ++i) send(verb::post, "/get_ticket");
  const auto all = body_of(send(verb::get, "/list_tickets"));
  EXPECT_EQ(all.at("waiting"), 3);
  EXPECT_EQ(boost::json::serialize(all.at("tickets")), "[1,2,3]");
  EXPECT_EQ(all.at("message"), "3 people are waiting");
  EXPECT_EQ(boost::json::serialize(body_of(send(verb::get, "/list_tickets?limit=2")).at("tickets")), "[1,2]");
  EXPECT_EQ(boost::json::serialize(body_of(send(verb::get, "/list_tickets?limit=0")).at("tickets")), "[]");
  for (const char* bad : {"limit=abc", "limit=1001", "limit=-1", "limit=", "limit=1%"}) {
    EXPECT_TRUE(
        is_error(send(verb::get, std::string("/list_tickets?") + bad), http::Status::bad_request, "invalid_parameter"))
        << bad;
  }
}

// --- A visitor's status -------------------------------------------------------------------------------

// Every status asked in one turn of the event loop, at once (as a waiting room's phones do).
std::vector<queue::Outcome<std::optional<queue::TicketStatus>>> statuses_at_once(
    asio::io_context& io, queue::TicketQueue& queue, const std::vector<std::int64_t>& tickets) {
  std::vector<queue::Outcome<std::optional<queue::TicketStatus>>> answers(tickets.size());
  std::size_t done = 0;
  // Arguments, not captures: a coroutine's frame outlives the lambda it was made from.
  auto ask = [](queue::TicketQueue& q, std::int64_t ticket,
                queue::Outcome<std::optional<queue::TicketStatus>>& answer) -> asio::awaitable<void> {
    answer = co_await q.status(ticket);
  };
  for (std::size_t i = 0; i < tickets.size(); ++i) {
    asio::co_spawn(io, ask(queue, tickets[i], answers[i]), [&](const std::exception_ptr&) { ++done; });
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (done < tickets.size() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(20ms);
  }
  EXPECT_EQ(done, tickets.size());
  return answers;
}

// "cmdstat_<command>:calls=<n>,..." of INFO commandstats: how often Redis ran the command.
int calls_of(const test::RedisServer& server, std::string_view command) {
  const std::string stats = server.cli({"INFO", "commandstats"});
  const std::string prefix = "cmdstat_" + std::string(command) + ":calls=";
  const auto at = stats.find(prefix);
  return at == std::string::npos ? 0 : std::stoi(stats.substr(at + prefix.size()));
}

TEST_F(EndpointsTest, StatusesAskedTogetherAreReadInOneTransactionEachWithItsOwnAnswer) {
  for (int i = 0; i < 5; ++i) send(verb::post, "/get_ticket");
  send(verb::post, "/call_ticket?counter=3");
  send(verb::post, "/call_ticket?counter=7");
  send(verb::post, "/call_ticket?counter=9");
  redis({"HDEL", "called_rubis", "2"});  // ticket 2's call record is gone (as after its retention)
  redis({"CONFIG", "RESETSTAT"});
  const std::vector<std::int64_t> asked{1, 2, 3, 4, 5, 6, 0, 4, 1};
  const auto answers = statuses_at_once(io, lane->queue, asked);
  EXPECT_EQ(calls_of(redis_server, "exec"), 1);
  EXPECT_EQ(calls_of(redis_server, "hmget"), 1);
  EXPECT_EQ(calls_of(redis_server, "lindex"), 2) << "the queue's part is read once for all";
  for (std::size_t i = 0; i < asked.size(); ++i) ASSERT_TRUE(answers[i]) << asked[i] << ": " << answers[i].detail;
  const auto state = [&](std::size_t i) { return queue::name(answers[i].value->state); };
  EXPECT_EQ(state(0), "called");
  EXPECT_EQ(answers[0].value->counter, "3");
  EXPECT_EQ(state(1), "gone");
  EXPECT_EQ(state(2), "called");
  EXPECT_EQ(answers[2].value->counter, "9");
  EXPECT_EQ(state(3), "waiting");
  EXPECT_EQ(answers[3].value->ahead, 0);
  EXPECT_EQ(state(4), "waiting");
  EXPECT_EQ(answers[4].value->ahead, 1);
  EXPECT_FALSE(answers[5].value) << "never issued";
  EXPECT_FALSE(answers[6].value) << "never issued";
  EXPECT_EQ(state(7), "waiting");
  EXPECT_EQ(answers[7].value->ahead, 0);
  EXPECT_EQ(state(8), "called");
  EXPECT_EQ(answers[8].value->counter, "3");

  // One at a time, each its own transaction, with the same answers.
  redis({"CONFIG", "RESETSTAT"});
  for (std::size_t i = 0; i < asked.size(); ++i) {
    const auto alone = unit::run(io, lane->queue.status(asked[i]));
    ASSERT_TRUE(alone);
    ASSERT_EQ(alone.value.has_value(), answers[i].value.has_value()) << asked[i];
    if (alone.value) {
      EXPECT_EQ(alone.value->state, answers[i].value->state) << asked[i];
      EXPECT_EQ(alone.value->ahead, answers[i].value->ahead) << asked[i];
      EXPECT_EQ(alone.value->counter, answers[i].value->counter) << asked[i];
    }
  }
  EXPECT_EQ(calls_of(redis_server, "exec"), static_cast<int>(asked.size()));
}

TEST_F(EndpointsTest, StatusesReadTogetherFailTogetherWhenRedisIsAwayAndTheNextReadWorks) {
  send(verb::post, "/get_ticket");
  redis_server.stop();
  ASSERT_TRUE(connected(false));
  for (const auto& answer : statuses_at_once(io, lane->queue, {1, 1, 2})) {
    EXPECT_EQ(answer.failure, queue::Failure::unavailable);
  }
  redis_server.start();
  ASSERT_TRUE(connected(true));
  send(verb::post, "/get_ticket");  // the test's Redis keeps nothing across a restart
  const auto answers = statuses_at_once(io, lane->queue, {1, 2});
  ASSERT_TRUE(answers[0] && answers[0].value);
  EXPECT_EQ(answers[0].value->state, queue::TicketState::waiting);
  ASSERT_TRUE(answers[1]);
  EXPECT_FALSE(answers[1].value);
}

// --- Limits and idempotency ----------------------------------------------------------------------------

TEST_F(EndpointsTest, AFullQueueRefusesATakeAndStoresNothing) {
  serve({}, {.max_length = 1});
  ASSERT_EQ(send(verb::post, "/get_ticket").result(), http::Status::ok);
  EXPECT_TRUE(is_error(send(verb::post, "/get_ticket"), http::Status::conflict, "queue_full"));
  EXPECT_EQ(redis({"GET", "ticket_number_rubis"}), "1");
  EXPECT_EQ(redis({"LLEN", "queue_rubis"}), "1");
}

TEST_F(EndpointsTest, AKeyedTakeIsReplayedWithItsFirstOutcomeAndAKeyServesOneOperation) {
  const auto first = send(verb::post, "/get_ticket", {{"Idempotency-Key", "kiosk-1"}});
  EXPECT_EQ(first[field::content_type], "application/json");
  EXPECT_EQ(first["Idempotent-Replayed"], "");
  const auto again = send(verb::post, "/get_ticket", {{"Idempotency-Key", "\"kiosk-1\""}});
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
  EXPECT_EQ(body_of(again), body_of(first));
  EXPECT_EQ(redis({"GET", "ticket_number_rubis"}), "1") << "a replay takes no number";
  EXPECT_TRUE(is_error(send(verb::post, "/call_ticket", {{"Idempotency-Key", "kiosk-1"}}),
                       http::Status::unprocessable_entity, "idempotency_key_reused"));
  EXPECT_EQ(redis({"LLEN", "queue_rubis"}), "1") << "a refused call called nothing";
}

// --- Redis away, stalled; the process shutting down ----------------------------------------------------

TEST_F(EndpointsTest, RedisAwayIs503WithRetryAfterAndNothingHappened) {
  redis_server.stop();
  ASSERT_TRUE(connected(false));
  const auto take = send(verb::post, "/get_ticket");
  EXPECT_TRUE(is_error(take, http::Status::service_unavailable, "redis_unavailable"));
  EXPECT_EQ(take[field::retry_after], "1");
  EXPECT_TRUE(is_error(send(verb::get, "/list_tickets"), http::Status::service_unavailable, "redis_unavailable"));
  lane->draining = true;
  EXPECT_TRUE(is_error(send(verb::post, "/get_ticket"), http::Status::service_unavailable, "shutting_down"));
  redis_server.start();
  EXPECT_EQ(redis({"EXISTS", "ticket_number_rubis"}), "0");
}

TEST_F(EndpointsTest, AStalledRedisIs504OutcomeUnknownForAChangeAnd503ForARead) {
  send(verb::post, "/get_ticket");  // Redis learns the take script: the stalled take runs it
  redis_server.signal(SIGSTOP);
  const auto take = send(verb::post, "/get_ticket");
  EXPECT_TRUE(is_error(take, http::Status::gateway_timeout, "outcome_unknown"));
  EXPECT_EQ(take[field::retry_after], "") << "it may have happened: no blind retry";
  ASSERT_TRUE(connected(false));
  EXPECT_TRUE(is_error(send(verb::get, "/list_tickets"), http::Status::service_unavailable, "redis_unavailable"));
  redis_server.signal(SIGCONT);
  ASSERT_TRUE(connected(true));
  EXPECT_EQ(redis({"GET", "ticket_number_rubis"}), "2") << "the stalled take did run";
}

// --- Legacy GET --------------------------------------------------------------------------------------

TEST_F(EndpointsTest, TheOriginalsGetTakesAndCallsMarkedDeprecated) {
  const auto take = send(verb::get, "/get_ticket");
  ASSERT_EQ(take.result(), http::Status::ok);
  EXPECT_EQ(take["Deprecation"], "true");
  EXPECT_EQ(body_of(send(verb::get, "/call_ticket")).at("ticket"), 1);
}

TEST_F(EndpointsTest, WithoutLegacyGetAGetTakeIs405AndTakesNothing) {
  serve({.legacy_get = false}, {});
  for (const char* path : {"/get_ticket", "/call_ticket"}) {
    const auto response = send(verb::get, path);
    EXPECT_TRUE(is_error(response, http::Status::method_not_allowed, "method_not_allowed")) << path;
    EXPECT_EQ(response[field::allow], "POST") << path;
  }
  EXPECT_EQ(redis({"EXISTS", "ticket_number_rubis"}), "0");
}

// --- Documentation and pages ---------------------------------------------------------------------------

TEST_F(EndpointsTest, TheDocumentServedIsTheOneOfTheseSettings) {
  const auto with_get = send(verb::get, "/openapi.json");
  EXPECT_EQ(with_get.body(), lane->document);
  EXPECT_TRUE(body_of(with_get).at("paths").at("/get_ticket").as_object().contains("get"));
  serve({.legacy_get = false}, {});
  EXPECT_FALSE(body_of(send(verb::get, "/openapi.json")).at("paths").at("/get_ticket").as_object().contains("get"));
}

TEST_F(EndpointsTest, DocsIsAPageWithItsAssetsAndItsSlashRedirectsRelatively) {
  const auto page = send(verb::get, "/docs");
  EXPECT_EQ(page.result(), http::Status::ok);
  EXPECT_EQ(page["Content-Security-Policy"], docs::content_security_policy);
  EXPECT_EQ(send(verb::get, "/docs/swagger-ui.css")[field::cache_control], "public, max-age=86400");
  const auto slash = send(verb::get, "/docs/");
  EXPECT_EQ(slash.result(), http::Status::moved_permanently);
  EXPECT_EQ(slash[field::location], "../docs");
  EXPECT_TRUE(is_error(send(verb::get, "/docs/nothing.js"), http::Status::not_found, "not_found"));
}

TEST_F(EndpointsTest, TheScreensPagesAreServedAndOthersAreNot) {
  for (const char* path : {"/kiosk", "/desk", "/display"}) {
    const auto page = send(verb::get, path);
    EXPECT_EQ(page.result(), http::Status::ok) << path;
    EXPECT_TRUE(std::string_view(page[field::content_type]).starts_with("text/html")) << path;
    EXPECT_FALSE(page["Content-Security-Policy"].empty()) << path;
  }
  EXPECT_TRUE(is_error(send(verb::get, "/pages/none.js"), http::Status::not_found, "not_found"));
}

// --- Sessions ------------------------------------------------------------------------------------------

TEST_F(EndpointsTest, TheScreensNameTheQueueByItsLabel) {
  serve({.queue_label = "Émeraude"}, {});
  const auto shown = body_of(send(verb::get, "/session"));
  EXPECT_EQ(shown.at("queue"), "rubis");
  EXPECT_EQ(shown.at("label"), "Émeraude");
}

TEST_F(EndpointsTest, AKeyOpensASessionWhoseCookieStandsForItUnderThePrefix) {
  const std::string key = auth::generate_key();
  unit::KeyFile file(auth::key_line("desk", auth::call | auth::read, key) + "\n");
  auth::KeyStore keys(file.path());
  serve({.session_ttl = 600s}, {}, &keys);
  const auto opened =
      send(verb::post, "/session",
           {{"Authorization", "Bearer " + key}, {"X-Forwarded-Prefix", "/rubis"}, {"X-Forwarded-Proto", "https"}});
  ASSERT_EQ(opened.result(), http::Status::no_content) << opened.body();
  const std::string cookie(opened[field::set_cookie]);
  EXPECT_TRUE(cookie.starts_with("waitline_session=")) << cookie;
  EXPECT_NE(cookie.find("; Path=/rubis; Max-Age=600; HttpOnly; SameSite=Strict; Secure"), std::string::npos) << cookie;
  const std::string pair = cookie.substr(0, cookie.find(';'));

  const auto shown = body_of(send(verb::get, "/session", {{"Cookie", pair}}));
  EXPECT_EQ(shown.at("key"), "desk");
  EXPECT_EQ(shown.at("label"), "Rubis") << "without --queue-label, the queue's name with a capital";
  EXPECT_EQ(boost::json::serialize(shown.at("scopes")), R"(["call","read"])");
  EXPECT_EQ(shown.at("credential"), "session");
  EXPECT_TRUE(is_error(send(verb::post, "/session", {{"Cookie", pair}, {"Sec-Fetch-Site", "same-origin"}}),
                       http::Status::bad_request, "bearer_key_required"));
  const auto closed = send(verb::delete_, "/session");
  EXPECT_EQ(closed.result(), http::Status::no_content);
  EXPECT_NE(std::string(closed[field::set_cookie]).find("waitline_session=; Path=/; Max-Age=0"), std::string::npos);
}

}  // namespace
}  // namespace waitline::app
