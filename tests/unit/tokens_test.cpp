// Ticket tokens and session tokens (src/auth/tokens.hpp): HMAC-SHA256 checked against OpenSSL's
// own, what opens what, rotation, expiry, tampering, and the secret file's rules.
#include "auth/tokens.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace waitline::auth {
namespace {

using namespace std::chrono_literals;

const std::string kSecret(40, 's');
const std::string kOther(40, 'o');
const auto kNow = std::chrono::sys_seconds(std::chrono::seconds(1'800'000'000));

// The token, computed by OpenSSL's one-shot HMAC: the same construction, another implementation.
std::string reference_ticket_token(const std::string& secret, std::string_view queue, std::int64_t ticket) {
  const std::string message = "waitline ticket\n" + std::string(queue) + "\n" + std::to_string(ticket);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
  return base64url(std::string_view(reinterpret_cast<const char*>(mac), 16));
}

TEST(Tokens, TicketTokensAreHmacSha256OfQueueAndTicketIn128Bits) {
  const Signer signer({kSecret});
  const std::string token = signer.ticket_token("rubis", 42);
  EXPECT_EQ(token, reference_ticket_token(kSecret, "rubis", 42));
  EXPECT_EQ(token.size(), 22u);
  // A secret longer than SHA-256's block is hashed first, as RFC 2104 says.
  const std::string long_secret(200, 'L');
  EXPECT_EQ(Signer({long_secret}).ticket_token("rubis", 42), reference_ticket_token(long_secret, "rubis", 42));
}

TEST(Tokens, ATicketTokenOpensItsOwnTicketOnly) {
  const Signer signer({kSecret});
  const std::string token = signer.ticket_token("rubis", 42);
  EXPECT_TRUE(signer.check_ticket("rubis", 42, token));
  EXPECT_FALSE(signer.check_ticket("rubis", 43, token));
  EXPECT_FALSE(signer.check_ticket("saphir", 42, token));
  EXPECT_FALSE(signer.check_ticket("rubis", 42, token.substr(1)));
  EXPECT_FALSE(signer.check_ticket("rubis", 42, token + "A"));
  EXPECT_FALSE(signer.check_ticket("rubis", 42, ""));
  EXPECT_FALSE(Signer({kOther}).check_ticket("rubis", 42, token));
}

TEST(Tokens, ARotationKeepsOldTokensValidAndSignsWithTheNewSecret) {
  const std::string old_token = Signer({kSecret}).ticket_token("rubis", 7);
  const Signer rotated({kOther, kSecret});
  EXPECT_TRUE(rotated.check_ticket("rubis", 7, old_token));
  EXPECT_EQ(rotated.ticket_token("rubis", 7), Signer({kOther}).ticket_token("rubis", 7));
  EXPECT_FALSE(Signer({kOther}).check_ticket("rubis", 7, old_token)) << "once the old secret is removed";
}

TEST(Tokens, ASessionOpensToWhatWasSignedUntilItExpires) {
  const Signer signer({kSecret});
  const Session session{"rubis.desk-3", take | read, kNow + 1h, key_tag(sha256("wl_key"))};
  const std::string token = signer.session_token(session);
  const auto opened = signer.open_session(token, kNow);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->key_name, "rubis.desk-3");
  EXPECT_EQ(opened->scopes, take | read);
  EXPECT_EQ(opened->expires, kNow + 1h);
  EXPECT_EQ(opened->key, session.key);
  EXPECT_FALSE(signer.open_session(token, kNow + 1h)) << "expired at its expiry";
  EXPECT_TRUE(Signer({kOther, kSecret}).open_session(token, kNow)) << "a rotation keeps sessions open";
  EXPECT_FALSE(Signer({kOther}).open_session(token, kNow));
}

TEST(Tokens, ASessionAlteredAnywhereOrMadeOfATicketTokenDoesNotOpen) {
  const Signer signer({kSecret});
  const std::string token = signer.session_token({"desk", all_scopes, kNow + 1h, {}});
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(signer.open_session(altered, kNow)) << "byte " << i;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "abc", "abc.def", token + ".x", token.substr(0, token.find('.'))}) {
    EXPECT_FALSE(signer.open_session(bad, kNow)) << bad;
  }
  // A ticket token is signed for another purpose: it never passes for a session's signature.
  const std::string payload = token.substr(0, token.find('.'));
  EXPECT_FALSE(signer.open_session(payload + "." + signer.ticket_token("rubis", 1), kNow));
}

TEST(Tokens, Base64UrlIsUnpaddedAndCanonical) {
  EXPECT_EQ(base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  EXPECT_EQ(base64url_decode(""), "");
  EXPECT_FALSE(base64url_decode("-_9")) << "non-zero bits after the last byte";
  EXPECT_FALSE(base64url_decode("A")) << "one character holds no byte";
  EXPECT_FALSE(base64url_decode("AA==")) << "no padding";
  EXPECT_FALSE(base64url_decode("+/")) << "base64url, not base64";
}

TEST(SecretFile, OneSecretPerLineAtLeast32CharactersCommentsAllowed) {
  EXPECT_EQ(SecretStore::parse("# current\n" + kOther + "\n\n  " + kSecret + "  \r\n", "f"),
            (std::vector<std::string>{kOther, kSecret}));
  try {
    SecretStore::parse(kSecret + "\nshort\n", "ticket.secret");
    FAIL() << "a short secret was accepted";
  } catch (const SecretFileError& e) {
    EXPECT_STREQ(e.what(), "ticket.secret:2: a secret must be at least 32 characters (openssl rand -hex 32)");
  }
  EXPECT_THROW(SecretStore::parse("# nothing\n\n", "f"), SecretFileError);
}

TEST(SecretFile, AReloadSwapsTheSignerAndABadFileKeepsIt) {
  const auto path = std::filesystem::temp_directory_path() / ("waitline-secret-" + std::to_string(::getpid()));
  std::ofstream(path) << kSecret << "\n";
  SecretStore store(path.string());
  const std::string before = store.current()->ticket_token("rubis", 1);
  std::ofstream(path, std::ios::trunc) << kOther << "\n" << kSecret << "\n";
  store.reload();
  EXPECT_NE(store.current()->ticket_token("rubis", 1), before);
  EXPECT_TRUE(store.current()->check_ticket("rubis", 1, before));
  std::ofstream(path, std::ios::trunc) << "short\n";
  EXPECT_THROW(store.reload(), SecretFileError);
  EXPECT_TRUE(store.current()->check_ticket("rubis", 1, before)) << "the previous signer stays";
  std::filesystem::remove(path);
  EXPECT_THROW(store.reload(), SecretFileError);
  EXPECT_THROW(SecretStore(path.string()), SecretFileError);
}

}  // namespace
}  // namespace waitline::auth
