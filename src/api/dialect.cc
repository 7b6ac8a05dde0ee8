#include "api/dialect.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/json.h"
#include "core/mutex.h"

namespace modeld::api {

namespace {

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// The shape of a pattern: parameter names blanked, so "/models/:id" and "/models/:name"
// collide. Also the names, in order.
// A pattern's segments ranked for the router's order: a literal 0, a ":param" 1, a "*rest" 2.
// Compared as vectors, the more specific pattern is the smaller: "/models/unload" [0,0]
// before "/models/:id/delete" [0,1,0] before "/models/*name" [0,2].
std::vector<int> Specificity(const std::string& pattern) {
  std::vector<int> ranks;
  size_t i = 0;
  while (i < pattern.size()) {
    size_t end = pattern.find('/', i);
    if (end == std::string::npos) end = pattern.size();
    if (end > i) ranks.push_back(pattern[i] == ':' ? 1 : pattern[i] == '*' ? 2 : 0);
    i = end + 1;
  }
  return ranks;
}

std::string Shape(const std::string& pattern, std::vector<std::string>* names) {
  std::string shape;
  for (const auto& seg : Segments(pattern)) {
    shape += '/';
    if (!seg.empty() && (seg[0] == ':' || seg[0] == '*')) {
      shape += seg[0];
      if (names) names->push_back(seg.substr(1));
    } else {
      shape += seg;
    }
  }
  return shape.empty() ? "/" : shape;
}

// Every dialect's answer combined: their JSON objects merged (the first dialect's value
// wins a shared key); the first answer as it is if any is not a 2xx JSON object.
// REQUIRES: each of |got| answered.
Response Combine(std::vector<std::optional<Response>>& got) {
  nlohmann::json combined = nlohmann::json::object();
  for (auto& r : got) {
    int code = r->result_int();
    auto j = ParseJsonOrDiscarded(r->body());
    if (code < 200 || code > 299 || !j.is_object()) return std::move(*got.front());
    for (auto& [k, v] : j.items()) {
      if (!combined.contains(k)) combined[k] = std::move(v);
    }
  }
  return JsonResponse(got.front()->result(), DumpJson(combined));
}

// One route answering for several dialects: every handler runs, and their JSON objects
// are combined into one answer (the first dialect's value wins a shared key). If any
// answer is not a 2xx JSON object, the first dialect's answer is sent as it is.
Route MergeRoutes(std::vector<Route> same) {
  Route merged = same.front();
  std::vector<std::vector<std::string>> names(same.size());
  for (size_t i = 0; i < same.size(); ++i) Shape(same[i].pattern, &names[i]);
  for (const auto& r : same) {
    merged.lane = std::max(merged.lane, r.lane);
    merged.form_body = merged.form_body && r.form_body;  // every handler must read it
  }
  struct Part {
    Handler handler;
    std::vector<std::string> names;
  };
  std::vector<Part> parts;
  for (size_t i = 0; i < same.size(); ++i) parts.push_back({same[i].handler, names[i]});
  const std::vector<std::string> first_names = names.front();
  merged.handler = [parts, first_names](const Request& req, const Params& params,
                                        Responder respond) {
    struct State {
      State(size_t n, Responder r) : got(n), left(n), respond(std::move(r)) {}
      Mutex mu;
      std::vector<std::optional<Response>> got GUARDED_BY(mu);
      size_t left GUARDED_BY(mu);
      const Responder respond;
    };
    auto st = std::make_shared<State>(parts.size(), std::move(respond));
    // Once all have answered. Combined under the lock (a handler that answers again still
    // looks at |got|), sent outside it.
    auto finish = [st] {
      Response res;
      {
        MutexLock lock(&st->mu);
        res = Combine(st->got);
      }
      st->respond(std::move(res));
    };
    for (size_t i = 0; i < parts.size(); ++i) {
      // Each dialect's handler sees its own parameter names.
      Params own = params;
      for (size_t k = 0; k < first_names.size() && k < parts[i].names.size(); ++k) {
        auto it = params.path.find(first_names[k]);
        if (it != params.path.end()) own.path[parts[i].names[k]] = it->second;
      }
      parts[i].handler(req, own, [st, i, finish](Response res) {
        bool done = false;
        {
          MutexLock lock(&st->mu);
          if (st->got[i]) return;  // a handler answers once
          st->got[i] = std::move(res);
          done = --st->left == 0;
        }
        if (done) finish();
      });
    }
  };
  return merged;
}

}  // namespace

Result<ListenSpec> ParseListenSpec(const std::string& spec) {
  ListenSpec out;
  size_t eq = spec.find('=');
  out.address = spec.substr(0, eq);
  if (out.address.empty()) return Status::InvalidArgument("--listen '" + spec + "': no address");
  if (eq != std::string::npos) {
    std::string list = spec.substr(eq + 1);
    size_t i = 0;
    while (i <= list.size()) {
      size_t comma = list.find(',', i);
      if (comma == std::string::npos) comma = list.size();
      std::string name = list.substr(i, comma - i);
      if (name.empty())
        return Status::InvalidArgument("--listen '" + spec + "': an empty dialect name");
      out.dialects.push_back(name);
      i = comma + 1;
    }
  }
  return out;
}

std::vector<ListenerRoute> ListenerRoutes(const std::vector<const Dialect*>& dialects) {
  // Routes in dialect order, each under every prefix of its dialect; colliding ones
  // gathered where the first of them stands.
  std::vector<ListenerRoute> groups;
  std::vector<std::pair<std::string, size_t>> index;  // "METHOD shape" -> group
  for (const Dialect* d : dialects) {
    for (const auto& prefix : d->prefixes) {
      for (Route r : d->routes) {
        r.pattern = prefix + r.pattern;
        std::string key = std::string(http::to_string(r.method)) + " " + Shape(r.pattern, nullptr);
        auto it =
            std::find_if(index.begin(), index.end(), [&](const auto& e) { return e.first == key; });
        if (it == index.end()) {
          index.emplace_back(key, groups.size());
          groups.push_back({{}, {d}, {std::move(r)}});
        } else {
          groups[it->second].dialects.push_back(d);
          groups[it->second].parts.push_back(std::move(r));
        }
      }
    }
  }
  for (auto& g : groups) {
    bool mergeable =
        g.parts.size() > 1 && std::all_of(g.parts.begin(), g.parts.end(),
                                          [](const Route& r) { return r.handler && !r.stream; });
    if (mergeable) {
      g.route = MergeRoutes(g.parts);
    } else {
      g.route = g.parts.front();
      g.dialects.resize(1);
      g.parts.resize(1);
    }
  }
  // The router takes the first match: the most specific pattern goes first, whatever the
  // dialect order (Pieces' POST /models/unload before the generic API's POST /models/*name).
  std::stable_sort(groups.begin(), groups.end(),
                   [](const ListenerRoute& a, const ListenerRoute& b) {
                     return Specificity(a.route.pattern) < Specificity(b.route.pattern);
                   });
  return groups;
}

std::vector<Route> CombineRoutes(const std::vector<const Dialect*>& dialects) {
  std::vector<Route> out;
  for (auto& g : ListenerRoutes(dialects)) out.push_back(std::move(g.route));
  return out;
}

std::vector<std::string> CompatListens(const std::vector<Dialect>& dialects,
                                       const std::vector<std::string>& listen) {
  std::vector<std::string> used;
  for (const auto& l : listen) {
    auto spec = ParseListenSpec(l);
    if (!spec.has_value()) continue;
    size_t colon = spec->address.rfind(':');
    if (colon != std::string::npos) used.push_back(spec->address.substr(colon + 1));
  }
  std::vector<std::string> out;
  for (const auto& d : dialects) {
    if (d.compat_port == 0) continue;
    std::string port = std::to_string(d.compat_port);
    if (std::find(used.begin(), used.end(), port) != used.end()) continue;
    used.push_back(port);
    out.push_back("127.0.0.1:" + port + "=" + d.name);
  }
  return out;
}

}  // namespace modeld::api
