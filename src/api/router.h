// Router: matches a request's method and decoded path against a route table.
//
// Patterns are "/literal/:param/..." with an optional last "*rest" that takes the
// remaining segments joined by '/' (model names such as "Qwen/Qwen2.5-0.5B"). Empty
// segments are ignored, so "//models" is "/models". The first route whose path and
// method match wins.
//
// Thread safety: immutable after construction; Find is safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/route.h"

namespace modeld::api {

class Router {
 public:
  // |dialects|: the names of the dialects the routes are of, given to every handler
  // (Params::listener_dialects).
  explicit Router(std::vector<Route> routes, std::vector<std::string> dialects = {});

  struct Match {
    const Route* route = nullptr;  // null: no route for this method (see path_matched)
    bool path_matched = false;     // some route has this path: 405 rather than 404
    Params params;
  };
  // |target| is the request target in origin form ("/a/b?x=1"). nullopt when it does
  // not parse (400).
  std::optional<Match> Find(http::verb method, std::string_view target) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;
  };
  std::vector<Compiled> routes_;
  std::vector<std::string> dialects_;
};

}  // namespace modeld::api
