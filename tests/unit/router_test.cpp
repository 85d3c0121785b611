#include "http/router.hpp"

#include <gtest/gtest.h>

using waitline::http::Router;
using verb = boost::beast::http::verb;

TEST(Router, FindsTheHandlerForMethodAndPath) {
  Router<int> router;
  router.add(verb::post, "/get_ticket", 1);
  router.add(verb::get, "/get_ticket", 2);
  auto match = router.find(verb::get, "/get_ticket");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(*match.handler, 2);
  EXPECT_EQ(match.route, "/get_ticket");
}

TEST(Router, WrongMethodListsTheAllowedOnes) {
  Router<int> router;
  router.add(verb::post, "/call_ticket", 1);
  router.add(verb::get, "/call_ticket", 2);
  auto match = router.find(verb::delete_, "/call_ticket");
  EXPECT_EQ(match.handler, nullptr);
  EXPECT_EQ(match.allow, "POST, GET");
  EXPECT_EQ(match.route, "/call_ticket");
}

TEST(Router, UnknownPathsShareOneLabel) {
  Router<int> router;
  router.add(verb::get, "/list_tickets", 1);
  for (auto path : {"/list_tickets/", "/nope", "/list_ticketsX", ""}) {
    auto match = router.find(verb::get, path);
    EXPECT_EQ(match.handler, nullptr) << path;
    EXPECT_TRUE(match.allow.empty()) << path;
    EXPECT_EQ(match.route, "unmatched") << path;
  }
}

TEST(Router, PrefixRoutesAreLabelledByTheirTemplate) {
  Router<int> router;
  router.add(verb::get, "/docs", 1);
  router.add_prefix(verb::get, "/docs/", "/docs/{asset}", 2);
  auto asset = router.find(verb::get, "/docs/swagger-ui.css");
  ASSERT_NE(asset.handler, nullptr);
  EXPECT_EQ(*asset.handler, 2);
  EXPECT_EQ(asset.route, "/docs/{asset}");
  EXPECT_EQ(router.find(verb::get, "/docs/").handler, nullptr);  // the prefix alone is not an asset
  EXPECT_EQ(*router.find(verb::get, "/docs").handler, 1);
}

TEST(Router, TemplatesMatchOneSegmentPerParameterAndKeepTheirLabel) {
  Router<int> router;
  router.add(verb::get, "/tickets/{n}", 1);
  router.add(verb::get, "/tickets/{n}/events", 2);
  auto ticket = router.find(verb::get, "/tickets/42");
  ASSERT_NE(ticket.handler, nullptr);
  EXPECT_EQ(*ticket.handler, 1);
  EXPECT_EQ(ticket.route, "/tickets/{n}");
  EXPECT_EQ(ticket.params, (std::vector<std::string_view>{"42"}));
  auto events = router.find(verb::get, "/tickets/7/events");
  ASSERT_NE(events.handler, nullptr);
  EXPECT_EQ(*events.handler, 2);
  EXPECT_EQ(events.route, "/tickets/{n}/events");
  EXPECT_EQ(events.params, (std::vector<std::string_view>{"7"}));
  for (const char* path : {"/tickets/", "/tickets", "/tickets//events", "/tickets/1/2", "/tickets/1/events/",
                           "/tickets/1/event", "/ticket/1"}) {
    SCOPED_TRACE(path);
    auto none = router.find(verb::get, path);
    EXPECT_EQ(none.handler, nullptr);
    EXPECT_EQ(none.route, "unmatched");
  }
  auto wrong = router.find(verb::post, "/tickets/1");
  EXPECT_EQ(wrong.handler, nullptr);
  EXPECT_EQ(wrong.allow, "GET");
  EXPECT_TRUE(wrong.params.empty());
}
