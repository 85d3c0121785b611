// libFuzzer target: what a browser or a phone sends that the service must read without a key:
// Last-Event-ID (queue::EventId), ticket tokens and session cookies (auth/tokens.hpp), and the
// Cookie header (app::cookie_value).
//
//   build-fuzz/tests/fuzz/fuzz_tokens tests/fuzz/corpus/fuzz_tokens    (make test-fuzz runs it)
//
// The input is up to four '\0'-separated strings: an event id, a token, a cookie header, a
// session's key name. Properties:
// - an event id parses exactly when it is two decimal numbers joined by '-', each in 64 bits and
//   without a leading zero, as Redis writes them; its text is then the input;
// - base64url decoding accepts exactly the canonical text of some bytes: encoding the decoded
//   bytes gives the input back;
// - a ticket token opens exactly the ticket and queue it was made for, under the current or the
//   previous secret, and a fuzzed token opens nothing unless it is that token;
// - a fuzzed session token never opens (nothing signed it), a session made from the input opens
//   to the same session until it expires, and a token altered in any byte no longer opens;
// - cookie_value returns a substring of the header, never a value with ';'.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "app/pipeline.hpp"
#include "auth/tokens.hpp"
#include "check.hpp"
#include "queue/queue.hpp"

namespace {

namespace auth = waitline::auth;
namespace queue = waitline::queue;
using fuzz::check;

bool is_event_id(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) return false;
  for (std::string_view part : {text.substr(0, dash), text.substr(dash + 1)}) {
    if (part.find_first_not_of("0123456789") != std::string_view::npos || part.size() > 20) return false;
    if (part.size() > 1 && part.front() == '0') return false;
    if (part.size() == 20 && part > "18446744073709551615") return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string_view id = parts[0];
  const std::string_view token = parts.size() > 1 ? parts[1] : std::string_view{};
  const std::string_view cookie = parts.size() > 2 ? parts[2] : std::string_view{};
  const std::string_view name = parts.size() > 3 ? parts[3] : std::string_view{"desk"};

  // Last-Event-ID.
  const auto parsed = queue::EventId::parse(id);
  check(parsed.has_value() == is_event_id(id),
        "an event id parses exactly when it is <digits>-<digits> in 64 bits, without leading zeros");
  if (parsed) check(parsed->text() == id, "an event id's text is what the client sent");

  // base64url.
  if (const auto bytes = auth::base64url_decode(token)) {
    check(auth::base64url(*bytes) == token, "only canonical base64url decodes");
  }

  // Ticket tokens, across a rotation.
  static const auth::Signer old_signer({std::string(64, 'o')});
  static const auth::Signer rotated({std::string(64, 'n'), std::string(64, 'o')});
  const std::int64_t ticket = static_cast<std::int64_t>(size) + 1;
  const std::string made = old_signer.ticket_token("rubis", ticket);
  check(rotated.check_ticket("rubis", ticket, made),
        "a ticket stays open after its secret is rotated out of first place");
  check(!rotated.check_ticket("saphir", ticket, made), "a token opens its own queue only");
  check(!rotated.check_ticket("rubis", ticket + 1, made), "a token opens its own ticket only");
  check(rotated.check_ticket("rubis", ticket, token) ==
            (token == made || token == rotated.ticket_token("rubis", ticket)),
        "a fuzzed token opens a ticket only if it is that ticket's token");

  // Sessions.
  const auto now = std::chrono::sys_seconds(std::chrono::seconds(1'800'000'000));
  check(!rotated.open_session(token, now), "a token nobody signed never opens a session");
  const auth::Session session{std::string(name), auth::all_scopes & static_cast<unsigned>(size),
                              now + std::chrono::hours(1), auth::key_tag(auth::sha256(token))};
  const std::string signed_token = old_signer.session_token(session);
  const auto opened = rotated.open_session(signed_token, now);
  const bool plain_name = name.find('\n') == std::string_view::npos;
  if (plain_name) {
    check(opened && opened->key_name == session.key_name && opened->scopes == session.scopes &&
              opened->expires == session.expires && opened->key == session.key,
          "a session opens to what was signed");
    check(!rotated.open_session(signed_token, now + std::chrono::hours(2)), "an expired session does not open");
    std::string altered = signed_token;
    altered[size % altered.size()] ^= 1;
    check(!rotated.open_session(altered, now), "a session altered in one byte does not open");
  }

  // The Cookie header.
  const auto value = waitline::app::cookie_value(cookie, waitline::app::session_cookie);
  check(value.empty() ||
            (value.data() >= cookie.data() && value.data() + value.size() <= cookie.data() + cookie.size()),
        "a cookie's value is part of the header");
  check(value.find(';') == std::string_view::npos, "a cookie's value never holds ';'");
  return 0;
}
