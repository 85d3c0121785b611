// JSON text, written by hand on hot paths: the one place that escapes strings and formats numbers.
//
//   std::string body;
//   json::Object(body).text("queue", "rubis").number("ticket", 42).null("next").close();
//   // {"queue":"rubis","ticket":42,"next":null}
//
// Only writing: requests carry no JSON, and tests read answers with Boost.JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace waitline::json {

void append_string(std::string& out, std::string_view text);  // with quotes, escaped
void append_int(std::string& out, std::int64_t number);
void append_fixed(std::string& out, double number, int decimals);  // 1.250
// A time as RFC 3339 in UTC with milliseconds, quoted: "2026-11-26T06:40:45.123Z".
void append_time(std::string& out, std::int64_t ms_since_epoch);

// An object written into `out`, one member at a time; close() writes the closing brace. Each
// kind of value has its own name, so that a string literal never turns into a bool.
class Object {
 public:
  explicit Object(std::string& out) : out_(out) { out_.push_back('{'); }
  Object& text(std::string_view name, std::string_view value);
  Object& text_or_null(std::string_view name, std::string_view value);  // empty: null
  Object& number(std::string_view name, std::int64_t value);
  Object& number_or_null(std::string_view name, std::optional<std::int64_t> value);
  Object& fixed(std::string_view name, double value, int decimals);
  Object& time(std::string_view name, std::int64_t ms_since_epoch);
  Object& boolean(std::string_view name, bool value);
  Object& null(std::string_view name);
  Object& raw(std::string_view name, std::string_view json);  // a value already in JSON
  void close() { out_.push_back('}'); }

 private:
  Object& name(std::string_view name);
  std::string& out_;
  bool first_ = true;
};

}  // namespace waitline::json
