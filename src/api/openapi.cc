#include "api/openapi.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/json.h"

namespace modeld::api {

namespace {

using nlohmann::json;

struct Segment {
  std::string text;  // a literal, or a parameter's name
  char kind = 0;     // 0: literal, ':' a parameter, '*' the rest of the path
};

std::vector<Segment> SplitTemplate(const std::string& pattern) {
  std::vector<Segment> out;
  size_t i = 0;
  while (i < pattern.size()) {
    size_t end = pattern.find('/', i);
    if (end == std::string::npos) end = pattern.size();
    if (end > i) {
      std::string seg = pattern.substr(i, end - i);
      if (seg[0] == ':' || seg[0] == '*') {
        out.push_back({seg.substr(1), seg[0]});
      } else {
        out.push_back({seg, 0});
      }
    }
    i = end + 1;
  }
  return out;
}

// The OpenAPI path of |segs| with parameters named |names| (in order).
std::string TemplatePath(const std::vector<Segment>& segs, const std::vector<std::string>& names) {
  std::string out;
  size_t k = 0;
  for (const auto& s : segs) {
    out += '/';
    out += s.kind ? "{" + names[k++] + "}" : s.text;
  }
  return out.empty() ? "/" : out;
}

// "/models/{}": the path's shape, whatever its parameters are called (OpenAPI holds paths
// that differ only in their parameters' names to be the same path).
std::string TemplateShape(const std::vector<Segment>& segs) {
  std::string out;
  for (const auto& s : segs) out += "/" + (s.kind ? std::string("{}") : s.text);
  return out.empty() ? "/" : out;
}

std::string MethodName(http::verb method) {
  std::string m(http::to_string(method));
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  return m;
}

// "generic_get_model_download_id_progress".
std::string OperationId(const std::string& dialect, http::verb method, const std::string& path) {
  std::string id = dialect + "_" + MethodName(method);
  bool sep = true;
  for (char c : path) {
    bool word = std::isalnum(static_cast<unsigned char>(c)) != 0;
    if (!word) {
      sep = true;
      continue;
    }
    if (sep) id += '_';
    sep = false;
    id += c;
  }
  return id;
}

// A JSON Schema of |v|'s shape: its type, an object's properties (all required).
json SchemaOf(const json& v) {
  if (v.is_object()) {
    json props = json::object(), required = json::array();
    for (const auto& [k, item] : v.items()) {
      props[k] = SchemaOf(item);
      required.push_back(k);
    }
    return {{"type", "object"}, {"properties", props}, {"required", required}};
  }
  if (v.is_array()) return {{"type", "array"}};
  if (v.is_string()) return {{"type", "string"}};
  if (v.is_boolean()) return {{"type", "boolean"}};
  if (v.is_number_integer() || v.is_number_unsigned()) return {{"type", "integer"}};
  if (v.is_number()) return {{"type", "number"}};
  return {{"type", "null"}};
}

// The dialect's error answer as components: its shape inferred from what error_body
// writes for a 404, with that answer as the example.
void AddErrorShape(const Dialect& d, json& components) {
  Response sample = d.error_body(http::status::not_found, "Model 'x' not found");
  std::string type(sample[http::field::content_type]);
  if (type.empty()) type = "application/json";
  json parsed = ParseJsonOrDiscarded(sample.body());
  json schema = parsed.is_discarded() ? json{{"type", "string"}} : SchemaOf(parsed);
  schema["examples"] = json::array({parsed.is_discarded() ? json(sample.body()) : parsed});
  schema["description"] = "The " + d.name + " dialect's error answer (this one a 404's)";
  components["schemas"][d.name + "_error"] = schema;
  components["responses"][d.name + "_error"] = {
      {"description", "An error, in the " + d.name + " dialect's shape"},
      {"content", {{type, {{"schema", {{"$ref", "#/components/schemas/" + d.name + "_error"}}}}}}}};
}

json ErrorRef(const std::string& dialect) {
  return {{"$ref", "#/components/responses/" + dialect + "_error"}};
}

std::string JoinNames(const std::vector<const Dialect*>& ds) {
  std::string out;
  for (size_t i = 0; i < ds.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == ds.size() ? " and " : ", ") + ds[i]->name;
  }
  return out;
}

json Operation(const ListenerRoute& lr, const std::vector<Segment>& segs,
               const std::vector<std::string>& names, const std::string& listener_dialect) {
  const Route& route = lr.route;
  json op;
  op["summary"] = lr.parts.front().summary;
  json tags = json::array();
  for (const Dialect* d : lr.dialects) tags.push_back(d->name);
  op["tags"] = tags;
  std::string description;
  if (lr.parts.size() > 1) {
    description = "Answered by " + JoinNames(lr.dialects) +
                  ": one JSON object carrying every dialect's keys (the first dialect's value "
                  "wins a key both use).";
    for (size_t i = 0; i < lr.parts.size(); ++i) {
      description += "\n- " + lr.dialects[i]->name + ": " + lr.parts[i].summary;
    }
  }

  json params = json::array();
  size_t k = 0;
  for (const auto& s : segs) {
    if (!s.kind) continue;
    json p = {
        {"name", names[k++]}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}};
    if (s.kind == '*') {
      p["description"] = "The rest of the path: it may contain '/' (\"org/name\")";
    }
    params.push_back(p);
  }
  std::vector<std::string> seen;
  for (const auto& part : lr.parts) {
    for (const auto& q : part.query) {
      if (std::find(seen.begin(), seen.end(), q.name) != seen.end()) continue;
      seen.push_back(q.name);
      params.push_back({{"name", q.name},
                        {"in", "query"},
                        {"description", q.description},
                        {"schema", {{"type", "string"}}}});
    }
  }
  if (!params.empty()) op["parameters"] = params;

  for (const auto& part : lr.parts) {
    if (part.body_schema.empty()) continue;
    json schema = ParseJsonOrDiscarded(part.body_schema);
    if (schema.is_discarded()) continue;  // a unit test keeps every stated schema valid
    // Required when the schema requires a field (an empty body reads as {} otherwise).
    bool required = schema.contains("required") && !schema["required"].empty();
    json content = {{"application/json", {{"schema", schema}}}};
    // The same fields as a form (Route::form_body), a list as a repeated field.
    if (route.form_body) content["application/x-www-form-urlencoded"] = {{"schema", schema}};
    op["requestBody"] = {{"required", required}, {"content", content}};
    break;
  }

  json responses = json::object();
  const char* answer =
      lr.parts.size() > 1 ? "Every answering dialect's answer, combined" : "The dialect's answer";
  if (route.stream) {
    switch (route.stream_kind) {
      case StreamKind::kSse:
        responses["200"] = {
            {"description", "A stream of Server-Sent Events"},
            {"content", {{"text/event-stream", {{"schema", {{"type", "string"}}}}}}}};
        break;
      case StreamKind::kNdjson: {
        json content = {
            {"application/x-ndjson",
             {{"schema", {{"type", "string"}, {"description", "One JSON object per line"}}}}}};
        std::string text = "A stream of newline-delimited JSON objects";
        if (route.handler) {
          content["application/json"] = json::object();
          text += ", or one JSON answer when the request asks for no stream";
        }
        responses["200"] = {{"description", text}, {"content", content}};
        break;
      }
      case StreamKind::kWebSocket:
        description += std::string(description.empty() ? "" : "\n\n") +
                       "A WebSocket: send a GET with the upgrade headers (Connection: Upgrade, "
                       "Upgrade: websocket); the server sends one JSON text message per event.";
        responses["101"] = {{"description", "Switching Protocols: a WebSocket of JSON messages"}};
        if (route.handler) {
          responses["200"] = {{"description", std::string(answer) + " to a GET without upgrade"}};
        } else {
          responses["426"] = {{"description", "Upgrade Required: a GET without upgrade"}};
        }
        break;
    }
  } else {
    responses["200"] = {{"description", answer}};
  }
  if (!route.public_path) responses["401"] = ErrorRef(listener_dialect);
  responses["default"] = ErrorRef(lr.dialects.front()->name);
  op["responses"] = responses;

  if (route.public_path) {
    op["security"] = json::array();
  } else if (route.stream) {
    op["security"] = json::array({{{"bearer", json::array()}}, {{"token_query", json::array()}}});
  }
  if (!description.empty()) op["description"] = description;
  return op;
}

}  // namespace

std::string OpenApiDocument(const std::vector<const Dialect*>& dialects,
                            const std::string& version) {
  json doc;
  doc["openapi"] = "3.1.0";
  std::string spoken;
  for (const Dialect* d : dialects) spoken += (spoken.empty() ? "" : ", ") + d->name;
  doc["info"] = {
      {"title", "modeld"},
      {"version", version},
      {"summary", "A local model download server: " + spoken},
      {"description",
       "The routes of one modeld listener, generated from its dialects' route tables. HEAD is "
       "answered on every GET route. The bearer token is needed only when the server was "
       "started with one (--token). Cross-origin requests need --allowed-origin; requests "
       "that change state, streams and WebSockets are refused from other origins. Bodies of "
       "POST and PUT requests are JSON (Content-Type: application/json); a route that also "
       "takes a form says so in its requestBody."}};
  json components = {{"schemas", json::object()}, {"responses", json::object()}};
  components["securitySchemes"] = {
      {"bearer",
       {{"type", "http"},
        {"scheme", "bearer"},
        {"description", "modeld serve --token (or --token-file, MODELD_TOKEN)"}}},
      {"token_query",
       {{"type", "apiKey"},
        {"in", "query"},
        {"name", "token"},
        {"description", "The token as ?token=, for streams (EventSource, WebSocket)"}}}};
  json tags = json::array();
  for (const Dialect* d : dialects) {
    AddErrorShape(*d, components);
    std::string prefixes;
    for (const auto& p : d->prefixes) {
      prefixes += (prefixes.empty() ? "" : ", ") + (p.empty() ? std::string("/") : p);
    }
    tags.push_back({{"name", d->name}, {"description", "Served under " + prefixes}});
  }
  doc["tags"] = tags;
  doc["security"] = json::array({{{"bearer", json::array()}}});

  json paths = json::object();
  std::map<std::string, std::vector<std::string>> names_of_shape;  // its first names
  std::vector<std::string> ids;
  for (const auto& lr : ListenerRoutes(dialects)) {
    auto segs = SplitTemplate(lr.route.pattern);
    std::string shape = TemplateShape(segs);
    auto known = names_of_shape.find(shape);
    if (known == names_of_shape.end()) {
      std::vector<std::string> names;
      for (const auto& s : segs) {
        if (s.kind) names.push_back(s.text);
      }
      known = names_of_shape.emplace(shape, names).first;
    }
    std::string path = TemplatePath(segs, known->second);
    std::string method = MethodName(lr.route.method);
    json& item = paths[path];
    if (item.contains(method)) {
      // ":x" and "*x" at one place: two routes to the router, one path here. The router
      // tries the ":x" one first; the other answers what it does not.
      json& op = item[method];
      for (const Dialect* d : lr.dialects) {
        if (std::find(op["tags"].begin(), op["tags"].end(), d->name) == op["tags"].end())
          op["tags"].push_back(d->name);
      }
      op["description"] = op.value("description", std::string()) +
                          "\n\nA longer path is answered by: " + lr.parts.front().summary;
      continue;
    }
    json op = Operation(lr, segs, known->second, dialects.front()->name);
    std::string id = OperationId(lr.dialects.front()->name, lr.route.method, path);
    std::string unique = id;
    for (int n = 2; std::find(ids.begin(), ids.end(), unique) != ids.end(); ++n) {
      unique = id + "_" + std::to_string(n);
    }
    ids.push_back(unique);
    op["operationId"] = unique;
    item[method] = op;
  }
  doc["paths"] = paths;
  doc["components"] = components;
  return DumpJson(doc, 2);
}

OpenApiDocuments::OpenApiDocuments(const std::vector<Dialect>& dialects,
                                   const std::vector<std::string>& listen,
                                   const std::string& version) {
  std::vector<const Dialect*> every;
  for (const auto& d : dialects) {
    every.push_back(&d);
    all_.push_back(d.name);
    by_dialect_[d.name] = OpenApiDocument({&d}, version);
  }
  auto add = [&](const std::vector<std::string>& names) {
    std::string key;
    std::vector<const Dialect*> spoken;
    for (const auto& n : names) {
      auto it = std::find_if(dialects.begin(), dialects.end(),
                             [&](const Dialect& d) { return d.name == n; });
      if (it == dialects.end()) return;  // the server refuses to start with it
      spoken.push_back(&*it);
      key += (key.empty() ? "" : ",") + n;
    }
    if (!spoken.empty() && !by_listener_.count(key))
      by_listener_[key] = OpenApiDocument(spoken, version);
  };
  add(all_);
  for (const auto& text : listen) {
    auto spec = ParseListenSpec(text);
    if (spec.has_value() && !spec->dialects.empty()) add(spec->dialects);
  }
}

Result<const std::string*> OpenApiDocuments::Find(const std::vector<std::string>* listener,
                                                  const std::string& dialect) const {
  const std::vector<std::string>& names = listener && !listener->empty() ? *listener : all_;
  if (!dialect.empty()) {
    auto it = by_dialect_.find(dialect);
    if (it == by_dialect_.end() || std::find(names.begin(), names.end(), dialect) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      return Status::NotFound("no dialect '" + dialect + "' here (there are: " + known + ")");
    }
    return &it->second;
  }
  std::string key;
  for (const auto& n : names) key += (key.empty() ? "" : ",") + n;
  auto it = by_listener_.find(key);
  if (it == by_listener_.end()) return Status::NotFound("no OpenAPI description of " + key);
  return &it->second;
}

}  // namespace modeld::api
