// Maps (method, path) to a handler, and says 404 or 405 (with the allowed methods) otherwise.
//
//   Router<Handler> router;
//   router.add(verb::post, "/get_ticket", take);
//   router.add(verb::get, "/tickets/{n}/events", ticket_events);   // {n}: any one path segment
//   router.add_prefix(verb::get, "/docs/", "/docs/{asset}", document);
//   auto match = router.find(verb::get, "/tickets/42/events");     // match.params == {"42"}
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
    const bool pattern = path.find('{') != std::string_view::npos;
    routes_.push_back(
        {method, std::string(path), std::string(path), pattern ? Kind::pattern : Kind::exact, std::move(handler)});
  }
  void add_prefix(verb method, std::string_view prefix, std::string_view label, Handler handler) {
    routes_.push_back({method, std::string(prefix), std::string(label), Kind::prefix, std::move(handler)});
  }

  struct Match {
    const Handler* handler = nullptr;      // null: not found (allow empty) or wrong method
    std::string_view route;                // the label of the path, "unmatched" when none
    std::string allow;                     // for 405: "GET, POST"
    std::vector<std::string_view> params;  // the segments that a template's {...} matched
  };

  Match find(verb method, std::string_view path) const {
    Match match{nullptr, "unmatched", {}, {}};
    std::vector<std::string_view> params;
    for (const auto& r : routes_) {
      params.clear();
      if (!matches(r, path, params)) continue;
      match.route = r.label;
      if (r.method == method) {
        match.handler = &r.handler;
        match.allow.clear();
        match.params = std::move(params);
        return match;
      }
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += boost::beast::http::to_string(r.method);
    }
    return match;
  }

 private:
  enum class Kind { exact, prefix, pattern };
  struct Route {
    verb method = verb::unknown;
    std::string path;
    std::string label;
    Kind kind;
    Handler handler;
  };

  static bool matches(const Route& r, std::string_view path, std::vector<std::string_view>& params) {
    switch (r.kind) {
      case Kind::exact: return path == r.path;
      case Kind::prefix: return path.starts_with(r.path) && path.size() > r.path.size();
      case Kind::pattern: break;
    }
    // Segment by segment; "{...}" takes any non-empty segment.
    std::string_view pattern = r.path;
    while (!pattern.empty() || !path.empty()) {
      if (pattern.empty() || path.empty() || pattern.front() != '/' || path.front() != '/') return false;
      pattern.remove_prefix(1);
      path.remove_prefix(1);
      const auto segment = pattern.substr(0, pattern.find('/'));
      const auto given = path.substr(0, path.find('/'));
      if (segment.starts_with('{')) {
        if (given.empty()) return false;
        params.push_back(given);
      } else if (segment != given) {
        return false;
      }
      pattern.remove_prefix(segment.size());
      path.remove_prefix(given.size());
    }
    return true;
  }

  std::vector<Route> routes_;
};

}  // namespace waitline::http
