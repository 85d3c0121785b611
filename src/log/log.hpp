// Structured logs: one JSON object per line on stdout.
//
//   log::info("redis connected", {{"host", host}, {"port", port}});
//   log::access(line);   // an already formatted request line, see app::Pipeline
//
// Events are written at once; access lines are buffered and flushed every 200 ms or when the
// buffer fills, so that logging every request costs no system call per request.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace waitline::log {

enum class Level { info, warn, error };

struct Field {
  std::string_view name;
  std::variant<std::string_view, std::int64_t, bool> value;
};

void event(Level level, std::string_view message, std::initializer_list<Field> fields = {});
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { event(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { event(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { event(Level::error, m, f); }

// Appends one JSON line (without newline) to the access buffer.
void access(std::string_view json_line);
// Writes whatever is buffered; called by a timer and at exit.
void flush();

// Appends the time now, quoted: "2026-11-26T06:40:45.123Z" (JSON text itself: src/json).
void append_timestamp(std::string& out);

}  // namespace waitline::log
