// Tokens signed with the service's secret (HMAC-SHA256): a ticket's link, which lets whoever holds
// it read that one ticket, and a browser session, which stands for an API key for a while.
//
//   auth::SecretStore secrets("/run/secrets/ticket_secret");    // throws SecretFileError
//   auto signer = secrets.current();
//   std::string token = signer->ticket_token("rubis", 42);       // 22 URL-safe characters
//   signer->check_ticket("rubis", 42, token);                    // true; 43 or "saphir": false
//   std::string cookie = signer->session_token({"desk", call | read, expires, key_tag(key.hash)});
//   std::optional<auth::Session> session = signer->open_session(cookie, now);
//
// Secret file format: one secret per line, at least 32 characters; blank lines and lines starting
// with '#' are ignored. The first line signs; every line verifies, so that a rotation (write the
// new secret first, keep the old one second, reload) breaks no ticket already printed and no
// session already open. Replicas of a queue read the same file: a token made by one is good on
// all. Domain separation keeps a ticket token from ever passing for a session's signature.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth.hpp"

namespace waitline::auth {

// The first bytes of a key's SHA-256: enough to tell a key from the one that replaced it.
using KeyTag = std::array<std::uint8_t, 8>;
KeyTag key_tag(const Digest& key_hash) noexcept;

struct Session {
  std::string key_name;
  unsigned scopes = 0;
  std::chrono::sys_seconds expires{};
  // Binds the session to the key it was opened with: a key removed, or replaced under the same
  // name, no longer opens it.
  KeyTag key{};
};

class Signer {
 public:
  // `secrets`: the signing one first. Throws std::invalid_argument when empty.
  explicit Signer(const std::vector<std::string>& secrets);
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // A process-only random secret: for a single process without a secret file.
  static std::shared_ptr<const Signer> random();

  std::string ticket_token(std::string_view queue, std::int64_t ticket) const;
  // Constant time; false for any token not made for this queue and ticket.
  bool check_ticket(std::string_view queue, std::int64_t ticket, std::string_view token) const;

  std::string session_token(const Session& session) const;
  // The session a token stands for, when it was signed with one of the secrets and has not
  // expired at `now`. Whether its key still exists is the caller's check (Session::key).
  std::optional<Session> open_session(std::string_view token, std::chrono::sys_seconds now) const;

 private:
  struct Key;
  std::vector<std::unique_ptr<Key>> keys_;
};

// A malformed secret file; what() names the file and the line, never a secret.
class SecretFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t min_secret_length = 32;
// How long a browser session lasts by default, and at most: a working day.
inline constexpr std::chrono::seconds max_session_ttl{12 * 3600};

// The secret file named at start-up; reload() swaps the signer atomically and keeps the previous
// one when the file does not parse.
class SecretStore {
 public:
  explicit SecretStore(std::string path);  // throws SecretFileError
  // A fixed signer and no file (reload() keeps it): Signer::random() without --ticket-secret-file.
  explicit SecretStore(std::shared_ptr<const Signer> signer) : signer_(std::move(signer)) {}
  void reload();  // throws SecretFileError, current signer unchanged
  std::shared_ptr<const Signer> current() const;
  const std::string& path() const noexcept { return path_; }
  // The secrets a file's text holds, checked; `origin` names it in errors.
  static std::vector<std::string> parse(std::string_view text, std::string_view origin);

 private:
  std::string path_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Signer> signer_;
};

std::string base64url(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace waitline::auth
