#include "log/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "json/json.hpp"

namespace waitline::log {
namespace {

constexpr std::size_t flush_threshold = std::size_t{64} * 1024;

// The process has one standard output, written by every thread: its lock and its buffer are the
// process's too.
std::mutex output_mutex;    // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
std::string access_buffer;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

void write_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n <= 0) return;  // stdout gone: logs are best effort, requests are not
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

}  // namespace

void append_timestamp(std::string& out) {
  // The date and the seconds change once a second: each thread formats them then and reuses them,
  // so a line costs only its three digits of milliseconds.
  struct Second {
    std::chrono::sys_seconds at{std::chrono::seconds(-1)};
    char text[32]{};  // "2026-11-26T06:40:45.
    std::size_t size = 0;
  };
  thread_local Second second;
  const auto now = std::chrono::system_clock::now();
  const auto at = std::chrono::floor<std::chrono::seconds>(now);
  if (at != second.at) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    const int size = std::snprintf(second.text, sizeof second.text, "\"%04d-%02d-%02dT%02d:%02d:%02d.",
                                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                                   utc.tm_sec);
    second.size = static_cast<std::size_t>(std::max(size, 0));
    second.at = at;
  }
  out.append(second.text, second.size);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - at).count();
  const char rest[] = {static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                       static_cast<char>('0' + millis % 10), 'Z', '"'};
  out.append(rest, sizeof rest);
}

void event(Level level, std::string_view message, std::initializer_list<Field> fields) {
  std::string time;
  append_timestamp(time);
  std::string line;
  json::Object object(line);
  object.raw("time", time).text("level", level_name(level)).text("msg", message);
  for (const auto& field : fields) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) object.text(field.name, v);
          else if constexpr (std::is_same_v<T, bool>) object.boolean(field.name, v);
          else object.number(field.name, v);
        },
        field.value);
  }
  object.close();
  line += "\n";
  std::lock_guard lock(output_mutex);
  // Keep order: whatever access lines came first go out first.
  write_all(access_buffer);
  access_buffer.clear();
  write_all(line);
}

void access(std::string_view json_line) {
  std::lock_guard lock(output_mutex);
  access_buffer += json_line;
  access_buffer.push_back('\n');
  if (access_buffer.size() >= flush_threshold) {
    write_all(access_buffer);
    access_buffer.clear();
  }
}

void flush() {
  std::lock_guard lock(output_mutex);
  write_all(access_buffer);
  access_buffer.clear();
}

}  // namespace waitline::log
