// Request targets (the path and query of every request): api::Router::Find over a table
// shaped like the generic API's, and api::ErrorResponse, whose JSON carries text from the
// request back to the client.
//
// Invariants: Find never throws; a route matched implies its path matched; ':id' takes
// one non-empty decoded segment and '*name' the rest; the target written back from the
// route's pattern and the params (every byte percent-encoded) finds the same route with
// the same params; ErrorResponse's body is JSON holding the detail (any valid UTF-8).
#include <nlohmann/json.hpp>
#include <string>

#include "api/router.h"
#include "core/json.h"
#include "fuzz_check.h"

namespace {

using modeld::api::http::verb;

const modeld::api::Router& Table() {
  static const modeld::api::Router* router = [] {
    auto h = [](const auto&, const auto&, auto) {};
    std::vector<modeld::api::Route> routes;
    for (auto [method, pattern] : std::initializer_list<std::pair<verb, const char*>>{
             {verb::get, "/models"},
             {verb::get, "/models/*name"},
             {verb::delete_, "/models/*name"},
             {verb::post, "/model-download"},
             {verb::get, "/model-download/:id/progress"},
             {verb::delete_, "/model-download/:id"},
             {verb::get, "/catalog/:source/models/*name"}}) {
      modeld::api::Route r{method, pattern};
      r.handler = h;
      routes.push_back(std::move(r));
    }
    return new modeld::api::Router(std::move(routes));
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view target = fuzz::AsText(data, size);
  for (verb method : {verb::get, verb::delete_, verb::post}) {
    auto m = Table().Find(method, target);
    if (!m) break;
    if (m->route) FUZZ_CHECK(m->path_matched && m->route->method == method);
    if (!m->route) continue;
    // Written back: the pattern with each parameter encoded, and the query.
    std::string again = "/";
    std::string_view pattern = m->route->pattern;
    for (size_t i = 1; i <= pattern.size();) {
      size_t slash = pattern.find('/', i);
      if (slash == std::string_view::npos) slash = pattern.size();
      std::string seg(pattern.substr(i, slash - i));
      if (seg[0] == ':' || seg[0] == '*') {
        const std::string& value = m->params.Path(seg.substr(1));
        FUZZ_CHECK(!value.empty());
        if (seg[0] == ':') FUZZ_CHECK(m->params.path.count(seg.substr(1)) == 1);
        seg = modeld::fuzz::PercentEncode(value);
      }
      again += (again.size() > 1 ? "/" : "") + seg;
      i = slash + 1;
    }
    std::string query;
    for (const auto& [k, v] : m->params.query)
      query += (query.empty() ? "?" : "&") + modeld::fuzz::PercentEncode(k) + "=" +
               modeld::fuzz::PercentEncode(v);
    auto m2 = Table().Find(method, again + query);
    FUZZ_CHECK(m2 && m2->route == m->route);
    FUZZ_CHECK(m2->params.path == m->params.path);
    FUZZ_CHECK(m2->params.query == m->params.query);
  }

  // Errors echo request text: the body must stay JSON.
  std::string detail(target.substr(0, 512));
  auto res = api::ErrorResponse(api::http::status::bad_request, detail);
  bool utf8 = true;
  try {
    (void)nlohmann::json(detail).dump();
  } catch (const nlohmann::json::exception&) {
    utf8 = false;
  }
  if (utf8) {
    auto body = ParseJson(res.body(), "error body");
    FUZZ_CHECK(body.has_value() && body->is_object() && body->size() == 1);
    FUZZ_CHECK((*body)["detail"] == detail);
  }
  return 0;
}
