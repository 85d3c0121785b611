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

// The line starting at `pos` without its CRLF, or npos-length view when incomplete.
bool read_line(std::string_view data, std::size_t pos, std::string_view& line, std::size_t& next) {
  auto end = data.find("\r\n", pos);
  if (end == std::string_view::npos) return false;
  line = data.substr(pos, end - pos);
  next = end + 2;
  return true;
}

std::int64_t to_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw ProtocolError("redis: malformed integer in reply");
  return value;
}

// Returns the position after the reply, or 0 when incomplete.
std::size_t parse_at(std::string_view data, std::size_t pos, Reply& out, int depth) {
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
      auto length = to_integer(line);
      if (length == -1) {
        out.type = Reply::Type::nil;
        return next;
      }
      if (length < 0 || length > max_bulk) throw ProtocolError("redis: bad bulk length");
      auto size = static_cast<std::size_t>(length);
      if (data.size() < next + size + 2) return 0;
      if (data.compare(next + size, 2, "\r\n") != 0) throw ProtocolError("redis: bulk not terminated");
      out.type = Reply::Type::bulk;
      out.text.assign(data.substr(next, size));
      return next + size + 2;
    }
    case '*': {
      auto count = to_integer(line);
      if (count == -1) {
        out.type = Reply::Type::nil;
        return next;
      }
      if (count < 0 || count > max_bulk) throw ProtocolError("redis: bad array length");
      out.type = Reply::Type::array;
      out.elements.clear();
      // Each element takes at least 3 bytes: an incomplete buffer cannot make us reserve much.
      out.elements.reserve(std::min<std::size_t>(static_cast<std::size_t>(count), (data.size() - next) / 3 + 1));
      for (std::int64_t i = 0; i < count; ++i) {
        Reply element;
        next = parse_at(data, next, element, depth + 1);
        if (next == 0) return 0;
        out.elements.push_back(std::move(element));
      }
      return next;
    }
    default:
      throw ProtocolError("redis: unknown reply type");
  }
}

}  // namespace

void encode_command(std::string& out, std::initializer_list<std::string_view> args) {
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

std::size_t parse_reply(std::string_view data, Reply& out) { return parse_at(data, 0, out, 0); }

}  // namespace waitline::redis
