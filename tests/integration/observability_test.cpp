// What operators see: /metrics (checked by promtool), bounded route labels, the admin and API
// listeners kept apart, and one JSON access-log line per request.
#include <gtest/gtest.h>

#include <csignal>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/testkit.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace kit;

class Observability : public ::testing::Test {
 protected:
  RedisServer redis;
  TempDir dir;
  ApiKey key = make_key("observer", "take,call,read");
  Service service{{.redis_port = redis.port(), .extra_args = {"--api-keys-file", dir.write("keys", key_file({key}))}}};
  HttpClient client{service.port()};
  HttpClient admin{service.admin_port()};

  Response take() { return client.post("/get_ticket", bearer(key.key)); }
  Response call() { return client.post("/call_ticket", bearer(key.key)); }
  Response list() { return client.get("/list_tickets", bearer(key.key)); }

  // Some of everything: successes, a legacy GET, and 400, 401, 404, 405 answers.
  void traffic() {
    for (int i = 0; i < 5; ++i) ASSERT_EQ(take().status, 200u);
    for (int i = 0; i < 2; ++i) ASSERT_EQ(call().status, 200u);
    ASSERT_EQ(list().status, 200u);
    ASSERT_EQ(client.get("/get_ticket", bearer(key.key)).status, 200u);
    ASSERT_EQ(client.get("/list_tickets?limit=x", bearer(key.key)).status, 400u);
    ASSERT_EQ(client.post("/get_ticket").status, 401u);
    ASSERT_EQ(client.get("/nope").status, 404u);
    ASSERT_EQ(client.request("DELETE", "/list_tickets").status, 405u);
    ASSERT_EQ(client.get("/docs").status, 200u);
  }
};

TEST_F(Observability, MetricsPassPromtoolCheckAfterTraffic) {
  const Response before = admin.get("/metrics");
  ASSERT_EQ(before.status, 200u);
  const RunResult idle = run({"promtool", "check", "metrics"}, {}, before.body);
  EXPECT_EQ(idle.status, 0) << idle.output << "\n" << before.body;

  traffic();
  const Response after = admin.get("/metrics");
  ASSERT_EQ(after.status, 200u);
  EXPECT_TRUE(after.header("Content-Type").starts_with("text/plain; version=0.0.4")) << after.header("Content-Type");
  const RunResult checked = run({"promtool", "check", "metrics"}, {}, after.body);
  EXPECT_EQ(checked.status, 0) << checked.output << "\n" << after.body;
}

// `# TYPE name kind` lines.
std::map<std::string, std::string> types(const std::string& text) {
  std::map<std::string, std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    std::istringstream words(line.substr(7));
    std::string name, kind;
    words >> name >> kind;
    found[name] = kind;
  }
  return found;
}

TEST_F(Observability, MetricsHaveTheRequiredFamiliesAndCountTheTraffic) {
  traffic();
  const Response response = admin.get("/metrics");
  ASSERT_EQ(response.status, 200u);
  const auto kinds = types(response.body);
  const std::map<std::string, std::string> required{
      {"http_requests_total", "counter"},
      {"http_request_duration_seconds", "histogram"},
      {"waitline_redis_command_duration_seconds", "histogram"},
      {"waitline_redis_up", "gauge"},
      {"waitline_queue_waiting", "gauge"},
      {"waitline_tickets_issued_total", "counter"},
      {"waitline_tickets_called_total", "counter"},
      {"process_cpu_seconds_total", "counter"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_open_fds", "gauge"},
      {"process_start_time_seconds", "gauge"},
      {"waitline_build_info", "gauge"},
  };
  for (const auto& [name, kind] : required) {
    const auto found = kinds.find(name);
    EXPECT_TRUE(found != kinds.end() && found->second == kind) << name << " is not a " << kind;
  }

  const auto samples = parse_metrics(response.body);
  using Labels = std::map<std::string, std::string>;
  const auto requests = [&](const std::string& route, const std::string& method, const std::string& code) {
    return metric(samples, "http_requests_total", Labels{{"route", route}, {"method", method}, {"code", code}});
  };
  EXPECT_EQ(requests("/get_ticket", "POST", "200"), 5.0);
  EXPECT_EQ(requests("/get_ticket", "GET", "200"), 1.0);
  EXPECT_EQ(requests("/get_ticket", "POST", "401"), 1.0);
  EXPECT_EQ(requests("/call_ticket", "POST", "200"), 2.0);
  EXPECT_EQ(requests("/list_tickets", "GET", "200"), 1.0);
  EXPECT_EQ(requests("/list_tickets", "GET", "400"), 1.0);
  EXPECT_EQ(requests("/list_tickets", "DELETE", "405"), 1.0);
  EXPECT_EQ(requests("unmatched", "GET", "404"), 1.0);
  EXPECT_EQ(requests("/docs", "GET", "200"), 1.0);

  // The duration histogram is by route only, and counts every request of the route.
  EXPECT_EQ(metric(samples, "http_request_duration_seconds_count", Labels{{"route", "/get_ticket"}}), 7.0);
  EXPECT_EQ(metric(samples, "http_request_duration_seconds_bucket", Labels{{"route", "/get_ticket"}, {"le", "+Inf"}}),
            7.0);
  EXPECT_GT(metric(samples, "http_request_duration_seconds_sum", Labels{{"route", "/get_ticket"}}).value_or(0), 0.0);
  for (const Sample& sample : samples) {
    if (sample.name.starts_with("http_request_duration_seconds")) {
      EXPECT_FALSE(sample.labels.contains("method") || sample.labels.contains("code"));
    }
  }

  // Redis round trips by command: six takes, two calls, one list (errors never reached Redis).
  const auto redis_count = [&](const std::string& command) {
    return metric(samples, "waitline_redis_command_duration_seconds_count", Labels{{"command", command}}).value_or(0);
  };
  EXPECT_GE(redis_count("take"), 6.0);
  EXPECT_GE(redis_count("call"), 2.0);
  EXPECT_GE(redis_count("list"), 1.0);

  EXPECT_EQ(metric(samples, "waitline_redis_up"), 1.0);
  EXPECT_EQ(metric(samples, "waitline_queue_waiting", Labels{{"queue", "rubis"}}), 4.0);
  EXPECT_EQ(metric(samples, "waitline_tickets_issued_total", Labels{{"queue", "rubis"}}), 6.0);
  EXPECT_EQ(metric(samples, "waitline_tickets_called_total", Labels{{"queue", "rubis"}}), 2.0);

  const double now = static_cast<double>(std::time(nullptr));
  const double started = metric(samples, "process_start_time_seconds").value_or(0);
  EXPECT_GT(started, now - 600);
  EXPECT_LE(started, now + 1);
  EXPECT_GT(metric(samples, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GE(metric(samples, "process_open_fds").value_or(0), 5.0);  // stdio, listeners, redis
  EXPECT_GE(metric(samples, "process_cpu_seconds_total").value_or(-1), 0.0);

  bool build_info = false;
  for (const Sample& sample : samples) {
    if (sample.name != "waitline_build_info") continue;
    build_info = true;
    EXPECT_EQ(sample.value, 1.0);
    EXPECT_TRUE(sample.labels.contains("version") && !sample.labels.at("version").empty());
    EXPECT_TRUE(sample.labels.contains("revision"));
  }
  EXPECT_TRUE(build_info);
}

TEST_F(Observability, CalledTicketsAreCountedOnlyWhenAQueueWasNotEmpty) {
  ASSERT_EQ(call().status, 200u);  // empty queue: nothing called
  ASSERT_EQ(take().status, 200u);
  ASSERT_EQ(call().status, 200u);
  const auto samples = scrape(service.admin_port());
  EXPECT_EQ(metric(samples, "waitline_tickets_called_total", {{"queue", "rubis"}}), 1.0);
  EXPECT_EQ(metric(samples, "waitline_tickets_issued_total", {{"queue", "rubis"}}), 1.0);
}

TEST_F(Observability, QueueWaitingEqualsTheListLengthInRedis) {
  for (int i = 0; i < 7; ++i) ASSERT_EQ(take().status, 200u);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(call().status, 200u);
  const std::string llen = redis.cli({"LLEN", "queue_rubis"});
  ASSERT_EQ(llen, "4");
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_queue_waiting", {{"queue", "rubis"}}), std::stod(llen));

  // A change made by someone else (another replica; here redis-cli) shows up by itself.
  ASSERT_EQ(redis.cli({"LPUSH", "queue_rubis", "100", "101"}), "6");
  EXPECT_TRUE(eventually([&] {
    return metric(scrape(service.admin_port()), "waitline_queue_waiting", {{"queue", "rubis"}}) == 6.0;
  })) << "waitline_queue_waiting did not follow a change made by another client";
}

TEST_F(Observability, RedisUpFollowsTheConnection) {
  EXPECT_EQ(metric(scrape(service.admin_port()), "waitline_redis_up"), 1.0);
  redis.stop();
  EXPECT_TRUE(eventually([&] { return metric(scrape(service.admin_port()), "waitline_redis_up") == 0.0; }));
  EXPECT_EQ(admin.get("/readyz").status, 503u);
  redis.start();
  EXPECT_TRUE(eventually([&] { return metric(scrape(service.admin_port()), "waitline_redis_up") == 1.0; }));
  EXPECT_TRUE(readyz_becomes(service.admin_port(), 200));
}

TEST_F(Observability, UnknownPathsAddNoRouteLabelValues) {
  traffic();
  const auto before = scrape(service.admin_port());
  const auto routes_before = label_values(before, "http_requests_total", "route");
  const auto duration_routes_before = label_values(before, "http_request_duration_seconds_count", "route");
  const double unmatched_before =
      metric(before, "http_requests_total", {{"route", "unmatched"}, {"method", "GET"}, {"code", "404"}}).value_or(0);

  std::mt19937 random(std::random_device{}());
  for (int i = 0; i < 50; ++i) {
    std::string path = "/";
    for (int c = 0; c < 12; ++c) path.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[random() % 36]);
    if (i % 5 == 1) path += "/get_ticket";
    if (i % 5 == 2) path = "/get_ticket" + path;
    if (i % 5 == 3) path += "?limit=" + std::to_string(i);
    ASSERT_TRUE(is_error(client.get(path, bearer(key.key)), 404, "not_found")) << path;
  }

  const auto after = scrape(service.admin_port());
  EXPECT_EQ(label_values(after, "http_requests_total", "route"), routes_before);
  EXPECT_EQ(label_values(after, "http_request_duration_seconds_count", "route"), duration_routes_before);
  EXPECT_EQ(metric(after, "http_requests_total", {{"route", "unmatched"}, {"method", "GET"}, {"code", "404"}}),
            unmatched_before + 50);
  // Every route label is a route of the API, never a raw path.
  const std::set<std::string> known{"/get_ticket", "/call_ticket",  "/list_tickets", "/docs",
                                    "/docs/",      "/docs/{asset}", "/openapi.json", "unmatched"};
  for (const std::string& route : label_values(after, "http_requests_total", "route")) {
    EXPECT_TRUE(known.contains(route)) << route;
  }

  // Assets are labelled by their template, whatever their name.
  ASSERT_EQ(client.get("/docs/swagger-ui.css").status, 200u);
  ASSERT_EQ(client.get("/docs/not-an-asset-" + std::to_string(random())).status, 404u);
  const auto assets = scrape(service.admin_port());
  EXPECT_EQ(metric(assets, "http_requests_total", {{"route", "/docs/{asset}"}, {"method", "GET"}, {"code", "200"}}),
            1.0);
  EXPECT_EQ(metric(assets, "http_requests_total", {{"route", "/docs/{asset}"}, {"method", "GET"}, {"code", "404"}}),
            1.0);
}

TEST_F(Observability, AdminAndApiEndpointsLiveOnTheirOwnListeners) {
  for (const std::string path : {"/metrics", "/livez", "/readyz"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(client.get(path), 404, "not_found"));
    EXPECT_TRUE(is_error(client.get(path, bearer(key.key)), 404, "not_found"));
    EXPECT_EQ(admin.get(path).status, 200u);
  }
  for (const std::string path :
       {"/get_ticket", "/call_ticket", "/list_tickets", "/docs", "/openapi.json", "/docs/swagger-ui.css"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(admin.get(path, bearer(key.key)), 404, "not_found"));
    EXPECT_TRUE(is_error(admin.post(path, bearer(key.key)), 404, "not_found"));
  }
  EXPECT_EQ(redis.cli({"EXISTS", "ticket_number_rubis"}), "0");
  EXPECT_EQ(parse_object(admin.get("/livez").body).at("status"), "ok");
  const json::object ready = parse_object(admin.get("/readyz").body);
  EXPECT_EQ(ready.at("status"), "ready");
  EXPECT_EQ(ready.at("redis"), true);
}

TEST_F(Observability, EachRequestLogsOneJsonLine) {
  struct Sent {
    std::string id, method, target, route;
    std::int64_t status;
    bool with_key;
    bool key_logged;  // the request got as far as checking its key
  };
  const std::vector<Sent> sent{
      {"obs-take", "POST", "/get_ticket", "/get_ticket", 200, true, true},
      {"obs-list", "GET", "/list_tickets?limit=3", "/list_tickets", 200, true, true},
      {"obs-call", "POST", "/call_ticket", "/call_ticket", 200, true, true},
      {"obs-bad-limit", "GET", "/list_tickets?limit=-1", "/list_tickets", 400, true, true},
      {"obs-no-key", "POST", "/get_ticket", "/get_ticket", 401, false, false},
      {"obs-unknown", "GET", "/wp-admin/secret.php?x=1", "unmatched", 404, true, false},
      {"obs-method", "PUT", "/list_tickets", "/list_tickets", 405, true, false},
      {"obs-docs", "GET", "/docs", "/docs", 200, false, false},
      {"obs-asset", "GET", "/docs/swagger-ui.css", "/docs/{asset}", 200, false, false},
  };
  for (const Sent& s : sent) {
    std::map<std::string, std::string> headers{{"X-Request-Id", s.id}};
    if (s.with_key) headers["Authorization"] = "Bearer " + key.key;
    ASSERT_EQ(client.request(s.method, s.target, headers).status, static_cast<unsigned>(s.status)) << s.id;
  }
  // Requests without an id get one, and it is the one logged.
  const std::string generated = client.get("/list_tickets", bearer(key.key)).header("X-Request-Id");

  ASSERT_TRUE(eventually([&] { return !access_lines(service.process(), generated).empty(); }))
      << service.process().stdout_text();
  // Every line on stdout is JSON (log_lines throws otherwise), and each request has exactly one.
  const std::vector<json::object> lines = log_lines(service.process());
  for (const Sent& s : sent) {
    SCOPED_TRACE(s.id);
    const auto matching = access_lines(service.process(), s.id);
    ASSERT_EQ(matching.size(), 1u) << service.process().stdout_text();
    const json::object& line = matching.front();
    for (const char* field : {"time", "request_id", "method", "route", "status", "duration_ms", "key"}) {
      EXPECT_TRUE(line.contains(field)) << field;
    }
    const std::string time(line.at("time").as_string());
    EXPECT_EQ(time.size(), 24u) << time;  // 2026-11-26T06:40:45.123Z
    EXPECT_TRUE(time.ends_with("Z") && time[10] == 'T') << time;
    EXPECT_EQ(line.at("method"), s.method.c_str());
    EXPECT_EQ(line.at("route"), s.route.c_str());
    EXPECT_EQ(line.at("status"), s.status);
    EXPECT_TRUE(line.at("duration_ms").is_number());
    EXPECT_GE(line.at("duration_ms").to_number<double>(), 0.0);
    if (s.key_logged) {
      EXPECT_EQ(line.at("key"), "observer");
    } else {
      EXPECT_TRUE(line.at("key").is_null());
    }
    // The query string is not part of the route.
    EXPECT_EQ(std::string_view(line.at("route").as_string()).find('?'), std::string_view::npos);
  }
  EXPECT_EQ(access_lines(service.process(), generated).size(), 1u);
  std::size_t access = 0;
  for (const json::object& line : lines) {
    // The admin listener's requests (readiness polls here) are logged too, and say so.
    if (line.contains("request_id") && !line.contains("listener")) ++access;
    if (line.contains("listener")) {
      EXPECT_EQ(line.at("listener"), "admin");
    }
  }
  EXPECT_EQ(access, sent.size() + 1);  // nothing else was logged as an API request
}

TEST(ObservabilityAccessLog, ARequestRefusedUnreadIsLoggedWithNullsAndItsErrorCode) {
  RedisServer redis;
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}});
  RawConnection connection(service.port());
  ASSERT_EQ(connection.send("HELLO\r\n\r\n"), 0);
  ASSERT_TRUE(connection.read_until_close(std::chrono::seconds(10)).closed());
  std::optional<json::object> refused;
  ASSERT_TRUE(eventually([&] {
    for (json::object& line : log_lines(service.process())) {
      if (line.contains("request_id") && line.contains("error")) refused = std::move(line);
    }
    return refused.has_value();
  })) << service.process().stdout_text();
  const json::object expected{{"time", refused->at("time")}, {"request_id", nullptr}, {"method", nullptr},
                              {"route", "unmatched"},        {"status", 400},         {"error", "bad_request"}};
  EXPECT_EQ(*refused, expected);
}

TEST(ObservabilityAccessLog, CanBeSwitchedOff) {
  RedisServer redis;
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth", "--access-log=false"}});
  HttpClient client(service.port());
  ASSERT_EQ(client.post("/get_ticket", {{"X-Request-Id", "quiet"}}).status, 200u);
  ASSERT_EQ(client.get("/nope").status, 404u);
  // The metrics see the requests; the log never does, even after its flush interval.
  ASSERT_TRUE(eventually([&] {
    return metric(scrape(service.admin_port()), "http_requests_total",
                  {{"route", "/get_ticket"}, {"method", "POST"}, {"code", "200"}}) == 1.0;
  }));
  // SIGTERM flushes whatever the log holds; then nothing may mention the request.
  service.process().signal(SIGTERM);
  EXPECT_EQ(service.process().wait(std::chrono::seconds(30)), 0);
  for (const json::object& line : log_lines(service.process())) {
    EXPECT_FALSE(line.contains("request_id")) << json::serialize(line);
  }
}

}  // namespace
}  // namespace waitline::test
