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
