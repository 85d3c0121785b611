// API keys against the real binary: a key file made with `waitline hash-key`, 401 and 403, scopes,
// public documentation, reload on SIGHUP without failing requests, keys never in the logs.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "integration/testkit.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace kit;

struct Endpoint {
  std::string method, path, scope;
};
const std::vector<Endpoint> kEndpoints{
    {"POST", "/get_ticket", "take"},  {"GET", "/get_ticket", "take"},  // legacy GET, same scope
    {"POST", "/call_ticket", "call"}, {"GET", "/call_ticket", "call"}, {"GET", "/list_tickets", "read"},
};

class Auth : public KeyedServiceTest {
 protected:
  Auth()
      : KeyedServiceTest({{"desk-all", "take,call,read"}, {"kiosk", "take"}, {"desk", "call"}, {"screen", "read"}}) {}
  const ApiKey& all = keys[0];
  const ApiKey& taker = keys[1];
  const ApiKey& caller = keys[2];
  const ApiKey& reader = keys[3];

  Response send(const Endpoint& endpoint, std::map<std::string, std::string> headers = {}) {
    return client.request(endpoint.method, endpoint.path, std::move(headers));
  }
  std::string tickets_issued() { return redis.cli({"GET", "ticket_number_rubis"}); }
};

TEST_F(Auth, MissingAuthorizationAnswers401WithABearerChallenge) {
  for (const Endpoint& endpoint : kEndpoints) {
    SCOPED_TRACE(endpoint.method + " " + endpoint.path);
    const Response response = send(endpoint);
    EXPECT_TRUE(is_error(response, 401, "unauthorized"));
    EXPECT_EQ(response.header("WWW-Authenticate"), "Bearer realm=\"waitline\"");
    EXPECT_TRUE(is_error(send(endpoint, {{"Authorization", ""}}), 401, "unauthorized"));
  }
  EXPECT_EQ(tickets_issued(), "");  // nothing was taken
}

TEST_F(Auth, UnknownKeyOrSchemeAnswers401) {
  const std::vector<std::string> refused{
      "Bearer wl_not-a-key-we-issued",
      "Bearer " + all.key + "x",
      "Bearer " + all.key.substr(0, all.key.size() - 1),
      "Basic " + all.key,
      "Bearer",
      all.key,  // no scheme
      "Bearer " + all.line,
  };
  for (const Endpoint& endpoint : kEndpoints) {
    for (const std::string& authorization : refused) {
      SCOPED_TRACE(endpoint.method + " " + endpoint.path + " with " + authorization);
      const Response response = send(endpoint, {{"Authorization", authorization}});
      EXPECT_TRUE(is_error(response, 401, "unauthorized"));
      EXPECT_EQ(response.header("WWW-Authenticate"), "Bearer realm=\"waitline\"");
    }
  }
  EXPECT_EQ(tickets_issued(), "");
}

TEST_F(Auth, KeyWithoutTheScopeAnswers403) {
  const Response response = client.post("/get_ticket", bearer(reader.key));
  EXPECT_TRUE(is_error(response, 403, "forbidden"));
  EXPECT_EQ(response.header("WWW-Authenticate"), "");
  EXPECT_TRUE(is_error(client.post("/call_ticket", bearer(taker.key)), 403, "forbidden"));
  EXPECT_TRUE(is_error(client.get("/list_tickets", bearer(caller.key)), 403, "forbidden"));
  EXPECT_EQ(tickets_issued(), "");
}

TEST_F(Auth, EachScopeAllowsOnlyItsEndpoints) {
  for (const ApiKey* key : {&taker, &caller, &reader}) {
    const std::string scope = key == &taker ? "take" : key == &caller ? "call" : "read";
    for (const Endpoint& endpoint : kEndpoints) {
      SCOPED_TRACE(key->name + " (" + scope + ") on " + endpoint.method + " " + endpoint.path);
      const Response response = send(endpoint, bearer(key->key));
      if (endpoint.scope == scope) {
        EXPECT_EQ(response.status, 200u) << response.body;
      } else {
        EXPECT_TRUE(is_error(response, 403, "forbidden"));
      }
    }
  }
  // The key with every scope may do everything.
  for (const Endpoint& endpoint : kEndpoints) {
    SCOPED_TRACE(endpoint.method + " " + endpoint.path);
    EXPECT_EQ(send(endpoint, bearer(all.key)).status, 200u);
  }
  EXPECT_EQ(tickets_issued(), "4");  // two takes by the taker, two by the full key
}

TEST_F(Auth, TheSchemeIsCaseInsensitive) {
  for (const std::string scheme : {"bearer", "BEARER", "Bearer", "bEaReR"}) {
    SCOPED_TRACE(scheme);
    EXPECT_EQ(client.get("/list_tickets", {{"Authorization", scheme + " " + reader.key}}).status, 200u);
  }
  EXPECT_EQ(client.post("/get_ticket", {{"Authorization", "bearer " + taker.key}}).status, 200u);
}

TEST_F(Auth, DocumentationNeedsNoKey) {
  for (const std::string path : {"/docs", "/openapi.json", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(client.get(path).status, 200u);
    // A key, even a wrong one, changes nothing for a public page.
    EXPECT_EQ(client.get(path, {{"Authorization", "Bearer nonsense"}}).status, 200u);
  }
  EXPECT_EQ(client.get("/docs/").status, 301u);
}

TEST_F(Auth, SighupReloadAddsAKeyWithoutFailingRequestsInFlight) {
  const ApiKey added = make_key("late-kiosk", "take");
  ASSERT_TRUE(is_error(client.post("/get_ticket", bearer(added.key)), 401, "unauthorized"));

  // Two clients keep sending with the old key: one on a kept-alive connection, one opening a new
  // connection per request. Every answer must be a 200, before, during and after the reload.
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::vector<std::string> failures[2];
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      HttpClient kept(service.port());
      while (!stop) {
        try {
          const Response response = c == 0 ? kept.get("/list_tickets?limit=5", bearer(all.key))
                                           : HttpClient(service.port()).post("/get_ticket", bearer(taker.key));
          if (response.status != 200) {
            failures[c].push_back(std::to_string(response.status) + " " + response.body);
          }
        } catch (const std::exception& e) {
          failures[c].push_back(e.what());
        }
        ++answered;
      }
    });
  }
  const auto stop_clients = [&] {
    stop = true;
    for (auto& thread : clients) thread.join();
  };

  const bool warmed_up = eventually([&] { return answered >= 50; });
  dir.write("keys", key_file({all, taker, caller, reader, added}));
  service.process().signal(SIGHUP);
  const bool works = eventually([&] { return client.post("/get_ticket", bearer(added.key)).status == 200; });
  const int after_reload = answered;
  const bool kept_going = eventually([&] { return answered >= after_reload + 100; });
  stop_clients();

  ASSERT_TRUE(warmed_up);
  EXPECT_TRUE(works) << "the added key was not accepted after SIGHUP";
  EXPECT_TRUE(kept_going);
  EXPECT_TRUE(failures[0].empty()) << failures[0].size() << " failed, first: " << failures[0].front();
  EXPECT_TRUE(failures[1].empty()) << failures[1].size() << " failed, first: " << failures[1].front();

  // The old keys still work, and the reload was counted.
  EXPECT_EQ(client.get("/list_tickets", bearer(reader.key)).status, 200u);
  const auto metrics = scrape(service.admin_port());
  EXPECT_EQ(metric(metrics, "waitline_api_keys_reloads_total", {{"result", "success"}}), 1.0);
  EXPECT_EQ(metric(metrics, "waitline_api_keys_reloads_total", {{"result", "failure"}}), 0.0);
  EXPECT_EQ(metric(metrics, "waitline_api_keys"), 5.0);
}

TEST_F(Auth, SighupWithABrokenFileKeepsTheOldKeys) {
  const ApiKey added = make_key("newcomer", "read");
  // A valid line for a new key, then a broken one: nothing of this file may take effect.
  dir.write("keys", key_file({added}) + "broken-line-without-hash read\n");
  service.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return metric(scrape(service.admin_port()), "waitline_api_keys_reloads_total", {{"result", "failure"}}) == 1.0;
  })) << "the failed reload was not counted";

  EXPECT_EQ(client.get("/list_tickets", bearer(reader.key)).status, 200u);
  EXPECT_EQ(client.post("/get_ticket", bearer(all.key)).status, 200u);
  EXPECT_TRUE(is_error(client.get("/list_tickets", bearer(added.key)), 401, "unauthorized"));
  const auto metrics = scrape(service.admin_port());
  EXPECT_EQ(metric(metrics, "waitline_api_keys_reloads_total", {{"result", "success"}}), 0.0);
  EXPECT_EQ(metric(metrics, "waitline_api_keys"), 4.0);
  EXPECT_TRUE(eventually([&] {
    return service.process().stdout_text().find("API keys not reloaded") != std::string::npos;
  })) << service.process().stdout_text();

  // A missing file is no better.
  std::filesystem::remove(keys_path);
  service.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return metric(scrape(service.admin_port()), "waitline_api_keys_reloads_total", {{"result", "failure"}}) == 2.0;
  }));
  EXPECT_EQ(client.get("/list_tickets", bearer(reader.key)).status, 200u);

  // Once repaired, the next SIGHUP applies the file: old keys gone, the new one in.
  dir.write("keys", key_file({added}));
  service.process().signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return metric(scrape(service.admin_port()), "waitline_api_keys_reloads_total", {{"result", "success"}}) == 1.0;
  }));
  EXPECT_EQ(client.get("/list_tickets", bearer(added.key)).status, 200u);
  EXPECT_TRUE(is_error(client.get("/list_tickets", bearer(reader.key)), 401, "unauthorized"));
  EXPECT_TRUE(service.process().running());
}

TEST_F(Auth, AccessLogNamesTheKeyAndNeverContainsIt) {
  const std::string stranger = "wl_a-key-nobody-issued-0123456789abcdef";
  client.post("/get_ticket", {{"Authorization", "Bearer " + taker.key}, {"X-Request-Id", "log-take"}});
  client.post("/get_ticket", {{"Authorization", "Bearer " + reader.key}, {"X-Request-Id", "log-forbidden"}});
  client.get("/list_tickets", {{"Authorization", "Bearer " + stranger}, {"X-Request-Id", "log-unknown"}});
  client.get("/list_tickets", {{"X-Request-Id", "log-missing"}});
  client.post("/call_ticket", {{"Authorization", "bearer " + all.key}, {"X-Request-Id", "log-call"}});

  // Lines are written in order: once the last request's line is out, all of them are.
  const auto call_line = await_access_line(service.process(), "log-call");
  ASSERT_TRUE(call_line) << service.process().stdout_text();
  const auto one = [&](std::string_view id) -> std::optional<json::object> {
    auto lines = access_lines(service.process(), id);
    if (lines.size() != 1) return std::nullopt;
    return lines.front();
  };
  const auto take_line = one("log-take");
  const auto forbidden_line = one("log-forbidden");
  const auto unknown_line = one("log-unknown");
  const auto missing_line = one("log-missing");
  ASSERT_TRUE(take_line && forbidden_line && unknown_line && missing_line) << service.process().stdout_text();

  EXPECT_EQ(take_line->at("key"), "kiosk");
  EXPECT_EQ(take_line->at("status"), 200);
  EXPECT_EQ(forbidden_line->at("key"), "screen");
  EXPECT_EQ(forbidden_line->at("status"), 403);
  EXPECT_TRUE(unknown_line->at("key").is_null());
  EXPECT_EQ(unknown_line->at("status"), 401);
  EXPECT_TRUE(missing_line->at("key").is_null());
  EXPECT_EQ(call_line->at("key"), "desk-all");

  const std::string output = service.process().stdout_text() + service.process().stderr_text();
  for (const std::string& secret : {all.key, taker.key, caller.key, reader.key, stranger}) {
    EXPECT_EQ(output.find(secret), std::string::npos) << "a key appears in the logs";
  }
  // Nor any recognisable part of one (the keys are random after their "wl_" prefix).
  for (const ApiKey* key : {&all, &taker, &reader}) {
    EXPECT_EQ(output.find(key->key.substr(3, 12)), std::string::npos);
  }
}

TEST(AuthOff, InsecureNoAuthServesWithoutKeysAndWarns) {
  RedisServer redis;
  Service service({.redis_port = redis.port(), .extra_args = {"--insecure-no-auth"}});
  HttpClient client(service.port());
  EXPECT_EQ(client.post("/get_ticket").status, 200u);
  EXPECT_EQ(client.post("/call_ticket").status, 200u);
  EXPECT_EQ(client.get("/list_tickets").status, 200u);
  EXPECT_EQ(client.get("/list_tickets", {{"Authorization", "Bearer anything"}}).status, 200u);

  bool warned = false;
  for (const json::object& line : log_lines(service.process())) {
    const auto* message = line.if_contains("msg");
    if (message && message->is_string() &&
        std::string_view(message->as_string()).find("authentication is OFF") != std::string_view::npos) {
      warned = true;
      EXPECT_EQ(line.at("level"), "warn");
    }
  }
  EXPECT_TRUE(warned) << service.process().stdout_text();
}

TEST(AuthRequired, NeitherAKeyFileNorTheInsecureFlagExitsWithStatus2) {
  RedisServer redis;
  Process process({waitline_binary(), "--redis-port", std::to_string(redis.port()), "--listen", address(free_port()),
                   "--admin-listen", address(free_port())});
  EXPECT_EQ(process.wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(process.stderr_text().find("--insecure-no-auth"), std::string::npos) << process.stderr_text();
  EXPECT_NE(process.stderr_text().find("--api-keys-file"), std::string::npos);

  // An explicit `false` is no key either.
  Process disabled({waitline_binary(), "--redis-port", std::to_string(redis.port()), "--insecure-no-auth=false",
                    "--listen", address(free_port()), "--admin-listen", address(free_port())});
  EXPECT_EQ(disabled.wait(std::chrono::seconds(20)), 2);
}

class AuthKeyFile : public KeyedServiceTest {
 protected:
  AuthKeyFile() : KeyedServiceTest({}) {}
};

TEST_F(AuthKeyFile, AnEmptyKeyFileRefusesEveryCallAndSaysSo) {
  EXPECT_TRUE(is_error(client.post("/get_ticket"), 401, "unauthorized"));
  EXPECT_TRUE(is_error(client.post("/get_ticket", bearer("wl_x")), 401, "unauthorized"));
  EXPECT_EQ(client.get("/docs").status, 200u);
  EXPECT_NE(service.process().stdout_text().find("holds no key"), std::string::npos);
}

}  // namespace
}  // namespace waitline::test
