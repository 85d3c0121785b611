// Live events, desk actions, the visitor's own ticket and browser sessions, against a real
// redis-server and several real replicas: what screens and phones rely on.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <numeric>
#include <regex>
#include <set>

#include "integration/sse.hpp"
#include "integration/testkit.hpp"

namespace waitline::test {
namespace {

using namespace kit;

constexpr std::string_view kSecret = "a-secret-of-at-least-32-characters-for-tests-0001";
constexpr std::string_view kOtherSecret = "another-secret-of-32-characters-or-more-0002";

json::object data_of(const SseEvent& event) { return parse_object(event.data); }

// The stream's entries as Redis holds them: id and type, oldest first.
std::vector<std::pair<std::string, std::string>> stream_in_redis(const RedisServer& redis, const std::string& queue) {
  std::vector<std::pair<std::string, std::string>> entries;
  std::istringstream lines(redis.cli({"XRANGE", "events_" + queue, "-", "+"}));
  std::vector<std::string> all;
  for (std::string line; std::getline(lines, line);) all.push_back(line);
  // redis-cli prints each entry as its id, then field and value lines.
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].find('-') != std::string::npos && all[i].find_first_not_of("0123456789-") == std::string::npos &&
        i + 2 < all.size() && all[i + 1] == "type") {
      entries.emplace_back(all[i], all[i + 2]);
    }
  }
  return entries;
}

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

std::string ticket_url(const Response& taken) {
  return std::string(parse_object(taken.body).at("ticket_url").as_string());
}

// --- Several replicas ----------------------------------------------------------------------------

class Replicas : public ::testing::Test {
 protected:
  RedisServer redis{{"--appendonly", "yes", "--appendfsync", "always"}};
  TempDir dir;
  std::string secret = dir.write("secret", std::string(kSecret) + "\n");
  Service a = insecure_service(redis, {"--ticket-secret-file", secret});
  Service b = insecure_service(redis, {"--ticket-secret-file", secret});
  HttpClient to_a{a.port()};
  HttpClient to_b{b.port()};
};

TEST_F(Replicas, AStreamOnOneReplicaGetsEveryEventMadeOnAnotherInOrderExactlyOnce) {
  SseClient stream(b.port(), "/events");
  ASSERT_EQ(stream.status(), 200u);
  EXPECT_EQ(stream.head().header("Cache-Control"), "no-store");
  ASSERT_EQ(stream.wait_for(1).size(), 1u);
  const auto snapshot = data_of(stream.events()[0]);
  EXPECT_EQ(stream.events()[0].event, "snapshot");
  EXPECT_EQ(snapshot.at("waiting").as_int64(), 0);
  EXPECT_FALSE(snapshot.at("reset").as_bool());

  for (int i = 0; i < 5; ++i) ASSERT_EQ(to_a.post("/get_ticket").status, 200u);
  ASSERT_EQ(to_a.post("/call_ticket?counter=3").status, 200u);
  ASSERT_EQ(to_a.post("/call_ticket").status, 200u);
  ASSERT_EQ(to_a.post("/recall?counter=3").status, 200u);
  ASSERT_EQ(to_a.post("/call_ticket?counter=guichet-2").status, 200u);

  const auto& events = stream.wait_for(10);
  ASSERT_EQ(events.size(), 10u) << stream.text();
  const auto in_redis = stream_in_redis(redis, "rubis");
  ASSERT_EQ(in_redis.size(), 9u);
  std::vector<std::string> types;
  for (std::size_t i = 1; i < events.size(); ++i) {
    types.push_back(events[i].event);
    EXPECT_EQ(events[i].id, in_redis[i - 1].first) << "the SSE id is the stream entry's id";
  }
  EXPECT_EQ(types, (std::vector<std::string>{"taken", "taken", "taken", "taken", "taken", "called", "called",
                                             "recalled", "called"}));
  EXPECT_EQ(data_of(events[5]),
            (json::object{{"queue", "rubis"}, {"ticket", 5}, {"waiting", 5}, {"at", data_of(events[5]).at("at")}}));
  const auto first_call = data_of(events[6]);
  EXPECT_EQ(first_call.at("ticket").as_int64(), 1);
  EXPECT_EQ(first_call.at("waiting").as_int64(), 4);
  EXPECT_EQ(first_call.at("counter").as_string(), "3");
  EXPECT_TRUE(data_of(events[7]).at("counter").is_null()) << "a call without a counter";
  EXPECT_EQ(data_of(events[8]).at("ticket").as_int64(), 1) << "the recall names counter 3's last ticket";
  EXPECT_EQ(data_of(events[8]).at("counter").as_string(), "3");
  EXPECT_EQ(data_of(events[9]).at("counter").as_string(), "guichet-2");
  // "at" is the entry's time: RFC 3339, UTC, milliseconds.
  EXPECT_TRUE(std::regex_match(std::string(first_call.at("at").as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST_F(Replicas, AReconnectionWithLastEventIdGetsExactlyTheMissedEventsThenTheLiveOnes) {
  std::string last;
  {
    SseClient first(a.port(), "/events");
    ASSERT_EQ(first.wait_for(1).size(), 1u);
    for (int i = 0; i < 2; ++i) ASSERT_EQ(to_a.post("/get_ticket").status, 200u);
    ASSERT_EQ(first.wait_for(3).size(), 3u);
    last = first.events().back().id;
  }
  for (int i = 0; i < 3; ++i) ASSERT_EQ(to_b.post("/get_ticket").status, 200u);  // missed

  std::int64_t first_missed = 3;
  for (const bool in_query : {false, true}) {
    SCOPED_TRACE(in_query ? "last_event_id in the query" : "Last-Event-ID header");
    SseClient again(a.port(), in_query ? "/events?last_event_id=" + last : "/events",
                    in_query ? std::map<std::string, std::string>{}
                             : std::map<std::string, std::string>{{"Last-Event-ID", last}});
    ASSERT_EQ(again.status(), 200u);
    const auto& missed = again.wait_for(3);
    ASSERT_EQ(missed.size(), 3u) << again.text();
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(missed[i].event, "taken") << "no snapshot: the stream resumes";
      EXPECT_EQ(data_of(missed[i]).at("ticket").as_int64(), first_missed + static_cast<std::int64_t>(i));
    }
    EXPECT_TRUE(again.read_for(300ms).size() == 3u) << "nothing more, nothing twice";
    ASSERT_EQ(to_b.post("/get_ticket").status, 200u);
    const auto& live = again.wait_for(4);
    ASSERT_EQ(live.size(), 4u);
    EXPECT_EQ(live[3].event, "taken");
    last = live[0].id;  // the second round misses the first's last two and its live one
    first_missed = 4;
  }
}

TEST_F(Replicas, RedisKilledUnderAStreamNeitherLosesNorRepeatsAnAcknowledgedEvent) {
  SseClient stream(b.port(), "/events");
  ASSERT_EQ(stream.wait_for(1).size(), 1u);
  std::set<std::int64_t> acknowledged;
  std::set<std::int64_t> maybe;  // 504: the take may have happened
  auto take = [&] {
    const Response r = to_a.post("/get_ticket");
    if (r.status == 200u) acknowledged.insert(ticket_of(r));
    return r.status;
  };
  for (int i = 0; i < 10; ++i) ASSERT_EQ(take(), 200u);
  ASSERT_EQ(stream.wait_for(11).size(), 11u);
  const std::string before_kill = stream.events().back().id;

  redis.kill();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(take(), 503u) << "Redis is down: refused, not done";
  redis.start();
  ASSERT_TRUE(readyz_becomes(a.admin_port(), 200));
  ASSERT_TRUE(readyz_becomes(b.admin_port(), 200));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(take(), 200u);

  // The stream that stayed open gets the ten later events, once each.
  const auto& events = stream.wait_for(21);
  ASSERT_EQ(events.size(), 21u) << stream.text();
  std::set<std::string> ids;
  std::set<std::int64_t> tickets;
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_TRUE(ids.insert(events[i].id).second) << "event twice: " << events[i].id;
    EXPECT_TRUE(tickets.insert(data_of(events[i]).at("ticket").as_int64()).second);
  }
  EXPECT_EQ(tickets, acknowledged);
  EXPECT_TRUE(stream.read_for(300ms).size() == 21u);

  // And a client that reconnects after the restart with the id it had before the kill.
  SseClient resumed(a.port(), "/events", {{"Last-Event-ID", before_kill}});
  const auto& missed = resumed.wait_for(10);
  ASSERT_EQ(missed.size(), 10u) << resumed.text();
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(missed[i].id, events[11 + i].id);
}

TEST_F(Replicas, TicketLinksOpenTheirOwnTicketOnlyOnAnyReplica) {
  ASSERT_EQ(redis.cli({"SET", "ticket_number_rubis", "41"}), "OK");
  const Response taken = to_a.post("/get_ticket");
  ASSERT_EQ(ticket_of(taken), 42);
  const std::string url = ticket_url(taken);
  const std::string token = url.substr(url.find("token=") + 6);
  EXPECT_GE(token.size(), 22u) << "at least 128 bits";
  EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);

  const Response mine = to_b.get(url);  // the other replica
  ASSERT_EQ(mine.status, 200u) << mine.body;
  EXPECT_EQ(parse_object(mine.body), (json::object{{"queue", "rubis"},
                                                   {"label", "Rubis"},
                                                   {"ticket", 42},
                                                   {"state", "waiting"},
                                                   {"ahead", 0},
                                                   {"estimated_wait_seconds", nullptr},
                                                   {"counter", nullptr},
                                                   {"called_at", nullptr}}));
  ASSERT_EQ(to_a.post("/get_ticket").status, 200u);  // 43 exists too
  const Response unknown = to_b.get("/tickets/44?token=" + token);
  for (const std::string& target :
       std::vector<std::string>{"/tickets/43?token=" + token, "/tickets/42?token=" + token.substr(1),
                                "/tickets/42?token=", "/tickets/42", "/tickets/042?token=" + token,
                                "/tickets/x?token=" + token}) {
    SCOPED_TRACE(target);
    const Response refused = to_b.get(target);
    EXPECT_TRUE(is_error(refused, 404, "not_found"));
    EXPECT_EQ(refused.body, unknown.body) << "a wrong token reads exactly like an unknown ticket";
  }

  // Another queue's 42, under the same secret, has another token.
  Service saphir({.redis_port = redis.port(),
                  .queue = "saphir",
                  .extra_args = {"--insecure-no-auth", "--ticket-secret-file", secret}});
  HttpClient to_saphir(saphir.port());
  ASSERT_EQ(redis.cli({"SET", "ticket_number_saphir", "41"}), "OK");
  const std::string saphir_url = ticket_url(to_saphir.post("/get_ticket"));
  EXPECT_NE(saphir_url, url);
  EXPECT_TRUE(is_error(to_saphir.get(url), 404, "not_found"));
  EXPECT_EQ(to_saphir.get(saphir_url).status, 200u);

  // A status follows the ticket: waiting, then called at its counter.
  ASSERT_EQ(to_b.post("/call_ticket?counter=7").status, 200u);
  const auto called = parse_object(to_a.get(url).body);
  EXPECT_EQ(called.at("state").as_string(), "called");
  EXPECT_EQ(called.at("counter").as_string(), "7");
  EXPECT_TRUE(called.at("ahead").is_null());
  EXPECT_FALSE(called.at("called_at").is_null());
}

TEST_F(Replicas, ARotatedSecretKeepsPrintedTicketsValidUntilTheOldSecretIsRemoved) {
  const std::string old_url = ticket_url(to_a.post("/get_ticket"));
  dir.write("secret", std::string(kOtherSecret) + "\n" + std::string(kSecret) + "\n");
  a.process().signal(SIGHUP);
  b.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return !event_lines(a.process(), "ticket secret reloaded").empty(); }));
  ASSERT_TRUE(eventually([&] { return !event_lines(b.process(), "ticket secret reloaded").empty(); }));
  EXPECT_EQ(to_a.get(old_url).status, 200u) << "the previous secret still verifies";
  const std::string new_url = ticket_url(to_b.post("/get_ticket"));
  EXPECT_EQ(to_a.get(new_url).status, 200u);

  dir.write("secret", std::string(kOtherSecret) + "\n");
  a.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return event_lines(a.process(), "ticket secret reloaded").size() == 2; }));
  EXPECT_TRUE(is_error(to_a.get(old_url), 404, "not_found")) << "signed only by a secret now removed";
  EXPECT_EQ(to_a.get(new_url).status, 200u);

  // A file that does not parse is refused whole; the secret in force stays.
  dir.write("secret", "too-short\n");
  a.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return !event_lines(a.process(), "ticket secret not reloaded; the previous one stays in force").empty();
  }));
  EXPECT_EQ(to_a.get(new_url).status, 200u);
}

TEST_F(Replicas, ATicketsStreamCountsDownAndSaysWhenItIsCalled) {
  for (int i = 0; i < 2; ++i) ASSERT_EQ(to_a.post("/get_ticket").status, 200u);
  const std::string url = ticket_url(to_a.post("/get_ticket"));  // ticket 3: two ahead
  const auto question = url.find('?');
  SseClient phone(b.port(), url.substr(0, question) + "/events" + url.substr(question));
  ASSERT_EQ(phone.status(), 200u);
  ASSERT_EQ(phone.wait_for(1).size(), 1u);
  EXPECT_EQ(phone.events()[0].event, "status");
  EXPECT_EQ(data_of(phone.events()[0]).at("ahead").as_int64(), 2);

  ASSERT_EQ(to_a.post("/get_ticket").status, 200u);  // behind: nothing changes for ticket 3
  ASSERT_EQ(to_a.post("/call_ticket?counter=1").status, 200u);
  ASSERT_EQ(phone.wait_for(2).size(), 2u) << phone.text();
  EXPECT_EQ(data_of(phone.events()[1]).at("ahead").as_int64(), 1);
  ASSERT_EQ(to_a.post("/call_ticket?counter=1").status, 200u);
  ASSERT_EQ(phone.wait_for(3).size(), 3u);
  EXPECT_EQ(data_of(phone.events()[2]).at("ahead").as_int64(), 0);
  ASSERT_EQ(to_a.post("/call_ticket?counter=4").status, 200u);
  ASSERT_EQ(phone.wait_for(4).size(), 4u);
  const auto called = data_of(phone.events()[3]);
  EXPECT_EQ(called.at("state").as_string(), "called");
  EXPECT_EQ(called.at("counter").as_string(), "4");

  const std::string wrong = url.substr(0, question) + "/events?token=AAAAAAAAAAAAAAAAAAAAAA";
  EXPECT_TRUE(is_error(to_b.get(wrong), 404, "not_found"));
}

TEST_F(Replicas, PhonesAndCallScreensOutliveMoreTakesThanTheHubKeepsAndStillFollowTheNextCall) {
  ASSERT_EQ(to_a.post("/get_ticket").status, 200u);
  const std::string url = ticket_url(to_a.post("/get_ticket"));  // ticket 2: one ahead
  const auto question = url.find('?');
  SseClient phone(b.port(), url.substr(0, question) + "/events" + url.substr(question));
  SseClient screen(b.port(), "/events?types=called,recalled");
  ASSERT_EQ(phone.wait_for(1).size(), 1u);
  ASSERT_EQ(screen.wait_for(1).size(), 1u);
  // More takes than the 4,096 events a replica keeps in memory: none is for the phone or the screen.
  for (int i = 0; i < 4500; ++i) ASSERT_EQ(to_a.post("/get_ticket").status, 200u);
  EXPECT_EQ(phone.read_for(200ms).size(), 1u) << "a take changes nothing for a ticket already taken";
  ASSERT_EQ(to_a.post("/call_ticket?counter=2").status, 200u);
  ASSERT_EQ(phone.wait_for(2).size(), 2u) << phone.text();
  EXPECT_EQ(data_of(phone.events()[1]).at("ahead").as_int64(), 0);
  ASSERT_EQ(screen.wait_for(2).size(), 2u) << screen.text();
  EXPECT_EQ(screen.events()[1].event, "called");
  EXPECT_EQ(data_of(screen.events()[1]).at("ticket").as_int64(), 1);
  const auto metrics = scrape(b.admin_port());
  for (const char* kind : {"ticket", "queue"}) {
    // Exported at 0 before any stream ends, so that a dashboard shows 0 rather than no data.
    EXPECT_EQ(metric(metrics, "waitline_event_streams_closed_total", {{"kind", kind}, {"reason", "slow"}}), 0)
        << kind << ": not cut off for events it does not want";
  }
}

TEST_F(Replicas, AScreenMayAskForCallsOnly) {
  SseClient calls(a.port(), "/events?types=called,recalled");
  ASSERT_EQ(calls.wait_for(1).size(), 1u);  // the snapshot
  for (int i = 0; i < 3; ++i) ASSERT_EQ(to_b.post("/get_ticket").status, 200u);
  ASSERT_EQ(to_b.post("/call_ticket?counter=1").status, 200u);
  ASSERT_EQ(to_b.post("/recall?counter=1").status, 200u);
  const auto& events = calls.wait_for(3);
  ASSERT_EQ(events.size(), 3u) << calls.text();
  EXPECT_EQ(events[1].event, "called");
  EXPECT_EQ(events[2].event, "recalled");
  EXPECT_EQ(data_of(events[1]).at("waiting").as_int64(), 2) << "a call carries the waiting count";
  EXPECT_TRUE(is_error(to_a.get("/events?types=called,lunch"), 400, "invalid_parameter"));
}

// --- One replica ---------------------------------------------------------------------------------

class Events : public ::testing::Test {
 protected:
  RedisServer redis;
  Service service = insecure_service(redis, {"--events-keepalive", "1s", "--max-event-streams", "2",
                                             "--events-retention", "100"});
  HttpClient client{service.port()};
};

TEST_F(Events, AnIdleStreamGetsAKeepaliveCommentAndAStartsWithARetryHint) {
  SseClient stream(service.port(), "/events");
  ASSERT_EQ(stream.wait_for(1).size(), 1u);
  EXPECT_TRUE(stream.text().starts_with("retry: ")) << stream.text();
  stream.read_for(2500ms);
  EXPECT_NE(stream.text().find("\n: keepalive\n"), std::string::npos) << stream.text();
  EXPECT_EQ(stream.events().size(), 1u) << "a comment is no event";
}

TEST_F(Events, StreamsBeyondTheLimitGet503AndAPlaceFreesWhenOneCloses) {
  auto first = std::make_unique<SseClient>(service.port(), "/events");
  SseClient second(service.port(), "/events");
  ASSERT_EQ(first->status(), 200u);
  ASSERT_EQ(second.status(), 200u);
  const Response refused = client.get("/events");
  EXPECT_TRUE(is_error(refused, 503, "too_many_streams"));
  EXPECT_EQ(refused.header("Retry-After"), "1");
  first.reset();
  EXPECT_TRUE(eventually([&] { return SseClient(service.port(), "/events").status() == 200u; }));
  EXPECT_GE(metric(scrape(service.admin_port()), "waitline_requests_refused_total", {{"reason", "event_streams"}})
                .value_or(0),
            1);
}

TEST_F(Events, AnIdOlderThanTheRetentionGetsASnapshotMarkedResetAndABadIdA400) {
  ASSERT_EQ(client.post("/get_ticket").status, 200u);
  const std::string old = stream_in_redis(redis, "rubis").front().first;
  for (int i = 0; i < 400; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  ASSERT_LT(std::stoi(redis.cli({"XLEN", "events_rubis"})), 401) << "trimmed to about the retention";
  SseClient stream(service.port(), "/events", {{"Last-Event-ID", old}});
  ASSERT_EQ(stream.wait_for(1).size(), 1u);
  EXPECT_EQ(stream.events()[0].event, "snapshot");
  const auto snapshot = data_of(stream.events()[0]);
  EXPECT_TRUE(snapshot.at("reset").as_bool());
  EXPECT_EQ(snapshot.at("waiting").as_int64(), 401);
  EXPECT_EQ(snapshot.at("tickets").as_array().size(), 20u);
  EXPECT_EQ(snapshot.at("tickets").as_array()[0].as_int64(), 1) << "the first waiting, oldest first";

  for (const std::string bad : {"x", "1-", "-1", "1-2-3", "18446744073709551616-0"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(is_error(client.get("/events", {{"Last-Event-ID", bad}}), 400, "invalid_last_event_id"));
  }
}

// Its own service: AddressSanitizer keeps freed memory aside (256 MB by default), which this test
// would read as growth; a small quarantine still catches a use after free of the recent past.
class StuckClient : public ::testing::Test {
 protected:
  static std::map<std::string, std::string> small_quarantine() {
    const char* inherited = std::getenv("ASAN_OPTIONS");
    return {{"ASAN_OPTIONS", std::string(inherited ? inherited : "") + ":quarantine_size_mb=8"}};
  }
  RedisServer redis;
  Service service{{.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}, .env = small_quarantine()}};
  HttpClient client{service.port()};
};

TEST_F(StuckClient, AClientThatStopsReadingIsCutOffAndTheProcessDoesNotGrow) {
  // The same work once without the stuck client: the allocator's own caches (and, in the
  // sanitizer build, its quarantine and shadow) reach their size; what grows after is the stream's.
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(client.post("/call_ticket").status, 200u);
  // A receive buffer of 4 KiB, and nothing read after the snapshot.
  SseClient stuck(service.port(), "/events", {}, 4096);
  ASSERT_EQ(stuck.wait_for(1).size(), 1u);
  const long before = rss_kib(service.process().pid());
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(client.post("/call_ticket").status, 200u);
  ASSERT_TRUE(eventually(
      [&] {
        return metric(scrape(service.admin_port()), "waitline_event_streams_closed_total",
                      {{"kind", "queue"}, {"reason", "slow"}})
                   .value_or(0) == 1;
      },
      40s))
      << "the stuck client was not cut off";
  const long after = rss_kib(service.process().pid());
  EXPECT_LT(after - before, 16 * 1024) << "RSS " << before << " KiB -> " << after << " KiB";
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_event_streams", {{"kind", "queue"}}).value_or(-1), 0);
  // The other clients are served all along.
  SseClient fresh(service.port(), "/events");
  EXPECT_EQ(fresh.wait_for(1).size(), 1u);
}

TEST_F(StuckClient, AClientThatReadsLateGetsEveryEventOnceInOrder) {
  // More events than the socket's buffers hold while the client reads nothing: the server writes
  // what the socket takes and the rest of each write as the client reads. (The default retention:
  // a short one may trim events before this replica's reader reads them, and a reset is then right.)
  SseClient late(service.port(), "/events", {}, 4096);
  ASSERT_EQ(late.wait_for(1).size(), 1u);
  constexpr int takes = 1500;  // about 250 KB of events, fewer than the 4,096 kept in memory
  for (int i = 0; i < takes; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  const auto& events = late.wait_for(1 + takes);
  ASSERT_EQ(events.size(), 1u + takes) << late.text().substr(0, 2000);
  for (int i = 1; i <= takes; ++i) {
    ASSERT_EQ(events[i].event, "taken") << i;
    ASSERT_EQ(data_of(events[i]).at("ticket").as_int64(), i);
  }
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_event_streams", {{"kind", "queue"}}).value_or(-1), 1)
      << "the stream is still open";
}

TEST_F(Events, SigtermEndsStreamsWithARetryHint) {
  SseClient stream(service.port(), "/events");
  ASSERT_EQ(stream.wait_for(1).size(), 1u);
  service.process().signal(SIGTERM);
  ASSERT_TRUE(stream.wait_end(10s));
  EXPECT_TRUE(stream.finished_cleanly()) << "the body ends with its last chunk";
  const std::string text = stream.text();
  const auto last_retry = text.rfind("retry: ");
  ASSERT_NE(last_retry, std::string::npos);
  EXPECT_GT(last_retry, text.find("event: snapshot")) << "a retry hint after the events: " << text;
  EXPECT_EQ(service.process().wait(), 0);
}

// --- Desk actions --------------------------------------------------------------------------------

TEST_F(Events, ADeskNamesItsCounterAndRecallsItsLastTicket) {
  EXPECT_TRUE(is_error(client.post("/recall?counter=3"), 404, "nothing_to_recall"));
  EXPECT_TRUE(is_error(client.post("/recall"), 404, "nothing_to_recall"));
  for (const std::string& bad : std::vector<std::string>{"", "a%20b", "%C3%A9", std::string(33, 'x'), "a/b", "%zz"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(is_error(client.post("/call_ticket?counter=" + bad), 400, "invalid_parameter"));
    EXPECT_TRUE(is_error(client.post("/recall?counter=" + bad), 400, "invalid_parameter"));
  }
  EXPECT_EQ(redis.cli({"EXISTS", "events_rubis"}), "0") << "a refused request changes nothing";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  const auto called = parse_object(client.post("/call_ticket?counter=Guichet_3.b").body);
  EXPECT_EQ(called.at("counter").as_string(), "Guichet_3.b");
  EXPECT_EQ(called.at("message").as_string(),
            "Customer with ticket 1, please proceed to counter Guichet_3.b ! 2 people are waiting");
  ASSERT_EQ(client.post("/call_ticket?counter=4").status, 200u);
  const auto last = parse_object(client.get("/last_called").body);
  EXPECT_EQ(last.at("ticket").as_int64(), 2);
  EXPECT_EQ(last.at("counter").as_string(), "4");

  const Response recalled = client.post("/recall?counter=Guichet_3.b", {{"Idempotency-Key", "recall-1"}});
  ASSERT_EQ(recalled.status, 200u) << recalled.body;
  EXPECT_EQ(parse_object(recalled.body).at("ticket").as_int64(), 1);
  const Response again = client.post("/recall?counter=Guichet_3.b", {{"Idempotency-Key", "recall-1"}});
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.body, recalled.body);
  EXPECT_TRUE(is_error(client.post("/call_ticket", {{"Idempotency-Key", "recall-1"}}), 422, "idempotency_key_reused"));
  // Without a counter: the queue's last call, at its counter.
  const auto last_again = parse_object(client.post("/recall").body);
  EXPECT_EQ(last_again.at("ticket").as_int64(), 2);
  EXPECT_EQ(last_again.at("counter").as_string(), "4");
  std::vector<std::string> types;
  for (const auto& [id, type] : stream_in_redis(redis, "rubis")) types.push_back(type);
  EXPECT_EQ(types, (std::vector<std::string>{"taken", "taken", "taken", "called", "called", "recalled", "recalled"}))
      << "one event per change: the replayed recall made none";
}

TEST_F(Events, EveryCallMeasuresTheRealWaitAndTheEstimatesError) {
  // No pace yet: no estimate.
  auto first = parse_object(client.post("/get_ticket").body);
  EXPECT_TRUE(first.at("estimated_wait_seconds").is_null());
  std::this_thread::sleep_for(1100ms);
  ASSERT_EQ(client.post("/call_ticket").status, 200u);
  auto samples = scrape(service.admin_port());
  EXPECT_EQ(metric(samples, "waitline_wait_seconds_count", {{"queue", "rubis"}}), 1);
  EXPECT_GE(metric(samples, "waitline_wait_seconds_sum", {{"queue", "rubis"}}).value_or(0), 1.0);
  EXPECT_EQ(metric(samples, "waitline_wait_estimate_error_seconds_count", {{"queue", "rubis"}}), 0)
      << "a ticket told no estimate has no error";

  // Two more calls make a pace; the next take is told an estimate, and its call measures it.
  for (int i = 0; i < 2; ++i) ASSERT_EQ(client.post("/get_ticket").status, 200u);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(client.post("/call_ticket").status, 200u);
  const auto estimated = parse_object(client.post("/get_ticket").body);
  ASSERT_FALSE(estimated.at("estimated_wait_seconds").is_null()) << json::serialize(estimated);
  EXPECT_GE(estimated.at("estimated_wait_seconds").as_int64(), 0);
  ASSERT_EQ(client.post("/call_ticket").status, 200u);
  samples = scrape(service.admin_port());
  EXPECT_EQ(metric(samples, "waitline_wait_seconds_count", {{"queue", "rubis"}}), 4);
  EXPECT_EQ(metric(samples, "waitline_wait_estimate_error_seconds_count", {{"queue", "rubis"}}), 1);
}

// The pace is the mean interval between the last calls, at most 10, within the hour before the
// newest. Earlier calls are written into recent_calls_rubis a minute apart (Redis's clock), then
// one real call is made and pace_rubis read: "<pace ms>:<call ms>".
TEST_F(Events, ThePaceIsTheMeanIntervalOfTheLastTenCallsWithinTheHour) {
  const auto pace_after_call = [&](const std::vector<std::int64_t>& minutes_ago) {
    redis.cli({"DEL", "recent_calls_rubis"});
    const std::int64_t now = std::stoll(redis.cli({"TIME"}).substr(0, 10)) * 1000;
    for (auto it = minutes_ago.rbegin(); it != minutes_ago.rend(); ++it)
      redis.cli({"LPUSH", "recent_calls_rubis", std::to_string(now - *it * 60'000) + ":1:"});
    EXPECT_EQ(client.post("/get_ticket").status, 200u);
    EXPECT_EQ(client.post("/call_ticket").status, 200u);
    const std::string pace = redis.cli({"GET", "pace_rubis"});
    const std::int64_t at = std::stoll(pace.substr(pace.find(':') + 1));
    return std::pair{std::stoll(pace.substr(0, pace.find(':'))), at - now};
  };
  // Twelve calls a minute apart: the newest and the nine before it, 9 intervals (the first
  // minute's interval is from the call made now, up to a second after the minute).
  std::vector<std::int64_t> minutes(12);
  std::iota(minutes.begin(), minutes.end(), 1);
  auto [pace, late] = pace_after_call(minutes);
  EXPECT_NEAR(static_cast<double>(pace), (9 * 60'000.0 + static_cast<double>(late)) / 9, 1) << "late " << late;
  // Four calls within the hour, then older ones: only the four and the new call count.
  std::tie(pace, late) = pace_after_call({1, 2, 3, 4, 61, 62, 63, 64, 65});
  EXPECT_NEAR(static_cast<double>(pace), (4 * 60'000.0 + static_cast<double>(late)) / 4, 1) << "late " << late;
  // The ninth of ten an hour and a half ago: the eight newer ones count.
  std::tie(pace, late) = pace_after_call({1, 2, 3, 4, 5, 6, 7, 8, 90});
  EXPECT_NEAR(static_cast<double>(pace), (8 * 60'000.0 + static_cast<double>(late)) / 8, 1) << "late " << late;
  // Nobody called within the hour: no pace.
  EXPECT_EQ(pace_after_call({61, 62}).first, -1);
  // Every call kept up to 20, then the newest 10 again: never fewer than the 10 the pace reads.
  redis.cli({"DEL", "recent_calls_rubis"});
  std::vector<int> kept;
  for (int i = 0; i < 25; ++i) {
    ASSERT_EQ(client.post("/get_ticket").status, 200u);
    ASSERT_EQ(client.post("/call_ticket").status, 200u);
    kept.push_back(std::stoi(redis.cli({"LLEN", "recent_calls_rubis"})));
  }
  EXPECT_EQ(kept, (std::vector<int>{1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                    14, 15, 16, 17, 18, 19, 20, 10, 11, 12, 13, 14}));
}

// --- Browser sessions ----------------------------------------------------------------------------

class Sessions : public KeyedServiceTest {
 protected:
  Sessions() : KeyedServiceTest({{"desk", "take,call,read"}, {"screen", "read"}}, {"--session-ttl", "3s"}) {}

  std::string open(const ApiKey& key, std::map<std::string, std::string> headers = {}) {
    headers.merge(bearer(key.key));
    const Response r = client.post("/session", headers);
    EXPECT_EQ(r.status, 204u) << r.body;
    const std::string cookie = r.header("Set-Cookie");
    return cookie.substr(0, cookie.find(';'));
  }
  static std::map<std::string, std::string> with(const std::string& cookie,
                                                 std::map<std::string, std::string> more = {}) {
    more["Cookie"] = "other=1; " + cookie;
    return more;
  }
};

TEST_F(Sessions, ACookieStandsForItsKeyAndOnlyFromThisSitesPages) {
  const Response opened = client.post("/session", bearer(keys[0].key));
  ASSERT_EQ(opened.status, 204u);
  const std::string set_cookie = opened.header("Set-Cookie");
  for (const std::string part : {"waitline_session=", "; Path=/;", "; Max-Age=3;", "; HttpOnly", "; SameSite=Strict"}) {
    EXPECT_NE(set_cookie.find(part), std::string::npos) << set_cookie;
  }
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos) << "plain HTTP: no Secure";
  const std::string behind_proxy = client
                                       .post("/session", {{"Authorization", "Bearer " + keys[0].key},
                                                          {"X-Forwarded-Proto", "https"},
                                                          {"X-Forwarded-Prefix", "/rubis"}})
                                       .header("Set-Cookie");
  EXPECT_NE(behind_proxy.find("; Path=/rubis;"), std::string::npos) << behind_proxy;
  EXPECT_NE(behind_proxy.find("; Secure"), std::string::npos) << behind_proxy;

  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  EXPECT_EQ(client.get("/list_tickets", with(cookie)).status, 200u);
  const auto who = parse_object(client.get("/session", with(cookie)).body);
  EXPECT_EQ(who.at("key").as_string(), "desk");
  EXPECT_EQ(who.at("credential").as_string(), "session");
  EXPECT_EQ(who.at("scopes"), (json::array{"take", "call", "read"}));

  // A change: only from this origin's own pages.
  EXPECT_EQ(client.post("/get_ticket", with(cookie, {{"Sec-Fetch-Site", "same-origin"}})).status, 200u);
  EXPECT_EQ(client.post("/get_ticket", with(cookie, {{"Origin", "http://127.0.0.1"}, {"Host", "127.0.0.1"}})).status,
            200u);
  EXPECT_TRUE(
      is_error(client.post("/get_ticket", with(cookie, {{"Sec-Fetch-Site", "cross-site"}})), 403, "cross_site"));
  EXPECT_TRUE(is_error(client.post("/get_ticket", with(cookie, {{"Sec-Fetch-Site", "same-site"}})), 403, "cross_site"));
  EXPECT_TRUE(
      is_error(client.post("/call_ticket", with(cookie, {{"Origin", "https://evil.example"}})), 403, "cross_site"));
  EXPECT_TRUE(is_error(client.post("/call_ticket", with(cookie)), 403, "cross_site")) << "no origin at all";
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), "2");
  // A bearer key needs no origin; a session cannot open another.
  EXPECT_EQ(client.post("/get_ticket", bearer(keys[0].key)).status, 200u);
  EXPECT_TRUE(
      is_error(client.post("/session", with(cookie, {{"Sec-Fetch-Site", "same-origin"}})), 400, "bearer_key_required"));
}

TEST_F(Sessions, ASessionHasItsKeysScopesExpiresAndEndsWithItsKey) {
  const std::string screen = open(keys[1]);
  EXPECT_EQ(client.get("/list_tickets", with(screen)).status, 200u);
  EXPECT_TRUE(
      is_error(client.post("/call_ticket", with(screen, {{"Sec-Fetch-Site", "same-origin"}})), 403, "forbidden"));

  // Tampered: refused as unknown.
  std::string tampered = screen;
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_TRUE(is_error(client.get("/list_tickets", with(tampered)), 401, "unauthorized"));

  // Revoked: the key leaves the key file, the file is reloaded.
  const std::string desk = open(keys[0]);
  dir.write("keys", key_file({keys[1]}));
  service.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return !event_lines(service.process(), "API keys reloaded").empty(); }));
  EXPECT_TRUE(is_error(client.get("/list_tickets", with(desk)), 401, "unauthorized"));
  EXPECT_EQ(client.get("/list_tickets", with(screen)).status, 200u);
  // The same name with a new key does not revive the old sessions.
  const ApiKey replaced = make_key("desk", "take,call,read");
  dir.write("keys", key_file({replaced, keys[1]}));
  service.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return event_lines(service.process(), "API keys reloaded").size() == 2; }));
  EXPECT_TRUE(is_error(client.get("/list_tickets", with(desk)), 401, "unauthorized"));

  // Expired.
  std::this_thread::sleep_for(3100ms);
  EXPECT_TRUE(is_error(client.get("/list_tickets", with(screen)), 401, "unauthorized"));

  // Ending a session clears the cookie.
  const Response ended = client.request("DELETE", "/session", with(screen));
  EXPECT_EQ(ended.status, 204u);
  EXPECT_NE(ended.header("Set-Cookie").find("waitline_session=; Path=/; Max-Age=0"), std::string::npos);
}

TEST_F(Sessions, AStreamOpensWithTheCookieAndNeedsTheReadScope) {
  const std::string screen = open(keys[1]);
  SseClient stream(service.port(), "/events", with(screen));
  EXPECT_EQ(stream.status(), 200u);
  SseClient anonymous(service.port(), "/events");
  EXPECT_EQ(anonymous.status(), 401u);
}

}  // namespace
}  // namespace waitline::test
