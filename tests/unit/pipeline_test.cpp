// The request pipeline on its own: requests handed to Pipeline::handle() on an io_context, no
// socket. Routing (404, 405 with Allow, HEAD, templates, prefixes), the key and session verdicts
// (401, 403, cross-site), Idempotency-Key, admission (429), the common headers, the error shape
// and the counts.
#include "app/pipeline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>

#include "app/limiter.hpp"
#include "app/telemetry.hpp"
#include "auth/auth.hpp"
#include "auth/tokens.hpp"
#include "unit/handle.hpp"

namespace waitline::app {
namespace {

using namespace std::chrono_literals;
using boost::beast::http::field;
using unit::is_error;
using unit::request;
using unit::verb;
namespace asio = boost::asio;

// What a handler saw, answered as text: key name, credential, idempotency key, parameters.
asio::awaitable<http::Reply> echo(const Exchange& exchange) {
  static constexpr const char* credentials[] = {"none", "bearer", "session"};
  std::string body = "key=" + std::string(exchange.key_name) +
                     " credential=" + credentials[static_cast<int>(exchange.credential)] +
                     " idempotency=" + std::string(exchange.idempotency_key) + " query=" + std::string(exchange.query);
  for (const auto param : exchange.params) body += " param=" + std::string(param);
  http::Response response{http::Status::ok, 11};
  response.body() = body;
  co_return response;
}

std::vector<Route> routes() {
  return {
      {verb::post, "/take", auth::take, echo, {.idempotent = true}},
      {verb::get, "/take", auth::take, echo, {.idempotent = true, .deprecated_on_get = true}},
      {verb::get, "/items/{n}", auth::read, echo},
      {verb::get, "/public", std::nullopt, echo},
      {verb::delete_, "/public", std::nullopt, echo},
      {verb::get, "/files/", std::nullopt, echo, {.prefix = true, .label = "/files/{file}"}},
      {verb::post, "/plain", auth::take, echo},  // reads no Idempotency-Key
  };
}

struct PipelineTest : ::testing::Test {
  const std::string take_key = auth::generate_key();
  const std::string read_key = auth::generate_key();
  unit::KeyFile keys_file{auth::key_line("kiosk", auth::take, take_key) + "\n" +
                          auth::key_line("screen", auth::read, read_key) + "\n"};
  auth::KeyStore keys{keys_file.path()};
  auth::SecretStore secrets{auth::Signer::random()};
  Telemetry telemetry{"q"};
  asio::io_context io;
  Pipeline pipeline{routes(),
                    telemetry,
                    {.listener = Listener::api, .keys = &keys, .secrets = &secrets, .access_log = false}};

  http::Response send(verb method, std::string_view target, const std::map<std::string, std::string>& headers = {}) {
    return unit::handle(io, pipeline, request(method, target, headers)).response;
  }
  static std::map<std::string, std::string> bearer(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
  }
  // A session cookie for `key_name` (as POST /session makes it), valid for `ttl` from now.
  std::string session(std::string_view key_name, const std::string& key, std::chrono::seconds ttl = 1h) {
    const auth::Key* entry = keys.current()->by_name(key_name);
    EXPECT_NE(entry, nullptr);
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    EXPECT_EQ(keys.current()->find(key), entry);
    return std::string(session_cookie) + "=" +
           secrets.current()->session_token({entry->name, entry->scopes, now + ttl, auth::key_tag(entry->hash)});
  }
};

// --- Routing ---------------------------------------------------------------------------------------

TEST_F(PipelineTest, AnUnknownPathIs404WithTheErrorShape) {
  const auto response = send(verb::get, "/nowhere");
  EXPECT_TRUE(is_error(response, http::Status::not_found, "not_found"));
  EXPECT_EQ(response[field::allow], "");
}

TEST_F(PipelineTest, AWrongMethodIs405ListingTheAllowedOnesAndHeadWhereGetChangesNothing) {
  const auto public_path = send(verb::post, "/public");
  EXPECT_TRUE(is_error(public_path, http::Status::method_not_allowed, "method_not_allowed"));
  EXPECT_EQ(public_path[field::allow], "GET, DELETE, HEAD");
  // The deprecated state-changing GET is allowed, but HEAD is not offered there.
  const auto take = send(verb::put, "/take", bearer(take_key));
  EXPECT_TRUE(is_error(take, http::Status::method_not_allowed, "method_not_allowed"));
  EXPECT_EQ(take[field::allow], "POST, GET");
}

TEST_F(PipelineTest, HeadIsServedAsGetExceptOnTheStateChangingGets) {
  EXPECT_EQ(send(verb::head, "/public").result(), http::Status::ok);
  EXPECT_TRUE(
      is_error(send(verb::head, "/take", bearer(take_key)), http::Status::method_not_allowed, "method_not_allowed"));
}

TEST_F(PipelineTest, ATemplateGivesItsSegmentAndAPrefixMatchesOnlyBelowItself) {
  EXPECT_EQ(send(verb::get, "/items/42?x=1", bearer(read_key)).body(),
            "key=screen credential=bearer idempotency= query=x=1 param=42");
  EXPECT_TRUE(is_error(send(verb::get, "/items/", bearer(read_key)), http::Status::not_found, "not_found"));
  EXPECT_TRUE(is_error(send(verb::get, "/items/42/more", bearer(read_key)), http::Status::not_found, "not_found"));
  EXPECT_EQ(send(verb::get, "/files/a.css").result(), http::Status::ok);
  EXPECT_TRUE(is_error(send(verb::get, "/files/"), http::Status::not_found, "not_found"));
}

TEST_F(PipelineTest, TheStateChangingGetIsMarkedDeprecatedAndPostIsNot) {
  EXPECT_EQ(send(verb::get, "/take", bearer(take_key))["Deprecation"], "true");
  EXPECT_EQ(send(verb::post, "/take", bearer(take_key))["Deprecation"], "");
}

// --- Keys and sessions -------------------------------------------------------------------------------

TEST_F(PipelineTest, NoKeyIs401WithABearerChallenge) {
  const auto response = send(verb::post, "/take");
  EXPECT_TRUE(is_error(response, http::Status::unauthorized, "unauthorized"));
  EXPECT_EQ(response[field::www_authenticate], "Bearer realm=\"waitline\"");
}

TEST_F(PipelineTest, AnUnknownKeyOrSchemeIs401) {
  EXPECT_TRUE(is_error(send(verb::post, "/take", bearer("wl_not-a-key")), http::Status::unauthorized, "unauthorized"));
  EXPECT_TRUE(is_error(send(verb::post, "/take", {{"Authorization", "Basic " + take_key}}), http::Status::unauthorized,
                       "unauthorized"));
}

TEST_F(PipelineTest, AKeyWithoutTheScopeIs403AndTheHandlerNeverRuns) {
  const auto response = send(verb::post, "/take", bearer(read_key));
  EXPECT_TRUE(is_error(response, http::Status::forbidden, "forbidden"));
  EXPECT_NE(response.body().find("take"), std::string::npos) << "the message names the missing scope";
}

TEST_F(PipelineTest, AKeyWithTheScopeReachesTheHandlerWithItsName) {
  EXPECT_EQ(send(verb::post, "/take", bearer(take_key)).body(), "key=kiosk credential=bearer idempotency= query=");
}

TEST_F(PipelineTest, APublicRouteNeedsNoKeyAndIgnoresABadOne) {
  EXPECT_EQ(send(verb::get, "/public").body(), "key= credential=none idempotency= query=");
  EXPECT_EQ(send(verb::get, "/public", bearer("wl_not-a-key")).result(), http::Status::ok);
}

TEST_F(PipelineTest, ASessionCookieStandsForItsKey) {
  const auto response = send(verb::get, "/items/7", {{"Cookie", "other=1; " + session("screen", read_key)}});
  EXPECT_EQ(response.body(), "key=screen credential=session idempotency= query= param=7");
  // Its scopes are the key's: a read key's session cannot take.
  EXPECT_TRUE(
      is_error(send(verb::post, "/take", {{"Cookie", session("screen", read_key)}, {"Sec-Fetch-Site", "same-origin"}}),
               http::Status::forbidden, "forbidden"));
}

TEST_F(PipelineTest, AnExpiredOrForgedSessionIs401SayingSo) {
  const auto expired = send(verb::get, "/items/7", {{"Cookie", session("screen", read_key, -1s)}});
  EXPECT_TRUE(is_error(expired, http::Status::unauthorized, "unauthorized"));
  EXPECT_NE(expired.body().find("POST /session"), std::string::npos) << expired.body();
  EXPECT_TRUE(is_error(send(verb::get, "/items/7", {{"Cookie", std::string(session_cookie) + "=forged"}}),
                       http::Status::unauthorized, "unauthorized"));
}

TEST_F(PipelineTest, AChangeMadeWithASessionMustComeFromThisSite) {
  const std::string cookie = session("kiosk", take_key);
  EXPECT_TRUE(is_error(send(verb::post, "/take", {{"Cookie", cookie}}), http::Status::forbidden, "cross_site"));
  EXPECT_TRUE(is_error(send(verb::post, "/take", {{"Cookie", cookie}, {"Sec-Fetch-Site", "cross-site"}}),
                       http::Status::forbidden, "cross_site"));
  EXPECT_EQ(send(verb::post, "/take", {{"Cookie", cookie}, {"Sec-Fetch-Site", "same-origin"}}).result(),
            http::Status::ok);
  // A browser too old for Sec-Fetch-Site: its Origin names the host the request went to.
  EXPECT_EQ(send(verb::post, "/take", {{"Cookie", cookie}, {"Origin", "https://waitline.test"}}).result(),
            http::Status::ok);
  EXPECT_TRUE(is_error(send(verb::post, "/take", {{"Cookie", cookie}, {"Origin", "https://evil.test"}}),
                       http::Status::forbidden, "cross_site"));
  // A bearer key is no ambient credential: no origin needed.
  EXPECT_EQ(send(verb::post, "/take", bearer(take_key)).result(), http::Status::ok);
}

TEST_F(PipelineTest, WithoutAKeyStoreEveryRouteIsOpen) {
  Pipeline open{routes(), telemetry, {.listener = Listener::api, .access_log = false}};
  const auto response = unit::handle(io, open, request(verb::post, "/take"));
  EXPECT_EQ(response.response.body(), "key= credential=none idempotency= query=");
}

// --- Idempotency-Key ----------------------------------------------------------------------------------

TEST_F(PipelineTest, AnIdempotencyKeyReachesTheHandlerQuotedOrBare) {
  auto headers = bearer(take_key);
  headers["Idempotency-Key"] = "\"kiosk-7-0042\"";
  EXPECT_EQ(send(verb::post, "/take", headers).body(), "key=kiosk credential=bearer idempotency=kiosk-7-0042 query=");
  headers["Idempotency-Key"] = "a.b_c:d-e";
  EXPECT_EQ(send(verb::post, "/take", headers).body(), "key=kiosk credential=bearer idempotency=a.b_c:d-e query=");
}

TEST_F(PipelineTest, AMalformedIdempotencyKeyIs400OnlyWhereItIsRead) {
  auto headers = bearer(take_key);
  for (const std::string& bad :
       std::vector<std::string>{"", "with space", "\"\"", std::string(129, 'k'), "caf\xc3\xa9"}) {
    headers["Idempotency-Key"] = bad;
    EXPECT_TRUE(is_error(send(verb::post, "/take", headers), http::Status::bad_request, "invalid_idempotency_key"))
        << bad;
    EXPECT_EQ(send(verb::post, "/plain", headers).result(), http::Status::ok) << bad;
  }
  headers["Idempotency-Key"] = std::string(128, 'k');
  EXPECT_EQ(send(verb::post, "/take", headers).result(), http::Status::ok);
}

// --- Admission ----------------------------------------------------------------------------------------

TEST_F(PipelineTest, BeyondItsRateAClientIs429WithRetryAfterAndNothingRuns) {
  ratelimit::Clock::time_point now{};
  RateLimiter limiter({.key = {}, .client = {.per_second = 1, .burst = 2}, .trusted_proxies = ""}, telemetry,
                      [&] { return now; });
  Pipeline limited{routes(),
                   telemetry,
                   {.listener = Listener::api, .keys = &keys, .access_log = false, .admission = &limiter}};
  const auto first = unit::handle(io, limited, request(verb::get, "/public")).response;
  EXPECT_EQ(first.result(), http::Status::ok);
  EXPECT_EQ(first["RateLimit"], R"("client";r=1;t=1)");
  EXPECT_EQ(unit::handle(io, limited, request(verb::get, "/public")).response.result(), http::Status::ok);
  const auto refused = unit::handle(io, limited, request(verb::get, "/public")).response;
  EXPECT_TRUE(is_error(refused, http::Status::too_many_requests, "rate_limited"));
  EXPECT_EQ(refused[field::retry_after], "1");
  // Another client address has its own bucket; a second later this one has a token again.
  EXPECT_EQ(unit::handle(io, limited, request(verb::get, "/public"), "192.0.2.11").response.result(), http::Status::ok);
  now += 1s;
  EXPECT_EQ(unit::handle(io, limited, request(verb::get, "/public")).response.result(), http::Status::ok);
  // A request refused by its key never spends the rate: authentication comes first.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(unit::handle(io, limited, request(verb::post, "/take"), "192.0.2.12").response.result(),
              http::Status::unauthorized);
  }
  EXPECT_NE(telemetry.render().find(R"(waitline_requests_refused_total{reason="rate_limit_client"} 1)"),
            std::string::npos);
}

// --- Common headers, the error shape, counts ------------------------------------------------------

TEST_F(PipelineTest, EveryAnswerCarriesARequestIdKeptFromAPlausibleOne) {
  EXPECT_EQ(send(verb::get, "/public", {{"X-Request-Id", "edge-1234"}})["X-Request-Id"], "edge-1234");
  const std::string made = send(verb::get, "/public", {{"X-Request-Id", "bad id\x01"}})["X-Request-Id"];
  EXPECT_EQ(made.size(), 16u);
  EXPECT_EQ(made.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(send(verb::get, "/nowhere")["X-Request-Id"].size(), 16u) << "errors too";
}

TEST_F(PipelineTest, ApiAnswersAreNotSniffedNorStoredAdminAnswersAreLeftAlone) {
  const auto api = send(verb::get, "/public");
  EXPECT_EQ(api["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(api[field::cache_control], "no-store");
  Pipeline admin{routes(), telemetry, {.listener = Listener::admin, .access_log = false}};
  const auto response = unit::handle(io, admin, request(verb::get, "/public")).response;
  EXPECT_EQ(response["X-Content-Type-Options"], "");
  EXPECT_EQ(response[field::cache_control], "");
}

TEST_F(PipelineTest, AnErrorAnswerHasOneShapeAndTheHeadersItsStatusNeeds) {
  const auto unavailable = error_response(http::Status::service_unavailable, "redis_unavailable", "retry");
  EXPECT_TRUE(is_error(unavailable, http::Status::service_unavailable, "redis_unavailable"));
  EXPECT_EQ(unavailable[field::retry_after], "1");
  const auto quoted = error_response(http::Status::bad_request, "x", "a \"quoted\" \\ line\n");
  EXPECT_TRUE(is_error(quoted, http::Status::bad_request, "x"));
  EXPECT_EQ(error_response(http::Status::gateway_timeout, "outcome_unknown", "m")[field::retry_after], "")
      << "504: it may have happened, no blind retry";
}

TEST_F(PipelineTest, ARequestTheServerCouldNotReadIsAnsweredWithTheErrorShapeAndCounted) {
  const auto response = pipeline.reject(http::Status::request_timeout, "request_timeout", "too slow");
  EXPECT_TRUE(is_error(response, http::Status::request_timeout, "request_timeout"));
  const std::string metrics = telemetry.render();
  EXPECT_NE(metrics.find(R"(http_requests_total{route="unmatched",method="other",code="408"} 1)"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(waitline_requests_refused_total{reason="header_timeout"} 1)"), std::string::npos);
}

TEST_F(PipelineTest, RequestsAreCountedByRouteLabelNotByPath) {
  for (const char* path : {"/items/1", "/items/2", "/items/3"}) send(verb::get, path, bearer(read_key));
  send(verb::get, "/files/x.js");
  send(verb::get, "/no/such/path");
  const std::string metrics = telemetry.render();
  EXPECT_NE(metrics.find(R"(http_requests_total{route="/items/{n}",method="GET",code="200"} 3)"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(http_requests_total{route="/files/{file}",method="GET",code="200"} 1)"), std::string::npos);
  EXPECT_NE(metrics.find(R"(http_requests_total{route="unmatched",method="GET",code="404"} 1)"), std::string::npos);
  EXPECT_EQ(metrics.find("/items/1"), std::string::npos);
}

}  // namespace
}  // namespace waitline::app
