// Helpers shared by the integration tests of the service's behaviour: JSON bodies, API keys made
// with `waitline hash-key`, temporary files, bounded polling, Prometheus text and access logs.
// Header-only, so that each test executable stays one file plus the support library.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "support/support.hpp"
#include "support/temp_dir.hpp"

namespace waitline::test::kit {

namespace json = boost::json;
using namespace std::chrono_literals;

// Sanitizer builds are several times slower: waits are generous, and every one is bounded.
inline constexpr auto kPatience = std::chrono::seconds(30);

using test::TempDir;  // support/temp_dir.hpp

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
template <class Condition>
bool eventually(Condition&& condition, std::chrono::milliseconds timeout = kPatience,
                std::chrono::milliseconds interval = 20ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// --- JSON ----------------------------------------------------------------------------------------

inline json::value parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec) throw std::runtime_error("not JSON (" + ec.message() + "): " + std::string(text));
  return value;
}

inline json::object parse_object(std::string_view text) {
  json::value value = parse_json(text);
  if (!value.is_object()) throw std::runtime_error("not a JSON object: " + std::string(text));
  return std::move(value.as_object());
}

// The body of every error answer: {"error":{"code":"<code>","message":"<non-empty>"}} as JSON.
inline ::testing::AssertionResult is_error(const Response& response, unsigned status, std::string_view code) {
  const std::string what = " (status " + std::to_string(response.status) + ", body " + response.body + ")";
  if (response.status != status) {
    return ::testing::AssertionFailure() << "expected status " << status << what;
  }
  if (!response.header("Content-Type").starts_with("application/json")) {
    return ::testing::AssertionFailure() << "Content-Type is \"" << response.header("Content-Type") << "\"" << what;
  }
  json::object body;
  try {
    body = parse_object(response.body);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
  const auto* error = body.if_contains("error");
  if (body.size() != 1 || error == nullptr || !error->is_object()) {
    return ::testing::AssertionFailure() << "no single \"error\" object" << what;
  }
  const auto& inner = error->as_object();
  const auto* got_code = inner.if_contains("code");
  const auto* message = inner.if_contains("message");
  if (inner.size() != 2 || got_code == nullptr || message == nullptr || !got_code->is_string() ||
      !message->is_string()) {
    return ::testing::AssertionFailure() << "error is not {code, message} strings" << what;
  }
  if (got_code->as_string() != code) {
    return ::testing::AssertionFailure() << "expected code " << code << what;
  }
  if (message->as_string().empty()) return ::testing::AssertionFailure() << "empty message" << what;
  return ::testing::AssertionSuccess();
}

// --- API keys --------------------------------------------------------------------------------------

struct ApiKey {
  std::string name;
  std::string key;   // what the client sends
  std::string line;  // what the key file holds
};

// Runs `waitline hash-key` and reads its output: the lines not starting with '#' are the key,
// then the key file line.
inline ApiKey make_key(const std::string& name, const std::string& scopes) {
  const RunResult result = run({waitline_binary(), "hash-key", "--name", name, "--scopes", scopes});
  if (result.status != 0) {
    throw std::runtime_error("waitline hash-key exited " + std::to_string(result.status) + ": " + result.output);
  }
  std::vector<std::string> lines;
  std::istringstream in(result.output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && !line.starts_with('#')) lines.push_back(line);
  }
  if (lines.size() != 2) throw std::runtime_error("unexpected hash-key output: " + result.output);
  return {name, lines[0], lines[1]};
}

inline std::string key_file(const std::vector<ApiKey>& keys) {
  std::string text = "# written by an integration test\n";
  for (const ApiKey& key : keys) text += key.line + "\n";
  return text;
}

inline std::map<std::string, std::string> bearer(const std::string& key) {
  return {{"Authorization", "Bearer " + key}};
}

// --- Prometheus text format --------------------------------------------------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

inline std::vector<Sample> parse_metrics(const std::string& text) {
  std::vector<Sample> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.starts_with('#')) continue;
    Sample sample;
    std::size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) throw std::runtime_error("bad metrics line: " + line);
    sample.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          throw std::runtime_error("bad labels: " + line);
        }
        std::string name = line.substr(i, eq - i);
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            value.push_back(line[j]);
          }
        }
        if (j >= line.size()) throw std::runtime_error("unterminated label: " + line);
        sample.labels.emplace(std::move(name), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      i = line.find(' ', i);
      if (i == std::string::npos) throw std::runtime_error("no value: " + line);
    }
    const std::string value = line.substr(i + 1);
    sample.value = value == "+Inf" ? HUGE_VAL : value == "-Inf" ? -HUGE_VAL : std::stod(value);
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The value of the one sample named `name` whose labels include `labels`; nullopt when none.
inline std::optional<double> metric(const std::vector<Sample>& samples, std::string_view name,
                                    const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> found;
  for (const Sample& sample : samples) {
    if (sample.name != name) continue;
    bool match = true;
    for (const auto& [label, value] : labels) {
      const auto it = sample.labels.find(label);
      match = match && it != sample.labels.end() && it->second == value;
    }
    if (!match) continue;
    if (found) throw std::runtime_error("several samples match " + std::string(name));
    found = sample.value;
  }
  return found;
}

// The values a label takes across the samples of one metric.
inline std::set<std::string> label_values(const std::vector<Sample>& samples, std::string_view name,
                                          const std::string& label) {
  std::set<std::string> values;
  for (const Sample& sample : samples) {
    if (sample.name != name) continue;
    if (const auto it = sample.labels.find(label); it != sample.labels.end()) {
      values.insert(it->second);
    }
  }
  return values;
}

inline std::vector<Sample> scrape(std::uint16_t admin_port) {
  const Response response = HttpClient(admin_port).get("/metrics");
  if (response.status != 200) {
    throw std::runtime_error("/metrics answered " + std::to_string(response.status));
  }
  return parse_metrics(response.body);
}

// --- Logs --------------------------------------------------------------------------------------

// Every line of the process's stdout parsed as a JSON object (throws on a line that is not).
inline std::vector<json::object> log_lines(const Process& process) {
  std::vector<json::object> lines;
  std::istringstream in(process.stdout_text());
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(parse_object(line));
  }
  return lines;
}

// The event lines (those with a "msg"; access lines have none) whose msg is `msg`.
inline std::vector<json::object> event_lines(const Process& process, std::string_view msg) {
  std::vector<json::object> found;
  for (json::object& line : log_lines(process)) {
    const auto* text = line.if_contains("msg");
    if (text != nullptr && text->is_string() && text->as_string() == msg) found.push_back(std::move(line));
  }
  return found;
}

// The access log lines (those with a request_id) whose request_id is `id`.
inline std::vector<json::object> access_lines(const Process& process, std::string_view id) {
  std::vector<json::object> found;
  for (json::object& line : log_lines(process)) {
    const auto* request_id = line.if_contains("request_id");
    if (request_id != nullptr && request_id->is_string() && request_id->as_string() == id) {
      found.push_back(std::move(line));
    }
  }
  return found;
}

// Access lines are buffered by the service and flushed periodically: waits for `id`'s line.
inline std::optional<json::object> await_access_line(const Process& process, std::string_view id) {
  std::vector<json::object> found;
  eventually([&] {
    found = access_lines(process, id);
    return !found.empty();
  });
  if (found.size() != 1) return std::nullopt;
  return found.front();
}

// --- Service -----------------------------------------------------------------------------------

// Waits until GET /readyz on `admin_port` answers `status`.
inline bool readyz_becomes(std::uint16_t admin_port, unsigned status, std::chrono::milliseconds timeout = kPatience) {
  return eventually(
      [&] {
        try {
          return HttpClient(admin_port).get("/readyz").status == status;
        } catch (const std::exception&) {
          return false;
        }
      },
      timeout);
}

inline std::string address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// The service with authentication off (--insecure-no-auth), then `extra` flags (a later flag wins).
inline Service insecure_service(const RedisServer& redis, std::vector<std::string> extra = {}, bool wait_ready = true) {
  extra.insert(extra.begin(), "--insecure-no-auth");
  return Service(
      Service::Options{.redis_port = redis.port(), .extra_args = std::move(extra), .wait_ready = wait_ready});
}

// The fixture of the tests that need keys: its own Redis, a key file in a temporary directory
// holding one key per (name, scopes) given (in `keys`, in that order), the service reading it,
// and a client of its API.
class KeyedServiceTest : public ::testing::Test {
 protected:
  struct KeySpec {
    std::string name, scopes;
  };
  // `extra`: more flags for the service, after the key file's.
  explicit KeyedServiceTest(const std::vector<KeySpec>& specs, std::vector<std::string> extra = {})
      : keys(make_keys(specs)),
        keys_path(dir.write("keys", key_file(keys))),
        service({.redis_port = redis.port(), .extra_args = with_key_file(keys_path, std::move(extra))}) {}

  RedisServer redis;
  TempDir dir;
  std::vector<ApiKey> keys;
  std::string keys_path;
  Service service;
  HttpClient client{service.port()};

 private:
  static std::vector<std::string> with_key_file(const std::string& path, std::vector<std::string> extra) {
    extra.insert(extra.begin(), {"--api-keys-file", path});
    return extra;
  }
  static std::vector<ApiKey> make_keys(const std::vector<KeySpec>& specs) {
    std::vector<ApiKey> made;
    for (const KeySpec& spec : specs) made.push_back(make_key(spec.name, spec.scopes));
    return made;
  }
};

// --- Redis -------------------------------------------------------------------------------------

// The "ticket" of a take or call answer.
inline std::int64_t ticket_of(const Response& response) { return parse_object(response.body).at("ticket").as_int64(); }

// The tickets waiting in `queue`, as Redis holds them: newest first.
inline std::vector<std::int64_t> tickets_in_redis(const RedisServer& redis, const std::string& queue) {
  std::vector<std::int64_t> tickets;
  std::istringstream lines(redis.cli({"LRANGE", "queue_" + queue, "0", "-1"}));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) tickets.push_back(std::stoll(line));
  }
  return tickets;
}

}  // namespace waitline::test::kit
