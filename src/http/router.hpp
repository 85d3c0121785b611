// Maps (method, path) to a handler, and says 404 or 405 (with the allowed methods) otherwise.
//
//   Router<Handler> router;
//   router.add(verb::post, "/get_ticket", &Api::take);
//   router.add_prefix(verb::get, "/docs/", "/docs/{asset}", &Api::asset);
//   auto match = router.find(verb::get, "/docs/swagger-ui.css");
//
// The route label (the registered path, or its template) is what metrics and logs use, so that
// label values stay bounded whatever paths clients send.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace waitline::http {

template <class Handler>
class Router {
 public:
  using verb = boost::beast::http::verb;

  void add(verb method, std::string_view path, Handler handler) {
    routes_.push_back({method, std::string(path), std::string(path), false, std::move(handler)});
  }
  void add_prefix(verb method, std::string_view prefix, std::string_view label, Handler handler) {
    routes_.push_back({method, std::string(prefix), std::string(label), true, std::move(handler)});
  }

  struct Match {
    const Handler* handler = nullptr;  // null: not found (allow empty) or wrong method
    std::string_view route;            // the label of the path, "unmatched" when none
    std::string allow;                 // for 405: "GET, POST"
  };

  Match find(verb method, std::string_view path) const {
    Match match{nullptr, "unmatched", {}};
    for (const auto& r : routes_) {
      if (!(r.prefix ? path.starts_with(r.path) && path.size() > r.path.size() : path == r.path)) continue;
      match.route = r.label;
      if (r.method == method) {
        match.handler = &r.handler;
        match.allow.clear();
        return match;
      }
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += boost::beast::http::to_string(r.method);
    }
    return match;
  }

 private:
  struct Route {
    verb method;
    std::string path;
    std::string label;
    bool prefix;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace waitline::http
