#include "api/router.h"

#include <boost/url/parse.hpp>

#include "core/json.h"

namespace modeld::api {

namespace {

std::vector<std::string> SplitPattern(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

// Matches |segs| (decoded) against |pat|; fills |params|.
bool MatchSegments(const std::vector<std::string>& pat, const std::vector<std::string>& segs,
                   Params* params) {
  for (size_t i = 0; i < pat.size(); ++i) {
    const std::string& p = pat[i];
    if (!p.empty() && p[0] == '*') {
      if (i >= segs.size()) return false;
      std::string rest;
      for (size_t k = i; k < segs.size(); ++k) rest += (k > i ? "/" : "") + segs[k];
      params->path[p.substr(1)] = rest;
      return true;
    }
    if (i >= segs.size()) return false;
    if (!p.empty() && p[0] == ':') {
      params->path[p.substr(1)] = segs[i];
    } else if (p != segs[i]) {
      return false;
    }
  }
  return segs.size() == pat.size();
}

}  // namespace

Response JsonResponse(http::status status, const std::string& json_body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = json_body;
  return res;
}

Response ErrorResponse(http::status status, const std::string& detail) {
  return JsonResponse(status, DumpJson(nlohmann::json{{"detail", detail}}));
}

Router::Router(std::vector<Route> routes, std::vector<std::string> dialects)
    : dialects_(std::move(dialects)) {
  for (auto& r : routes) {
    Compiled c{std::move(r), {}};
    c.segments = SplitPattern(c.route.pattern);
    routes_.push_back(std::move(c));
  }
}

std::optional<Router::Match> Router::Find(http::verb method, std::string_view target) const {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;
  Match m;
  m.params.listener_dialects = &dialects_;
  for (auto qp : parsed->params()) m.params.query[std::string(qp.key)] = std::string(qp.value);
  std::vector<std::string> segs;
  for (auto seg : parsed->segments()) {
    if (!seg.empty()) segs.emplace_back(seg);
  }
  for (const auto& r : routes_) {
    Params p = m.params;
    if (!MatchSegments(r.segments, segs, &p)) continue;
    m.path_matched = true;
    if (r.route.method != method) continue;
    m.route = &r.route;
    m.params = std::move(p);
    break;
  }
  return m;
}

}  // namespace modeld::api
