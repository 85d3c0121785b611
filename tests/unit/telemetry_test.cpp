#include "app/telemetry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

using waitline::app::Telemetry;

// The value of the sample line that starts with `series` ("name{labels}"), -1 when absent.
double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(Telemetry, RequestsCountPerRouteMethodAndCodeFromManyThreads) {
  Telemetry telemetry("rubis");
  constexpr int per_thread = 2000;
  // Hundreds of label combinations, each first seen on any of the threads.
  constexpr unsigned codes = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&telemetry] {
      for (int i = 0; i < per_thread; ++i) {
        telemetry.request(waitline::app::Listener::api, "/get_ticket", "POST", 200, std::chrono::milliseconds(1));
        telemetry.request(waitline::app::Listener::api, i % 2 ? "/list_tickets" : "unmatched", "GET",
                          400 + static_cast<unsigned>(i) % codes, {});
      }
    });
  }
  for (auto& thread : threads) thread.join();

  const std::string text = telemetry.render();
  EXPECT_EQ(sample(text, R"(http_requests_total{route="/get_ticket",method="POST",code="200"})"), 4 * per_thread);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_count{route="/get_ticket"})"), 4 * per_thread);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{route="/get_ticket",le="0.001"})"), 4 * per_thread);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{route="/get_ticket",le="0.0005"})"), 0);
  // i = 1, 301, 601, ... (odd, code 401): per_thread / codes / 2 rounded as the loop runs.
  int expected_401 = 0;
  for (int i = 0; i < per_thread; ++i) expected_401 += (i % 2 == 1 && i % codes == 1) ? 1 : 0;
  EXPECT_EQ(sample(text, R"(http_requests_total{route="/list_tickets",method="GET",code="401"})"), 4 * expected_401);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_count{route="/list_tickets"})"), 4 * per_thread / 2);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_count{route="unmatched"})"), 4 * per_thread / 2);
  // Every combination is one series, however many times and on however many threads it was seen.
  std::size_t series = 0;
  for (auto at = text.find("\nhttp_requests_total{"); at != std::string::npos;
       at = text.find("\nhttp_requests_total{", at + 1))
    ++series;
  EXPECT_EQ(series, 1u + codes);
}

}  // namespace
