// libFuzzer target: the RESP2 reply parser and command encoder (src/redis/resp.hpp).
//
//   build-fuzz/tests/fuzz/fuzz_resp tests/fuzz/corpus/fuzz_resp    (make test-fuzz runs it)
//
// Properties, on any bytes:
// - parse_reply either throws ProtocolError, returns 0 (incomplete), or consumes n <= size bytes;
// - a reply read from a stream cut at any byte boundary reads as incomplete up to its end, never
//   as an error, and as the same reply from its end on (the client re-parses its buffer after
//   every read);
// - the canonical encoding of a parsed reply parses back to the same reply;
// - Parse::integer_arrays reads the same bytes as Parse::generic, to the same values;
// - encode_command of any arguments parses back as an array of those bulk strings.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "redis/resp.hpp"

namespace {

using waitline::redis::Parse;
using waitline::redis::ProtocolError;
using waitline::redis::Reply;

using fuzz::check;

bool same(const Reply& a, const Reply& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Reply::Type::nil: return true;
    case Reply::Type::integer: return a.integer == b.integer;
    case Reply::Type::status:
    case Reply::Type::error:
    case Reply::Type::bulk: return a.text == b.text;
    case Reply::Type::integers: return a.integers == b.integers;
    case Reply::Type::array:
      if (a.elements.size() != b.elements.size()) return false;
      for (std::size_t i = 0; i < a.elements.size(); ++i) {
        if (!same(a.elements[i], b.elements[i])) return false;
      }
      return true;
  }
  return false;
}

// Whether an integer_arrays read means the generic one: an array read as `integers` holds the
// numbers of the generic array's elements (integers, or bulk strings holding a number), at any
// depth.
bool same_values(const Reply& integers, const Reply& generic) {
  if (integers.type == Reply::Type::array) {
    if (generic.type != Reply::Type::array || generic.elements.size() != integers.elements.size()) return false;
    for (std::size_t i = 0; i < integers.elements.size(); ++i) {
      if (!same_values(integers.elements[i], generic.elements[i])) return false;
    }
    return true;
  }
  if (integers.type != Reply::Type::integers) return same(integers, generic);
  if (generic.type != Reply::Type::array || generic.elements.size() != integers.integers.size()) return false;
  for (std::size_t i = 0; i < integers.integers.size(); ++i) {
    const Reply& element = generic.elements[i];
    const auto value = element.type == Reply::Type::integer ? std::optional(element.integer)
                       : element.type == Reply::Type::bulk  ? waitline::redis::decimal(element.text)
                                                            : std::nullopt;
    if (value != integers.integers[i]) return false;
  }
  return true;
}

// The one encoding a reply has when written by the book (the oracle the parser is checked with).
void encode(const Reply& reply, std::string& out) {
  switch (reply.type) {
    case Reply::Type::nil: out += "$-1\r\n"; return;
    case Reply::Type::integer: out += ":" + std::to_string(reply.integer) + "\r\n"; return;
    case Reply::Type::status: out += "+" + reply.text + "\r\n"; return;
    case Reply::Type::error: out += "-" + reply.text + "\r\n"; return;
    case Reply::Type::bulk: out += "$" + std::to_string(reply.text.size()) + "\r\n" + reply.text + "\r\n"; return;
    case Reply::Type::integers:
      out += "*" + std::to_string(reply.integers.size()) + "\r\n";
      for (const auto value : reply.integers) out += ":" + std::to_string(value) + "\r\n";
      return;
    case Reply::Type::array:
      out += "*" + std::to_string(reply.elements.size()) + "\r\n";
      for (const auto& element : reply.elements) encode(element, out);
      return;
  }
}

struct Outcome {
  bool error = false;
  std::size_t used = 0;
  Reply reply;
};

Outcome parse(std::string_view data, Parse mode) {
  Outcome outcome;
  try {
    outcome.used = waitline::redis::parse_reply(data, outcome.reply, mode);
  } catch (const ProtocolError&) {
    outcome.error = true;
  }
  return outcome;
}

void check_reply(std::string_view data, Parse mode) {
  const Outcome whole = parse(data, mode);
  if (whole.error || whole.used == 0) return;
  check(whole.used <= data.size(), "consumes at most the bytes it was given");

  // Every cut is checked on small replies; on large ones, 64 cuts spread over the reply and the
  // last bytes before its end, where a terminator is split.
  const std::size_t n = whole.used;
  const std::size_t stride = n <= 256 ? 1 : n / 64;
  for (std::size_t cut = 0; cut <= n; cut += (cut + 8 >= n ? 1 : stride)) {
    const Outcome part = parse(data.substr(0, cut), mode);
    check(!part.error, "a cut reply is incomplete, not an error");
    if (cut < n) {
      check(part.used == 0, "a cut reply is incomplete");
    } else {
      check(part.used == n && same(part.reply, whole.reply), "a reply parses the same without what follows it");
    }
  }

  std::string canonical;
  encode(whole.reply, canonical);
  const Outcome again = parse(canonical, mode);
  check(!again.error && again.used == canonical.size(), "the canonical encoding of a reply parses whole");
  check(same(again.reply, whole.reply), "the canonical encoding of a reply parses to the same reply");
}

// Arguments from the input's '\0'-separated pieces: the first 8 (the encoder's arity is fixed at
// its call site, so they fill an initializer list of that size; missing ones are empty).
void check_command(std::string_view data) {
  auto p = fuzz::split(data);
  p.resize(8);
  std::string out;
  waitline::redis::encode_command(out, {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]});
  const Outcome read = parse(out, Parse::generic);
  check(!read.error && read.used == out.size(), "an encoded command parses whole");
  check(read.reply.type == Reply::Type::array && read.reply.elements.size() == p.size(),
        "an encoded command is an array of its arguments");
  for (std::size_t i = 0; i < p.size(); ++i) {
    check(read.reply.elements[i].type == Reply::Type::bulk && read.reply.elements[i].text == p[i],
          "each argument is a bulk string of its bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_reply(data, Parse::generic);
  check_reply(data, Parse::integer_arrays);

  const Outcome generic = parse(data, Parse::generic);
  const Outcome integers = parse(data, Parse::integer_arrays);
  check(generic.error == integers.error, "both modes reject the same bytes");
  if (!generic.error) {
    check(generic.used == integers.used, "both modes read the same bytes");
    if (generic.used > 0) check(same_values(integers.reply, generic.reply), "both modes read the same values");
  }

  check_command(data);
  return 0;
}
