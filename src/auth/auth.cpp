#include "auth/auth.hpp"

#include "auth/tokens.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

namespace waitline::auth {
namespace {

constexpr std::pair<Scope, std::string_view> scope_names[] = {{take, "take"}, {call, "call"}, {read, "read"}};

constexpr std::string_view blanks = " \t";

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// Fields separated by runs of spaces or tabs.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> found;
  for (auto start = line.find_first_not_of(blanks); start != std::string_view::npos;
       start = line.find_first_not_of(blanks, start)) {
    const auto end = std::min(line.find_first_of(blanks, start), line.size());
    found.push_back(line.substr(start, end - start));
    start = end;
  }
  return found;
}

std::string_view trim(std::string_view text) {
  const auto start = text.find_first_not_of(blanks);
  if (start == std::string_view::npos) return {};
  return text.substr(start, text.find_last_not_of(blanks) - start + 1);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

bool is_key_name(std::string_view name) {
  const auto allowed = [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; };
  return !name.empty() && name.size() <= 64 && std::ranges::all_of(name, allowed);
}

std::optional<Digest> parse_digest(std::string_view hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Digest digest{};
  if (hex.size() != 2 * digest.size()) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int high = nibble(hex[2 * i]);
    const int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    digest[i] = static_cast<std::uint8_t>((high << 4) | low);
  }
  return digest;
}

}  // namespace

// Fetched once (a function-local static is initialised once, thread-safely): EVP_sha256() makes
// every EVP_Digest look the algorithm up in the provider's tables again, under a lock.
const EVP_MD* sha256_algorithm() noexcept {
  static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> algorithm(EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                                         &EVP_MD_free);
  return algorithm.get();
}

Digest sha256(std::string_view data) {
  Digest digest;
  unsigned int length = 0;
  const EVP_MD* algorithm = sha256_algorithm();
  if (algorithm == nullptr || EVP_Digest(data.data(), data.size(), digest.data(), &length, algorithm, nullptr) != 1 ||
      length != digest.size()) {
    throw std::runtime_error("OpenSSL could not compute a SHA-256 digest");
  }
  return digest;
}

std::string to_hex(const Digest& digest) {
  constexpr std::string_view digits = "0123456789abcdef";
  std::string hex;
  for (const std::uint8_t byte : digest) {
    hex += digits[byte >> 4];
    hex += digits[byte & 15];
  }
  return hex;
}

unsigned parse_scopes(std::string_view text) {
  unsigned scopes = 0;
  for (const std::string_view word : split(text, ',')) {
    const auto* const named = std::ranges::find_if(scope_names,
                                                   [&](const auto& entry) { return entry.second == word; });
    if (word == "*") {
      scopes |= all_scopes;
    } else if (named != std::end(scope_names)) {
      scopes |= named->first;
    } else {
      throw std::invalid_argument("unknown scope \"" + std::string(word) + "\" (use take, call, read, or * for all)");
    }
  }
  return scopes;
}

std::string format_scopes(unsigned scopes) {
  std::string text;
  for (const auto& [scope, name] : scope_names) {
    if ((scopes & scope) == 0) continue;
    if (!text.empty()) text += ',';
    text += name;
  }
  return text;
}

KeyTable KeyTable::parse(std::string_view text, std::string_view origin) {
  KeyTable table;
  std::vector<std::size_t> line_of_key;  // parallel to keys_, for duplicate messages
  const auto lines = split(text, '\n');
  for (std::size_t index = 0; index < lines.size(); ++index) {
    const std::size_t number = index + 1;
    // Messages name the line and the field, never a field's content: it may be a key.
    const auto error = [&](const std::string& reason) {
      return KeyFileError(std::string(origin) + ":" + std::to_string(number) + ": " + reason);
    };
    std::string_view line = lines[index];
    if (line.ends_with('\r')) line.remove_suffix(1);
    const auto parts = fields(line);
    if (parts.empty() || parts.front().starts_with('#')) continue;
    if (parts.size() > 3 && parts[3].starts_with('#')) {
      throw error("a comment must be on a line of its own");
    }
    if (parts.size() != 3) {
      throw error("expected 3 fields (name scopes sha256), found " + std::to_string(parts.size()));
    }

    Key key;
    if (!is_key_name(parts[0])) throw error("name must be 1 to 64 of A-Z a-z 0-9 _ . -");
    key.name = parts[0];
    try {
      key.scopes = parse_scopes(parts[1]);
    } catch (const std::invalid_argument&) {
      throw error("scopes must be a comma list of take, call, read, or *");
    }
    const auto digest = parse_digest(parts[2]);
    if (!digest) throw error("sha256 must be 64 hex digits");
    key.hash = *digest;

    for (std::size_t other = 0; other < table.keys_.size(); ++other) {
      const auto earlier = std::to_string(line_of_key[other]);
      if (table.keys_[other].name == key.name) throw error("name already used on line " + earlier);
      // One key under two names would leave its scopes ambiguous.
      if (table.keys_[other].hash == key.hash) throw error("same sha256 as line " + earlier);
    }
    table.keys_.push_back(std::move(key));
    line_of_key.push_back(number);
  }
  return table;
}

KeyTable KeyTable::load(const std::string& path) {
  const auto failure = [&](std::string_view what) {
    return KeyFileError(path + ": cannot " + std::string(what) + ": " + std::generic_category().message(errno));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw failure("open");
  std::string text;
  char buffer[4096];
  while (const auto count = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, count);
  }
  if (std::ferror(file.get())) throw failure("read");  // e.g. a directory
  return parse(text, path);
}

const Key* KeyTable::find(std::string_view presented_key) const {
  const Digest digest = sha256(presented_key);
  const Key* match = nullptr;
  // Every entry is compared in full, so the time taken does not tell where a match was.
  for (const Key& key : keys_) {
    if (CRYPTO_memcmp(key.hash.data(), digest.data(), digest.size()) == 0) match = &key;
  }
  return match;
}

const Key* KeyTable::by_name(std::string_view name) const {
  const auto found = std::ranges::find(keys_, name, &Key::name);
  return found == keys_.end() ? nullptr : &*found;
}

Decision authorize(const KeyTable& table, std::string_view authorization, Scope needed) {
  const auto header = trim(authorization);
  if (header.empty()) return {Verdict::missing, {}};
  const auto blank = header.find_first_of(blanks);
  if (blank == std::string_view::npos || !equals_ignoring_case(header.substr(0, blank), "Bearer")) {
    return {Verdict::unknown, {}};
  }
  const Key* key = table.find(trim(header.substr(blank)));
  if (key == nullptr) return {Verdict::unknown, {}};
  if ((key->scopes & needed) != needed) return {Verdict::forbidden, key->name, key};
  return {Verdict::allowed, key->name, key};
}

KeyStore::KeyStore(std::string path)
    : path_(std::move(path)), table_(std::make_shared<const KeyTable>(KeyTable::load(path_))) {}

void KeyStore::reload() {
  auto table = std::make_shared<const KeyTable>(KeyTable::load(path_));
  const std::lock_guard lock(mutex_);
  table_.swap(table);
  // The old table is freed after the lock is released, or later by the last request using it.
}

std::shared_ptr<const KeyTable> KeyStore::current() const {
  const std::lock_guard lock(mutex_);
  return table_;
}

std::string generate_key() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw std::runtime_error("OpenSSL could not draw random bytes for a key");
  }
  return "wl_" + base64url(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

std::string key_line(std::string_view name, unsigned scopes, std::string_view key) {
  return std::string(name) + " " + format_scopes(scopes) + " " + to_hex(sha256(key));
}

}  // namespace waitline::auth
