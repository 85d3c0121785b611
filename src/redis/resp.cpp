#include "redis/resp.hpp"

#include <charconv>

namespace waitline::redis {
namespace {

constexpr int max_depth = 8;                  // our scripts return arrays two levels deep
constexpr std::int64_t max_bulk = 512 << 20;  // Redis's own proto-max-bulk-len default

void append_decimal(std::string& out, std::size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// Sets `line` to the line starting at `pos` (without its CRLF) and `next` past it; false while
// the line is incomplete.
bool read_line(std::string_view data, std::size_t pos, std::string_view& line, std::size_t& next) {
  auto end = data.find("\r\n", pos);
  if (end == std::string_view::npos) return false;
  line = data.substr(pos, end - pos);
  next = end + 2;
  return true;
}

std::int64_t to_integer(std::string_view text) {
  auto value = decimal(text);
  if (!value) throw ProtocolError("redis: malformed integer in reply");
  return *value;
}

// Each element takes at least 3 bytes: an incomplete buffer cannot make us reserve much.
std::size_t reservable(std::string_view data, std::size_t pos, std::int64_t count) {
  return std::min<std::size_t>(static_cast<std::size_t>(count), (data.size() - pos) / 3 + 1);
}

enum class Bulk : std::uint8_t { incomplete, nil, value };

// The bulk string whose length line is `line` and whose body starts at `pos`: sets `body` and
// moves `pos` past it.
Bulk read_bulk(std::string_view data, std::string_view line, std::size_t& pos, std::string_view& body) {
  auto length = to_integer(line);
  if (length == -1) return Bulk::nil;
  if (length < 0 || length > max_bulk) throw ProtocolError("redis: bad bulk length");
  auto size = static_cast<std::size_t>(length);
  if (data.size() < pos + size + 2) return Bulk::incomplete;
  if (data.compare(pos + size, 2, "\r\n") != 0) throw ProtocolError("redis: bulk not terminated");
  body = data.substr(pos, size);
  pos += size + 2;
  return Bulk::value;
}

constexpr std::size_t not_integers = std::string_view::npos;

// The `count` elements of an array, from `pos`, into out.integers when every one is a number.
// Returns the position after them, 0 when incomplete, or not_integers at the first element that
// is something else (the caller then reads the array as generic).
std::size_t parse_integers(std::string_view data, std::size_t pos, std::int64_t count, Reply& out) {
  out.integers.clear();
  out.integers.reserve(reservable(data, pos, count));
  for (std::int64_t i = 0; i < count; ++i) {
    if (pos >= data.size()) return 0;
    const char kind = data[pos];
    std::string_view line;
    if (!read_line(data, pos + 1, line, pos)) return 0;
    std::optional<std::int64_t> number;
    if (kind == ':') {
      number = to_integer(line);
    } else if (kind == '$') {
      std::string_view body;
      auto bulk = read_bulk(data, line, pos, body);
      if (bulk == Bulk::incomplete) return 0;
      if (bulk == Bulk::value) number = decimal(body);
    }
    if (!number) return not_integers;
    out.integers.push_back(*number);
  }
  out.type = Reply::Type::integers;
  return pos;
}

// Returns the position after the reply, or 0 when incomplete.
std::size_t parse_at(std::string_view data, std::size_t pos, Reply& out, Parse parse, int depth) {
  if (depth > max_depth) throw ProtocolError("redis: reply nested too deeply");
  if (pos >= data.size()) return 0;
  char kind = data[pos];
  std::string_view line;
  std::size_t next = 0;
  if (!read_line(data, pos + 1, line, next)) return 0;
  switch (kind) {
    case '+':
      out.type = Reply::Type::status;
      out.text.assign(line);
      return next;
    case '-':
      out.type = Reply::Type::error;
      out.text.assign(line);
      return next;
    case ':':
      out.type = Reply::Type::integer;
      out.integer = to_integer(line);
      return next;
    case '$': {
      std::string_view body;
      auto bulk = read_bulk(data, line, next, body);
      if (bulk == Bulk::incomplete) return 0;
      out.type = bulk == Bulk::nil ? Reply::Type::nil : Reply::Type::bulk;
      out.text.assign(body);
      return next;
    }
    case '*': {
      auto count = to_integer(line);
      if (count == -1) {
        out.type = Reply::Type::nil;
        return next;
      }
      if (count < 0 || count > max_bulk) throw ProtocolError("redis: bad array length");
      // Its elements are one level deeper: past the limit they are rejected as generic ones are.
      if (parse == Parse::integer_arrays && depth < max_depth) {
        auto end = parse_integers(data, next, count, out);
        if (end != not_integers) return end;
        out.integers.clear();
      }
      out.type = Reply::Type::array;
      out.elements.clear();
      out.elements.reserve(reservable(data, next, count));
      for (std::int64_t i = 0; i < count; ++i) {
        Reply element;
        next = parse_at(data, next, element, parse, depth + 1);
        if (next == 0) return 0;
        out.elements.push_back(std::move(element));
      }
      return next;
    }
    default: throw ProtocolError("redis: unknown reply type");
  }
}

}  // namespace

void encode_command(std::string& out, std::span<const std::string_view> args) {
  out.push_back('*');
  append_decimal(out, args.size());
  out += "\r\n";
  for (auto arg : args) {
    out.push_back('$');
    append_decimal(out, arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

std::size_t parse_reply(std::string_view data, Reply& out, Parse parse) { return parse_at(data, 0, out, parse, 0); }

std::optional<std::int64_t> decimal(std::string_view text) noexcept {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace waitline::redis
