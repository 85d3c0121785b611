#include "metrics/metrics.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace waitline::metrics {
namespace {

// Buckets exact in binary, so that sums print without rounding noise.
constexpr double kSmallBuckets[] = {0.125, 0.5};

template <class Metric>
std::string rendered(const Family<Metric>& family) {
  std::string out;
  family.render(out);
  return out;
}

std::string rendered_gauge_value(double value) {
  Family<Gauge> family("value_ratio", "A value.", {});
  family.with({}).set(value);
  const std::string out = rendered(family);  // the sample is the last line
  const std::size_t value_at = out.rfind(' ') + 1;
  return out.substr(value_at, out.size() - value_at - 1);
}

// Sample name -> value for the unlabelled samples of an exposition.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> values;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with('#')) continue;
    const std::size_t space = line.find(' ');
    values[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return values;
}

// A registry shaped like the service's own.
void fill_like_the_service(Registry& registry) {
  auto& requests = registry.counter("http_requests_total", "HTTP requests.", {"route", "method", "code"});
  auto& latency = registry.histogram("http_request_duration_seconds", "HTTP request latency in seconds.", {"route"});
  auto& redis_up = registry.gauge("waitline_redis_up", "Whether Redis answers (1) or not (0).", {});
  registry.counter("waitline_tickets_taken_total", "Tickets taken, per queue.", {"queue"});
  requests.with({"/get_ticket", "POST", "200"}).inc();
  requests.with({"/call_ticket", "GET", "405"}).inc(3);
  latency.with({"/get_ticket"}).observe(0.0031);
  latency.with({"/call_ticket"}).observe(12);
  redis_up.with({}).set(1);
}

struct CommandResult {
  int exit_status;
  std::string output;
};

// `promtool check metrics` with `text` on its standard input.
CommandResult promtool_check_metrics(const std::string& text) {
  const std::filesystem::path input = std::filesystem::temp_directory_path() /
                                      ("metrics_test_" + std::to_string(getpid()) + ".prom");
  std::ofstream(input) << text;
  const std::string command = "promtool check metrics < '" + input.string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string output;
  char chunk[4096];
  for (std::size_t got; (got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) {
    output.append(chunk, got);
  }
  const int status = pclose(pipe);
  std::filesystem::remove(input);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(MetricsRegistry, RendersFamiliesInRegistrationOrderAndChildrenInLabelOrder) {
  Registry registry;
  auto& requests = registry.counter("http_requests_total", "HTTP requests.", {"route", "method", "code"});
  auto& redis_up = registry.gauge("waitline_redis_up", "Whether Redis answers.", {});
  auto& latency = registry.histogram("http_request_duration_seconds", "HTTP request latency.", {"route"},
                                     kSmallBuckets);
  requests.with({"/get_ticket", "POST", "200"}).inc(2);
  requests.with({"/call_ticket", "POST", "200"}).inc();
  redis_up.with({}).set(1);
  for (const double seconds : {0.0625, 0.125, 0.25, 3.0}) latency.with({"/get_ticket"}).observe(seconds);

  const std::string expected = R"(# HELP http_requests_total HTTP requests.
# TYPE http_requests_total counter
http_requests_total{route="/call_ticket",method="POST",code="200"} 1
http_requests_total{route="/get_ticket",method="POST",code="200"} 2
# HELP waitline_redis_up Whether Redis answers.
# TYPE waitline_redis_up gauge
waitline_redis_up 1
# HELP http_request_duration_seconds HTTP request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/get_ticket",le="0.125"} 2
http_request_duration_seconds_bucket{route="/get_ticket",le="0.5"} 3
http_request_duration_seconds_bucket{route="/get_ticket",le="+Inf"} 4
http_request_duration_seconds_sum{route="/get_ticket"} 3.4375
http_request_duration_seconds_count{route="/get_ticket"} 4
)";
  const std::string out = registry.render();
  EXPECT_EQ(out.substr(0, expected.size()), expected);
  EXPECT_TRUE(out.substr(expected.size()).starts_with("# HELP process_")) << out;
}

TEST(MetricsHistogram, CountsAValueEqualToABoundInThatBucket) {
  Histogram histogram(kSmallBuckets);
  histogram.observe(0.125);
  EXPECT_EQ(histogram.snapshot().cumulative, (std::vector<std::uint64_t>{1, 1, 1}));
}

TEST(MetricsHistogram, CountsNaNOnlyInTheInfBucket) {
  Histogram histogram(kSmallBuckets);
  histogram.observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(histogram.snapshot().cumulative, (std::vector<std::uint64_t>{0, 0, 1}));
}

TEST(MetricsHistogram, RejectsBoundsThatDoNotStrictlyAscend) {
  constexpr double descending[] = {0.5, 0.125};
  constexpr double repeated[] = {0.5, 0.5};
  constexpr double infinite[] = {0.5, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(Histogram{descending}, std::invalid_argument);
  EXPECT_THROW(Histogram{repeated}, std::invalid_argument);
  EXPECT_THROW(Histogram{infinite}, std::invalid_argument);
}

TEST(MetricsHistogram, RendersLatencyBoundsAsPlainDecimals) {
  Family<Histogram> family("latency_seconds", "Latency.", {}, {latency_buckets().begin(), latency_buckets().end()});
  family.with({});
  const std::string out = rendered(family);
  std::vector<std::string> bounds;
  for (std::size_t at = out.find("le=\""); at != std::string::npos; at = out.find("le=\"", at + 1)) {
    bounds.push_back(out.substr(at + 4, out.find('"', at + 4) - at - 4));
  }
  EXPECT_EQ(bounds, (std::vector<std::string>{"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
                                              "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}));
}

TEST(MetricsGauge, PrintsShortestRoundTripNumbersAndPrometheusSpecialValues) {
  EXPECT_EQ(rendered_gauge_value(0.1), "0.1");
  EXPECT_EQ(rendered_gauge_value(100), "100");
  EXPECT_EQ(rendered_gauge_value(-2.5), "-2.5");
  EXPECT_EQ(rendered_gauge_value(1e-05), "1e-05");
  EXPECT_EQ(rendered_gauge_value(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(rendered_gauge_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(rendered_gauge_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(rendered_gauge_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsCounter, PrintsLargeValuesAsIntegers) {
  Family<Counter> family("events_total", "Events.", {});
  family.with({}).inc(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(rendered(family),
            "# HELP events_total Events.\n# TYPE events_total counter\n"
            "events_total 18446744073709551615\n");
}

TEST(MetricsFamily, EscapesHelpTextAndLabelValues) {
  Family<Counter> family("escapes_total", "Back\\slash, new\nline and \"quotes\".", {"path"});
  family.with({"a\\b\"c\nd"}).inc();
  EXPECT_EQ(rendered(family),
            "# HELP escapes_total Back\\\\slash, new\\nline and \"quotes\".\n"
            "# TYPE escapes_total counter\n"
            "escapes_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsFamily, PrintsHelpAndTypeBeforeAnyChildExists) {
  const Family<Gauge> family("waitline_queue_length", "Waiting tickets.", {"queue"});
  EXPECT_EQ(rendered(family), "# HELP waitline_queue_length Waiting tickets.\n# TYPE waitline_queue_length gauge\n");
}

TEST(MetricsFamily, ReturnsTheSameChildForTheSameLabelValues) {
  Family<Counter> family("http_requests_total", "HTTP requests.", {"route", "code"});
  Counter& first = family.with({"/get_ticket", "200"});
  family.with({"/get_ticket", "500"});
  family.with({"/call_ticket", "200"});
  EXPECT_EQ(&family.with({"/get_ticket", "200"}), &first);
}

TEST(MetricsFamily, ThrowsWhenTheLabelValueCountDiffersFromTheLabelNames) {
  Family<Counter> family("http_requests_total", "HTTP requests.", {"route", "method", "code"});
  EXPECT_THROW(family.with({"/get_ticket", "POST"}), std::invalid_argument);
  EXPECT_THROW(family.with({"/get_ticket", "POST", "200", "extra"}), std::invalid_argument);
  EXPECT_THROW(family.with({}), std::invalid_argument);
}

TEST(MetricsFamily, RejectsNamesOutsidePrometheusRules) {
  EXPECT_THROW(Family<Counter>("http-requests_total", "h", {}), std::invalid_argument);
  EXPECT_THROW(Family<Counter>("1requests_total", "h", {}), std::invalid_argument);
  EXPECT_THROW(Family<Counter>("", "h", {}), std::invalid_argument);
  EXPECT_THROW(Family<Counter>("requests_total", "h", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(Family<Counter>("requests_total", "h", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(Family<Counter>("requests_total", "h", {"0route"}), std::invalid_argument);
  EXPECT_THROW(Family<Counter>("requests_total", "h", {"route", "route"}), std::invalid_argument);
  EXPECT_THROW(Family<Histogram>("latency_seconds", "h", {"le"}), std::invalid_argument);
  EXPECT_NO_THROW(Family<Counter>("ns:requests_total", "h", {"_route", "code2"}));
}

TEST(MetricsRegistry, ThrowsWhenANameIsRegisteredTwice) {
  Registry registry;
  registry.counter("http_requests_total", "HTTP requests.", {"route"});
  EXPECT_THROW(registry.counter("http_requests_total", "Again.", {"route"}), std::invalid_argument);
  EXPECT_THROW(registry.gauge("http_requests_total", "As a gauge.", {}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("http_requests_total", "As a histogram.", {}), std::invalid_argument);
}

TEST(MetricsRegistry, ReservesTheProcessMetricNames) {
  Registry registry;
  EXPECT_THROW(registry.gauge("process_open_fds", "Clash.", {}), std::invalid_argument);
}

TEST(MetricsConcurrency, IncrementsAndObservationsFromFourThreadsSumExactly) {
  Family<Counter> requests("http_requests_total", "HTTP requests.", {"route"});
  Histogram latency(kSmallBuckets);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) {
          requests.with({"/get_ticket"}).inc();
          latency.observe(0.5);
        }
      });
    }
  }
  EXPECT_EQ(requests.with({"/get_ticket"}).value(), std::uint64_t{kThreads * kPerThread});
  const Histogram::Snapshot snapshot = latency.snapshot();
  EXPECT_EQ(snapshot.cumulative.back(), std::uint64_t{kThreads * kPerThread});
  EXPECT_EQ(snapshot.sum, 0.5 * kThreads * kPerThread);
}

TEST(MetricsProcess, ReportsPlausibleValuesForThisProcess) {
  std::string out;
  render_process_metrics(out);
  const std::map<std::string, double> values = samples(out);
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_TRUE(values.contains(name)) << name << " missing from:\n" << out;
  }
  EXPECT_NE(out.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_GE(values.at("process_cpu_seconds_total"), 0);
  EXPECT_GT(values.at("process_resident_memory_bytes"), 0);
  EXPECT_GE(values.at("process_virtual_memory_bytes"), values.at("process_resident_memory_bytes"));
  EXPECT_GT(values.at("process_open_fds"), 0);
  EXPECT_GE(values.at("process_max_fds"), values.at("process_open_fds"));
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // btime is whole seconds, so the start time may read a little later than now.
  EXPECT_GT(values.at("process_start_time_seconds"), now - 3600);
  EXPECT_LT(values.at("process_start_time_seconds"), now + 2);
}

TEST(MetricsExposition, PassesPromtoolCheckMetrics) {
  Registry registry;
  fill_like_the_service(registry);
  const std::string text = registry.render();
  const CommandResult result = promtool_check_metrics(text);
  ASSERT_NE(result.exit_status, 127)
      << "promtool not found: install Debian's `prometheus` package (apt-get install prometheus)";
  EXPECT_EQ(result.exit_status, 0) << result.output << "\n--- checked text ---\n" << text;
  EXPECT_EQ(result.output, "");
}

}  // namespace
}  // namespace waitline::metrics
