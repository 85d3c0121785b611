#include "auth/auth.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "support/temp_dir.hpp"

namespace {

namespace auth = waitline::auth;
using auth::KeyFileError;
using auth::KeyStore;
using auth::KeyTable;
using auth::Verdict;

std::string hash_of(std::string_view key) { return auth::to_hex(auth::sha256(key)); }

// The KeyFileError message parsing `text` gives; fails the test when it parses.
std::string key_file_error(const std::string& text) {
  try {
    KeyTable::parse(text, "keys.txt");
  } catch (const KeyFileError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a KeyFileError for:\n" << text;
  return {};
}

using waitline::test::TempDir;

TEST(Auth, Sha256MatchesKnownVectors) {
  EXPECT_EQ(hash_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Auth, ScopesParseInAnyOrderWithDuplicates) {
  EXPECT_EQ(auth::parse_scopes("take"), auth::take);
  EXPECT_EQ(auth::parse_scopes("read,take,call,take"), auth::all_scopes);
  EXPECT_EQ(auth::parse_scopes("*"), auth::all_scopes);
  EXPECT_EQ(auth::parse_scopes("call,read"), auth::call | auth::read);
}

TEST(Auth, BadScopeIsNamed) {
  try {
    auth::parse_scopes("take,admin");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(R"("admin")"), std::string::npos) << error.what();
  }
  for (const std::string_view text : {"", "take,", ",take", "take,,call", "Take", "take call"}) {
    EXPECT_THROW(auth::parse_scopes(text), std::invalid_argument) << text;
  }
}

TEST(Auth, ScopesFormatInFixedOrder) {
  EXPECT_EQ(auth::format_scopes(auth::all_scopes), "take,call,read");
  EXPECT_EQ(auth::format_scopes(auth::read | auth::take), "take,read");
}

TEST(Auth, KeyFileWithCommentsAndBlankLinesParses) {
  const std::string text =
      "# name  scopes  sha256\n"
      "\n"
      "kiosk  take  " +
      hash_of("kiosk-key") +
      "\n"
      "   # an indented comment\n"
      "desk\ttake,call,read\t\t" +
      hash_of("desk-key") +
      "\r\n"
      "screen read " +
      hash_of("screen-key");  // no final newline
  const KeyTable table = KeyTable::parse(text, "keys.txt");
  EXPECT_EQ(table.size(), 3u);
  ASSERT_NE(table.find("desk-key"), nullptr);
  EXPECT_EQ(table.find("desk-key")->name, "desk");
  EXPECT_EQ(table.find("desk-key")->scopes, auth::all_scopes);
  ASSERT_NE(table.find("screen-key"), nullptr);
  EXPECT_EQ(table.find("screen-key")->scopes, auth::read);
}

TEST(Auth, UpperCaseHashIsAccepted) {
  std::string hash = hash_of("key");
  for (char& c : hash) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const KeyTable table = KeyTable::parse("name take " + hash + "\n", "keys.txt");
  ASSERT_NE(table.find("key"), nullptr);
  EXPECT_EQ(auth::to_hex(table.find("key")->hash), hash_of("key"));
}

TEST(Auth, KeyFileWithoutKeysIsValidAndEmpty) {
  EXPECT_EQ(KeyTable::parse("", "keys.txt").size(), 0u);
  EXPECT_EQ(KeyTable::parse("# nobody yet\n\n", "keys.txt").size(), 0u);
}

TEST(Auth, KeyFileErrorsNameTheLineAndNeverTheHash) {
  const std::string hash = hash_of("secret-key");
  const std::string good = "good take " + hash_of("good-key") + "\n";
  struct Case {
    std::string line;
    std::string message;
  };
  const Case cases[] = {
      {"name take", "keys.txt:3: expected 3 fields (name scopes sha256), found 2"},
      {"name take " + hash + " x", "keys.txt:3: expected 3 fields (name scopes sha256), found 4"},
      {"name take " + hash + " # kiosk", "keys.txt:3: a comment must be on a line of its own"},
      {"bad/name take " + hash, "keys.txt:3: name must be 1 to 64 of A-Z a-z 0-9 _ . -"},
      {std::string(65, 'n') + " take " + hash, "keys.txt:3: name must be 1 to 64 of A-Z a-z 0-9 _ . -"},
      {"name admin " + hash, "keys.txt:3: scopes must be a comma list of take, call, read, or *"},
      {"name take, " + hash, "keys.txt:3: scopes must be a comma list of take, call, read, or *"},
      {"name take " + hash.substr(1), "keys.txt:3: sha256 must be 64 hex digits"},
      {"name take " + hash + "0", "keys.txt:3: sha256 must be 64 hex digits"},
      {"name take g" + hash.substr(1), "keys.txt:3: sha256 must be 64 hex digits"},
      {"name take secret-key", "keys.txt:3: sha256 must be 64 hex digits"},
  };
  for (const Case& c : cases) {
    const std::string message = key_file_error("# keys\n" + good + c.line + "\n");
    EXPECT_EQ(message, c.message) << c.line;
    EXPECT_EQ(message.find(hash.substr(1, 60)), std::string::npos) << message;
    EXPECT_EQ(message.find("secret-key"), std::string::npos) << message;
  }
}

TEST(Auth, DuplicateNameIsRejected) {
  EXPECT_EQ(key_file_error("desk take " + hash_of("a") + "\n\ndesk read " + hash_of("b") + "\n"),
            "keys.txt:3: name already used on line 1");
}

TEST(Auth, SameKeyUnderTwoNamesIsRejected) {
  EXPECT_EQ(key_file_error("desk take " + hash_of("a") + "\nkiosk read " + hash_of("a") + "\n"),
            "keys.txt:2: same sha256 as line 1");
}

TEST(Auth, FindMatchesOnlyTheRightKey) {
  const KeyTable table = KeyTable::parse("alpha take " + hash_of("key-a") + "\nbeta read " + hash_of("key-b") + "\n",
                                         "keys.txt");
  ASSERT_NE(table.find("key-a"), nullptr);
  EXPECT_EQ(table.find("key-a")->name, "alpha");
  ASSERT_NE(table.find("key-b"), nullptr);
  EXPECT_EQ(table.find("key-b")->name, "beta");
  EXPECT_EQ(table.find("key-c"), nullptr);
  EXPECT_EQ(table.find("key-a "), nullptr);
  EXPECT_EQ(table.find(""), nullptr);
  EXPECT_EQ(table.find(hash_of("key-a")), nullptr);  // the hash is not the key
}

class Authorize : public testing::Test {
 protected:
  const KeyTable table = KeyTable::parse("kiosk take " + hash_of("kiosk-key") + "\ndesk take,call " +
                                             hash_of("desk-key") + "\n",
                                         "keys.txt");
};

TEST_F(Authorize, AbsentHeaderIsMissing) {
  EXPECT_EQ(auth::authorize(table, "", auth::take).verdict, Verdict::missing);
  EXPECT_EQ(auth::authorize(table, "", auth::take).key_name, "");
}

TEST_F(Authorize, OtherSchemeIsUnknown) {
  for (const std::string_view header : {"Basic kiosk-key", "Token kiosk-key", "kiosk-key", "Bearer", "Bearer   ",
                                        "Bearerkiosk-key", "Bearer: kiosk-key"}) {
    EXPECT_EQ(auth::authorize(table, header, auth::take).verdict, Verdict::unknown) << header;
  }
}

TEST_F(Authorize, UnknownKeyIsUnknown) {
  const auto decision = auth::authorize(table, "Bearer guessed-key", auth::take);
  EXPECT_EQ(decision.verdict, Verdict::unknown);
  EXPECT_EQ(decision.key_name, "");
}

TEST_F(Authorize, KeyWithoutTheScopeIsForbidden) {
  const auto decision = auth::authorize(table, "Bearer kiosk-key", auth::call);
  EXPECT_EQ(decision.verdict, Verdict::forbidden);
  EXPECT_EQ(decision.key_name, "kiosk");
}

TEST_F(Authorize, KeyWithTheScopeIsAllowed) {
  const auto decision = auth::authorize(table, "Bearer desk-key", auth::call);
  EXPECT_EQ(decision.verdict, Verdict::allowed);
  EXPECT_EQ(decision.key_name, "desk");
}

TEST_F(Authorize, SchemeIsCaseInsensitiveAndSpacesAreTrimmed) {
  for (const std::string_view header :
       {"bearer kiosk-key", "BEARER kiosk-key", "Bearer    kiosk-key", "  Bearer kiosk-key  ", "Bearer\tkiosk-key"}) {
    EXPECT_EQ(auth::authorize(table, header, auth::take).verdict, Verdict::allowed) << header;
  }
}

TEST(Auth, KeyStoreReloadSwapsTheTable) {
  const TempDir dir;
  const auto path = dir.write("keys", "one take " + hash_of("key-1") + "\n");
  KeyStore store(path);
  EXPECT_EQ(store.path(), path);
  const auto before = store.current();
  ASSERT_NE(before->find("key-1"), nullptr);

  dir.write("keys", "two take " + hash_of("key-2") + "\n");
  store.reload();
  EXPECT_EQ(store.current()->find("key-1"), nullptr);
  ASSERT_NE(store.current()->find("key-2"), nullptr);
  // A request that took the old table keeps a whole, working one.
  ASSERT_NE(before->find("key-1"), nullptr);
  EXPECT_EQ(before->find("key-1")->name, "one");
}

TEST(Auth, FailedReloadKeepsTheOldTable) {
  const TempDir dir;
  const auto path = dir.write("keys", "one take " + hash_of("key-1") + "\n");
  KeyStore store(path);

  dir.write("keys", "one take " + hash_of("key-1") + "\ntwo take not-a-hash\n");
  EXPECT_THROW(store.reload(), KeyFileError);
  ASSERT_NE(store.current()->find("key-1"), nullptr);

  std::filesystem::remove(path);
  try {
    store.reload();
    FAIL() << "expected a KeyFileError";
  } catch (const KeyFileError& error) {
    EXPECT_EQ(std::string(error.what()), path + ": cannot open: No such file or directory");
  }
  EXPECT_EQ(store.current()->size(), 1u);
}

TEST(Auth, UnreadableKeyFileIsAnError) {
  const TempDir dir;
  EXPECT_THROW(KeyStore((dir.path() / "absent").string()), KeyFileError);
  try {
    KeyTable::load(dir.path().string());
    FAIL() << "expected a KeyFileError";
  } catch (const KeyFileError& error) {
    EXPECT_EQ(std::string(error.what()), dir.path().string() + ": cannot read: Is a directory");
  }
}

TEST(Auth, GeneratedKeysAre256RandomBitsInBase64Url) {
  std::set<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    const std::string key = auth::generate_key();
    ASSERT_EQ(key.size(), 3u + 43u) << key;
    EXPECT_TRUE(key.starts_with("wl_")) << key;
    constexpr std::string_view base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    EXPECT_EQ(key.find_first_not_of(base64url, 3), std::string::npos) << key;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 100u);
}

TEST(Auth, KeyLineRoundTripsThroughTheKeyFile) {
  const std::string key = auth::generate_key();
  const std::string line = auth::key_line("rubis-desk", auth::call | auth::take, key);
  EXPECT_EQ(line, "rubis-desk take,call " + hash_of(key));

  const KeyTable table = KeyTable::parse(line + "\n", "keys.txt");
  ASSERT_NE(table.find(key), nullptr);
  EXPECT_EQ(table.find(key)->name, "rubis-desk");
  EXPECT_EQ(auth::authorize(table, "Bearer " + key, auth::call).verdict, Verdict::allowed);
  EXPECT_EQ(auth::authorize(table, "Bearer " + key, auth::read).verdict, Verdict::forbidden);
}

}  // namespace
