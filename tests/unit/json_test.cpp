// The JSON writer: every string a caller gives comes back unchanged through a real parser
// (Boost.JSON), whatever bytes it holds and wherever they sit; numbers as JSON writes them.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "json/json.hpp"

namespace waitline::json {
namespace {

std::string read_back(std::string_view text) {
  std::string body;
  Object(body).text("value", text).close();
  return std::string(boost::json::parse(body).as_object().at("value").as_string());
}

TEST(Json, EveryAsciiByteRoundTripsAtTheStartTheMiddleAndTheEnd) {
  for (int byte = 0; byte < 0x80; ++byte) {
    const char c = static_cast<char>(byte);
    for (const std::string& text : {std::string(1, c), std::string("ab") + c + "cd", std::string("ab") + c,
                                    std::string(1, c) + "cd", std::string(3, c)}) {
      SCOPED_TRACE(byte);
      EXPECT_EQ(read_back(text), text);
    }
  }
}

TEST(Json, EscapesOnlyWhatJsonRequires) {
  std::string body;
  Object(body).text("k", "q\"b\\n\nr\rt\tc\x01\x1f/é").close();
  EXPECT_EQ(body, R"({"k":"q\"b\\n\nr\rt\tc\u0001\u001f/é"})");
}

TEST(Json, MembersNumbersAndNulls) {
  std::string body;
  Object(body)
      .text("queue", "rubis")
      .number("ticket", -42)
      .number_or_null("next", std::nullopt)
      .text_or_null("key", "")
      .fixed("took", 1.25, 3)
      .boolean("replayed", true)
      .raw("list", "[1,2]")
      .close();
  EXPECT_EQ(body, R"({"queue":"rubis","ticket":-42,"next":null,"key":null,"took":1.250,"replayed":true,"list":[1,2]})");
  EXPECT_NO_THROW(boost::json::parse(body));
}

TEST(Json, TimesAreRfc3339InUtcWithMilliseconds) {
  const auto text = [](std::int64_t ms) {
    std::string out;
    append_time(out, ms);
    return out;
  };
  EXPECT_EQ(text(0), "\"1970-01-01T00:00:00.000Z\"");
  EXPECT_EQ(text(1796599557688), "\"2026-12-06T23:25:57.688Z\"");
  EXPECT_EQ(text(951782400005), "\"2000-02-29T00:00:00.005Z\"");
  EXPECT_EQ(text(-1), "\"1969-12-31T23:59:59.999Z\"") << "milliseconds stay in 0-999 before 1970";
  std::string body;
  Object(body).time("at", 1000).close();
  EXPECT_EQ(body, R"({"at":"1970-01-01T00:00:01.000Z"})");
}

}  // namespace
}  // namespace waitline::json
