// RESP2, the Redis protocol: encoding commands and parsing replies.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace waitline::redis {

struct Reply {
  enum class Type : std::uint8_t { nil, integer, status, error, bulk, array };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string text;             // status, error and bulk
  std::vector<Reply> elements;  // array

  bool is_error() const noexcept { return type == Type::error; }
};

// Appends a command as an array of bulk strings, the only form Redis requires clients to send.
void encode_command(std::string& out, std::initializer_list<std::string_view> args);

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses one reply from the front of `data` into `out`. Returns the number of bytes it used, or
// 0 when `data` holds only part of a reply (call again with more). Throws ProtocolError on bytes
// that are not RESP2.
std::size_t parse_reply(std::string_view data, Reply& out);

}  // namespace waitline::redis
