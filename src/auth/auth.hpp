// API keys with scopes, stored as SHA-256 hashes in a file, checked in constant time.
//
// Key file format (one key per line; blank lines and lines starting with '#' are ignored):
//
//     # name          scopes            sha256 of the key, 64 lowercase hex digits
//     rubis-kiosk     take              9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//     rubis-desk      take,call,read    ...
//
// A name is [A-Za-z0-9_.-]{1,64} and unique in the file; scopes are a comma list of take, call,
// read (or `*` for all three). The key itself never appears in the file or in any log.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct evp_md_st;  // OpenSSL's EVP_MD

namespace waitline::auth {

// `identified`: any valid key, whatever its scopes.
enum Scope : unsigned { identified = 0, take = 1u << 0, call = 1u << 1, read = 1u << 2 };
inline constexpr unsigned all_scopes = take | call | read;

using Digest = std::array<std::uint8_t, 32>;
Digest sha256(std::string_view data);
// OpenSSL's SHA-256, looked up once: looking it up per digest takes a lock in the provider.
const ::evp_md_st* sha256_algorithm() noexcept;
std::string to_hex(const Digest& digest);

// "take,call" -> take|call; throws std::invalid_argument naming the bad scope.
unsigned parse_scopes(std::string_view text);
std::string format_scopes(unsigned scopes);

struct Key {
  std::string name;
  unsigned scopes = 0;
  Digest hash{};
};

// A malformed key file; what() reads "<origin>:<line>: <reason>".
class KeyFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class KeyTable {
 public:
  static KeyTable parse(std::string_view text, std::string_view origin);
  static KeyTable load(const std::string& path);  // throws KeyFileError, also when unreadable

  // The key whose hash matches, comparing against every entry in constant time; nullptr if none.
  const Key* find(std::string_view presented_key) const;
  const Key* by_name(std::string_view name) const;
  std::size_t size() const noexcept { return keys_.size(); }
  std::span<const Key> keys() const noexcept { return keys_; }  // in file order

 private:
  std::vector<Key> keys_;
};

enum class Verdict { allowed, missing, unknown, forbidden };
struct Decision {
  Verdict verdict;
  std::string_view key_name;  // set when the key is known; points into the table
  const Key* key = nullptr;   // likewise
};

// `authorization` is the raw header value ("Bearer <key>"), empty when absent.
Decision authorize(const KeyTable& table, std::string_view authorization, Scope needed);

// The key file named at start-up; reload() swaps the table atomically and keeps the old one on
// error, so requests in flight never see a half-read file.
class KeyStore {
 public:
  explicit KeyStore(std::string path);  // loads now; throws KeyFileError
  void reload();                        // throws KeyFileError, current table unchanged
  std::shared_ptr<const KeyTable> current() const;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  mutable std::mutex mutex_;
  std::shared_ptr<const KeyTable> table_;
};

// A new random key ("wl_" + 43 base64url characters, 256 bits from the OS).
std::string generate_key();
// The key-file line for a key: "<name> <scopes> <sha256 hex>".
std::string key_line(std::string_view name, unsigned scopes, std::string_view key);

}  // namespace waitline::auth
