// RESP2, the Redis protocol: encoding commands and parsing replies.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace waitline::redis {

struct Reply {
  // `integers`: an array whose every element is a number, read with Parse::integer_arrays.
  enum class Type : std::uint8_t { nil, integer, status, error, bulk, array, integers };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string text;                    // status, error and bulk
  std::vector<Reply> elements;         // array
  std::vector<std::int64_t> integers;  // integers

  bool is_error() const noexcept { return type == Type::error; }
};

// Appends a command as an array of bulk strings, the only form Redis requires clients to send.
void encode_command(std::string& out, std::span<const std::string_view> args);
inline void encode_command(std::string& out, std::initializer_list<std::string_view> args) {
  encode_command(out, std::span(args.begin(), args.size()));
}

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How arrays are read. `integer_arrays` reads an array whose elements are all integer replies or
// bulk strings holding a decimal number (what LRANGE gives for a list of numbers) straight into
// Reply::integers, with no Reply and no string per element; any other array is read as `generic`.
enum class Parse : std::uint8_t { generic, integer_arrays };

// Parses one reply from the front of `data` into `out`. Returns the number of bytes it used, or
// 0 when `data` holds only part of a reply (call again with more). Throws ProtocolError on bytes
// that are not RESP2.
std::size_t parse_reply(std::string_view data, Reply& out, Parse parse = Parse::generic);

// The number a bulk string holds: all of it a decimal integer (as Redis stores counters).
std::optional<std::int64_t> decimal(std::string_view text) noexcept;

}  // namespace waitline::redis
