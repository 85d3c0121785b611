// libFuzzer target: the API key file parser and the Authorization check (src/auth/auth.hpp).
//
//   build-fuzz/tests/fuzz/fuzz_keyfile tests/fuzz/corpus/fuzz_keyfile    (make test-fuzz runs it)
//
// The input is a key file, then optionally '\0' and an Authorization header value. Properties:
// - a file is accepted or refused with KeyFileError "keys.txt:<line>: <reason>", one line, that
//   names an existing line and quotes none of its long fields (they may be keys);
// - an accepted file holds one key per line that is not blank or a comment, with a valid name and
//   scopes, and its keys written back in the documented format parse to the same keys;
// - authorize() says `missing` exactly for a blank header, and names a key only when it is in the
//   table, allowing it exactly when its scopes cover what is needed;
// - a line made by key_line() for the header's bearer token, added to an accepted file, is
//   accepted (or refused only as a duplicate), and then that token is allowed under that name.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth.hpp"
#include "check.hpp"

namespace {

namespace auth = waitline::auth;
using fuzz::check;

constexpr std::string_view origin = "keys.txt";
constexpr std::string_view blanks = " \t";

// The words of a line as a stream reads them (its blanks are a superset of the key file's).
std::vector<std::string> words(std::string_view line) {
  std::istringstream stream{std::string(line)};
  return {std::istream_iterator<std::string>(stream), std::istream_iterator<std::string>()};
}

std::string_view trim(std::string_view text) {
  const auto start = text.find_first_not_of(blanks);
  if (start == std::string_view::npos) return {};
  return text.substr(start, text.find_last_not_of(blanks) - start + 1);
}

// The message's reason, after checking its "keys.txt:<line>: " prefix; `line` gets the number.
std::string_view reason_of(std::string_view message, std::size_t line_count, std::size_t& line) {
  check(message.starts_with(std::string(origin) + ":"), "a key file error starts with the file's name");
  message.remove_prefix(origin.size() + 1);
  const auto colon = message.find(": ");
  check(colon != std::string_view::npos && colon > 0, "a key file error names a line");
  line = 0;
  for (const char c : message.substr(0, colon)) {
    check(c >= '0' && c <= '9' && line < line_count, "a key file error names an existing line");
    line = line * 10 + static_cast<std::size_t>(c - '0');
  }
  check(line >= 1 && line <= line_count, "a key file error names an existing line");
  const auto reason = message.substr(colon + 2);
  check(!reason.empty(), "a key file error gives a reason");
  check(reason.find_first_of("\r\n") == std::string_view::npos, "a key file error is one line");
  return reason;
}

struct Parsed {
  bool accepted = false;
  auth::KeyTable table;
  std::string error;
};

Parsed parse(std::string_view text) {
  Parsed parsed;
  try {
    parsed.table = auth::KeyTable::parse(text, origin);
    parsed.accepted = true;
  } catch (const auth::KeyFileError& e) {
    parsed.error = e.what();
  }
  return parsed;
}

void check_refusal(std::string_view text, std::string_view message) {
  const auto lines = fuzz::split(text, '\n');
  std::size_t number = 0;
  const auto reason = reason_of(message, lines.size(), number);
  // Every blank-free run of the messages' own words is at most 8 characters ("sha256),"), so a
  // longer field of the line found in the reason would be the field's content.
  for (const auto& field : words(lines[number - 1])) {
    check(field.size() <= 8 || reason.find(field) == std::string_view::npos,
          "a key file error never quotes a field of the line");
  }
}

void check_accepted(std::string_view text, const auth::KeyTable& table) {
  std::size_t content_lines = 0;
  for (auto line : fuzz::split(text, '\n')) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    const auto found = words(line);
    if (!found.empty() && !found.front().starts_with('#')) ++content_lines;
  }
  check(table.size() == content_lines && table.keys().size() == content_lines,
        "an accepted file holds one key per line that is not blank or a comment");

  std::string written;
  for (const auto& key : table.keys()) {
    check(key.scopes != 0 && (key.scopes & ~auth::all_scopes) == 0, "a key has known scopes");
    written += key.name + " " + auth::format_scopes(key.scopes) + " " + auth::to_hex(key.hash) + "\n";
  }
  const Parsed again = parse(written);
  check(again.accepted, "keys written back in the documented format are accepted");
  const auto before = table.keys();
  const auto after = again.table.keys();
  check(std::ranges::equal(before, after,
                           [](const auth::Key& a, const auth::Key& b) {
                             return a.name == b.name && a.scopes == b.scopes && a.hash == b.hash;
                           }),
        "keys written back parse to the same keys");
}

void check_authorize(const auth::KeyTable& table, std::string_view header) {
  for (const auto scope : {auth::take, auth::call, auth::read}) {
    const auto decision = auth::authorize(table, header, scope);
    check((decision.verdict == auth::Verdict::missing) == trim(header).empty(),
          "a header is missing exactly when it is blank");
    const bool named = decision.verdict == auth::Verdict::allowed || decision.verdict == auth::Verdict::forbidden;
    check(named == !decision.key_name.empty(), "a key is named exactly when it is known");
    if (!named) continue;
    const auto key = std::ranges::find(table.keys(), decision.key_name, &auth::Key::name);
    check(key != table.keys().end(), "a named key is in the table");
    check((decision.verdict == auth::Verdict::allowed) == ((key->scopes & scope) == scope),
          "a known key is allowed exactly when its scopes cover the need");
  }
}

void check_key_line(std::string_view text, const auth::KeyTable& table, std::string_view token) {
  token = trim(token);
  // authorize() takes the token as everything after "Bearer" and blanks; it has no line breaks.
  if (token.empty() || token.find_first_of("\r\n") != std::string_view::npos) return;
  constexpr std::string_view name = "fuzz-added";
  std::string extended(text);
  if (!extended.empty() && !extended.ends_with('\n')) extended += '\n';
  extended += auth::key_line(name, auth::take | auth::read, token);
  const Parsed parsed = parse(extended);
  if (!parsed.accepted) {
    std::size_t number = 0;
    const auto reason = reason_of(parsed.error, fuzz::split(extended, '\n').size(), number);
    check(number == fuzz::split(extended, '\n').size() &&
              (reason.starts_with("name already used") || reason.starts_with("same sha256")),
          "a line from key_line is refused only as a duplicate");
    return;
  }
  check(parsed.table.size() == table.size() + 1, "a line from key_line adds one key");
  const std::string header = "Bearer " + std::string(token);
  const auto allowed = auth::authorize(parsed.table, header, auth::read);
  check(allowed.verdict == auth::Verdict::allowed && allowed.key_name == name,
        "the token of a key_line line is allowed under its name");
  check(auth::authorize(parsed.table, header, auth::call).verdict == auth::Verdict::forbidden,
        "the token of a key_line line gets only its scopes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const auto separator = data.find('\0');
  const auto text = data.substr(0, separator);
  const auto header = separator == std::string_view::npos ? std::string_view{} : data.substr(separator + 1);

  const Parsed parsed = parse(text);
  if (!parsed.accepted) {
    check_refusal(text, parsed.error);
    return 0;
  }
  check_accepted(text, parsed.table);
  check_authorize(parsed.table, header);
  check_key_line(text, parsed.table, header);
  return 0;
}
