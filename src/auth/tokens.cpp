#include "auth/tokens.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <system_error>

namespace waitline::auth {

namespace {

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// What each token signs starts with its purpose, so that one kind never passes for the other.
constexpr std::string_view ticket_purpose = "waitline ticket\n";
constexpr std::string_view session_purpose = "waitline session\n";
// 128 bits of the MAC in a ticket's link (a short URL for a QR code); all 256 in a session.
constexpr std::size_t ticket_mac_bytes = 16;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

[[noreturn]] void openssl_failed() { throw std::runtime_error("OpenSSL could not compute an HMAC-SHA256"); }

std::optional<std::uint64_t> to_number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

// HMAC-SHA256 (RFC 2104) with the padded key hashed once: each MAC copies the two prepared
// digest states instead of starting from the key, without a lookup of the algorithm.
struct Signer::Key {
  MdCtx inner, outer;

  explicit Key(std::string_view secret) : inner(EVP_MD_CTX_new()), outer(EVP_MD_CTX_new()) {
    std::array<unsigned char, 64> block{};
    if (secret.size() > block.size()) {
      const Digest hashed = sha256(secret);
      std::copy(hashed.begin(), hashed.end(), block.begin());
    } else {
      std::copy(secret.begin(), secret.end(), block.begin());
    }
    std::array<unsigned char, 64> ipad{}, opad{};
    for (std::size_t i = 0; i < block.size(); ++i) {
      ipad[i] = static_cast<unsigned char>(block[i] ^ 0x36);
      opad[i] = static_cast<unsigned char>(block[i] ^ 0x5c);
    }
    if (!inner || !outer || EVP_DigestInit_ex(inner.get(), sha256_algorithm(), nullptr) != 1 ||
        EVP_DigestUpdate(inner.get(), ipad.data(), ipad.size()) != 1 ||
        EVP_DigestInit_ex(outer.get(), sha256_algorithm(), nullptr) != 1 ||
        EVP_DigestUpdate(outer.get(), opad.data(), opad.size()) != 1)
      openssl_failed();
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(ipad.data(), ipad.size());
    OPENSSL_cleanse(opad.data(), opad.size());
  }

  Digest mac(std::string_view purpose, std::string_view message) const {
    thread_local MdCtx work(EVP_MD_CTX_new());
    Digest inner_digest{}, out{};
    unsigned int length = 0;
    if (!work || EVP_MD_CTX_copy_ex(work.get(), inner.get()) != 1 ||
        EVP_DigestUpdate(work.get(), purpose.data(), purpose.size()) != 1 ||
        EVP_DigestUpdate(work.get(), message.data(), message.size()) != 1 ||
        EVP_DigestFinal_ex(work.get(), inner_digest.data(), &length) != 1 ||
        EVP_MD_CTX_copy_ex(work.get(), outer.get()) != 1 ||
        EVP_DigestUpdate(work.get(), inner_digest.data(), inner_digest.size()) != 1 ||
        EVP_DigestFinal_ex(work.get(), out.data(), &length) != 1)
      openssl_failed();
    return out;
  }
};

Signer::Signer(const std::vector<std::string>& secrets) {
  if (secrets.empty()) throw std::invalid_argument("a signer needs at least one secret");
  for (const auto& secret : secrets) keys_.push_back(std::make_unique<Key>(secret));
}

Signer::~Signer() = default;

std::shared_ptr<const Signer> Signer::random() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("OpenSSL could not draw random bytes");
  return std::make_shared<const Signer>(
      std::vector<std::string>{base64url(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes))});
}

namespace {
std::string ticket_message(std::string_view queue, std::int64_t ticket) {
  return std::string(queue) + "\n" + std::to_string(ticket);
}
}  // namespace

std::string Signer::ticket_token(std::string_view queue, std::int64_t ticket) const {
  const Digest mac = keys_.front()->mac(ticket_purpose, ticket_message(queue, ticket));
  return base64url(std::string_view(reinterpret_cast<const char*>(mac.data()), ticket_mac_bytes));
}

bool Signer::check_ticket(std::string_view queue, std::int64_t ticket, std::string_view token) const {
  const auto presented = base64url_decode(token);
  if (!presented || presented->size() != ticket_mac_bytes) return false;
  const std::string message = ticket_message(queue, ticket);
  bool valid = false;
  // Every secret is tried, so the time taken does not tell which one matched.
  for (const auto& key : keys_) {
    const Digest mac = key->mac(ticket_purpose, message);
    valid |= CRYPTO_memcmp(mac.data(), presented->data(), ticket_mac_bytes) == 0;
  }
  return valid;
}

// A session token: base64url("<name>\n<scopes>\n<expires, unix seconds>\n<key tag, hex>") "."
// base64url(HMAC of that payload).
std::string Signer::session_token(const Session& session) const {
  Digest tag{};
  std::copy(session.key.begin(), session.key.end(), tag.begin());
  std::string payload = session.key_name + "\n" + std::to_string(session.scopes) + "\n" +
                        std::to_string(session.expires.time_since_epoch().count()) + "\n" +
                        to_hex(tag).substr(0, 2 * session.key.size());
  const Digest mac = keys_.front()->mac(session_purpose, payload);
  return base64url(payload) + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::optional<Session> Signer::open_session(std::string_view token, std::chrono::sys_seconds now) const {
  const auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto payload = base64url_decode(token.substr(0, dot));
  const auto presented = base64url_decode(token.substr(dot + 1));
  if (!payload || !presented || presented->size() != Digest{}.size()) return std::nullopt;
  bool valid = false;
  for (const auto& key : keys_) {
    const Digest mac = key->mac(session_purpose, *payload);
    valid |= CRYPTO_memcmp(mac.data(), presented->data(), mac.size()) == 0;
  }
  if (!valid) return std::nullopt;
  // Signed by us: the payload has the shape we wrote, unless a secret is shared with a foreign
  // signer; it is read as carefully all the same.
  std::vector<std::string_view> fields;
  std::string_view rest = *payload;
  for (std::size_t nl = 0; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1))
    fields.push_back(rest.substr(0, nl));
  fields.push_back(rest);
  if (fields.size() != 4) return std::nullopt;
  const auto scopes = to_number(fields[1]);
  const auto expires = to_number(fields[2]);
  if (!scopes || *scopes > all_scopes || !expires || fields[3].size() != 2 * KeyTag{}.size()) return std::nullopt;
  Session session{std::string(fields[0]),
                  static_cast<unsigned>(*scopes),
                  std::chrono::sys_seconds(std::chrono::seconds(static_cast<std::int64_t>(*expires))),
                  {}};
  for (std::size_t i = 0; i < session.key.size(); ++i) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(fields[3].data() + 2 * i, fields[3].data() + 2 * i + 2, value, 16);
    if (ec != std::errc() || end != fields[3].data() + 2 * i + 2) return std::nullopt;
    session.key[i] = static_cast<std::uint8_t>(value);
  }
  if (session.expires <= now) return std::nullopt;
  return session;
}

KeyTag key_tag(const Digest& key_hash) noexcept {
  KeyTag tag{};
  std::copy_n(key_hash.begin(), tag.size(), tag.begin());
  return tag;
}

std::vector<std::string> SecretStore::parse(std::string_view text, std::string_view origin) {
  std::vector<std::string> secrets;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() < min_secret_length) {
      throw SecretFileError(std::string(origin) + ":" + std::to_string(number) + ": a secret must be at least " +
                            std::to_string(min_secret_length) + " characters (openssl rand -hex 32)");
    }
    secrets.emplace_back(line);
  }
  if (secrets.empty()) throw SecretFileError(std::string(origin) + ": holds no secret");
  return secrets;
}

namespace {
std::shared_ptr<const Signer> load_signer(const std::string& path) {
  const auto failure = [&](std::string_view what) {
    return SecretFileError(path + ": cannot " + std::string(what) + ": " + std::generic_category().message(errno));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw failure("open");
  std::string text;
  char buffer[4096];
  while (const auto count = std::fread(buffer, 1, sizeof buffer, file.get())) text.append(buffer, count);
  if (std::ferror(file.get())) throw failure("read");
  auto signer = std::make_shared<const Signer>(SecretStore::parse(text, path));
  OPENSSL_cleanse(text.data(), text.size());
  return signer;
}
}  // namespace

SecretStore::SecretStore(std::string path) : path_(std::move(path)), signer_(load_signer(path_)) {}

void SecretStore::reload() {
  if (path_.empty()) return;
  auto signer = load_signer(path_);
  const std::lock_guard lock(mutex_);
  signer_.swap(signer);
}

std::shared_ptr<const Signer> SecretStore::current() const {
  const std::lock_guard lock(mutex_);
  return signer_;
}

std::string base64url(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t buffer = 0;  // only the low `bits` bits are pending
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    for (bits += 8; bits >= 6;) {
      bits -= 6;
      text += alphabet[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) text += alphabet[(buffer << (6 - bits)) & 63];
  return text;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // Unpadded only, and canonical: the bits left over at the end must be zero, so that one byte
  // string has exactly one text.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const auto at = alphabet.find(c);
    if (at == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(at);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return bytes;
}

}  // namespace waitline::auth
