#include "json/json.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace waitline::json {

namespace {
// A lambda, so that find_if inlines it.
constexpr auto needs_escape = [](char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; };
}  // namespace

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  // Runs of bytes that need no escape are appended whole: most strings are one run.
  for (const auto* run = text.begin(); run != text.end();) {
    const auto* end = std::find_if(run, text.end(), needs_escape);
    out.append(run, end);
    if (end == text.end()) break;
    switch (const char c = *end) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        out += "\\u00";
        out.push_back(hex[(c >> 4) & 0xf]);
        out.push_back(hex[c & 0xf]);
      }
    }
    run = end + 1;
  }
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t number) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number);
  out.append(buf, end);
}

void append_fixed(std::string& out, double number, int decimals) {
  char buf[48];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number, std::chars_format::fixed, decimals);
  out.append(buf, ec == std::errc() ? end : buf);
}

void append_time(std::string& out, std::int64_t ms_since_epoch) {
  // Floor division, so that a time before 1970 keeps its milliseconds in 0-999.
  auto seconds = static_cast<std::time_t>(ms_since_epoch / 1000);
  std::int64_t ms = ms_since_epoch % 1000;
  if (ms < 0) ms += 1000, --seconds;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[80];
  const int size = std::snprintf(text, sizeof text, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", utc.tm_year + 1900,
                                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                                 static_cast<int>(ms));
  out.append(text, static_cast<std::size_t>(std::clamp(size, 0, static_cast<int>(sizeof text) - 1)));
}

Object& Object::name(std::string_view name) {
  if (!first_) out_.push_back(',');
  first_ = false;
  append_string(out_, name);
  out_.push_back(':');
  return *this;
}

Object& Object::text(std::string_view n, std::string_view value) {
  append_string(name(n).out_, value);
  return *this;
}

Object& Object::text_or_null(std::string_view n, std::string_view value) {
  return value.empty() ? null(n) : text(n, value);
}

Object& Object::number(std::string_view n, std::int64_t value) {
  append_int(name(n).out_, value);
  return *this;
}

Object& Object::number_or_null(std::string_view n, std::optional<std::int64_t> value) {
  return value ? number(n, *value) : null(n);
}

Object& Object::fixed(std::string_view n, double value, int decimals) {
  append_fixed(name(n).out_, value, decimals);
  return *this;
}

Object& Object::time(std::string_view n, std::int64_t ms_since_epoch) {
  append_time(name(n).out_, ms_since_epoch);
  return *this;
}

Object& Object::boolean(std::string_view n, bool value) { return raw(n, value ? "true" : "false"); }

Object& Object::null(std::string_view n) { return raw(n, "null"); }

Object& Object::raw(std::string_view n, std::string_view json) {
  name(n).out_ += json;
  return *this;
}

}  // namespace waitline::json
