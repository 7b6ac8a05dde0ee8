#include "api/openapi.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace modeld::api {
namespace {

using nlohmann::json;

void Noop(const Request&, const Params&, Responder) {}

Route Plain(http::verb method, std::string pattern, std::string summary) {
  return {method, std::move(pattern), std::move(summary), Noop};
}

Route Stream(std::string pattern, StreamKind kind, bool with_plain) {
  Route r{http::verb::get, std::move(pattern), "a stream"};
  if (with_plain) r.handler = Noop;
  r.stream = [](const Request&, const Params&, StreamReply&) {};
  r.stream_kind = kind;
  return r;
}

Response TextError(http::status status, const std::string& message) {
  Response res{status, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = message;
  return res;
}

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    first_.name = "first";
    first_.routes = {Plain(http::verb::get, "/models", "first's models"),
                     Plain(http::verb::get, "/models/*name", "one model"),
                     Plain(http::verb::delete_, "/models/*name", "remove a model"),
                     Plain(http::verb::get, "/jobs/:id/progress", "a job"),
                     Stream("/jobs/:id/events", StreamKind::kSse, false),
                     Stream("/ws", StreamKind::kWebSocket, false),
                     Plain(http::verb::get, "/healthz", "alive")};
    first_.routes.back().public_path = true;
    first_.routes[2].query = {{"version", "only this version"}};
    second_.name = "second";
    second_.error_body = TextError;
    second_.prefixes = {"", "/v1"};
    second_.routes = {Plain(http::verb::get, "/models", "second's models"),
                      Plain(http::verb::get, "/model/:model", "a model by id"),
                      Stream("/api/pull", StreamKind::kNdjson, true),
                      Stream("/model/:model/progress", StreamKind::kWebSocket, true)};
    second_.routes[2].method = http::verb::post;
    second_.routes[2].body_schema = R"({"type":"object","properties":{"model":{"type":"string"}}})";
  }
  json Doc(const std::vector<const Dialect*>& ds) {
    return json::parse(OpenApiDocument(ds, "9.8.7"));
  }

  Dialect first_, second_;
};

TEST_F(OpenApiTest, IsOpenApi31WithTheVersionAndTheBearerScheme) {
  json doc = Doc({&first_});
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["info"]["version"], "9.8.7");
  EXPECT_EQ(doc["info"]["title"], "modeld");
  EXPECT_EQ(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
  EXPECT_EQ(doc["security"], json::parse(R"([{"bearer": []}])"));
}

TEST_F(OpenApiTest, PathsAreTemplatedFromThePatterns) {
  json paths = Doc({&first_})["paths"];
  ASSERT_TRUE(paths.contains("/jobs/{id}/progress")) << paths.dump(2);
  json p = paths["/jobs/{id}/progress"]["get"]["parameters"][0];
  EXPECT_EQ(p["name"], "id");
  EXPECT_EQ(p["in"], "path");
  EXPECT_EQ(p["required"], true);
  // A "*name" takes the rest of the path: noted.
  json rest = paths["/models/{name}"]["get"]["parameters"][0];
  EXPECT_EQ(rest["name"], "name");
  EXPECT_NE(rest["description"].get<std::string>().find("'/'"), std::string::npos);
  // GET and DELETE of one path are one path item; a query parameter the table states.
  json del = paths["/models/{name}"]["delete"];
  EXPECT_EQ(del["summary"], "remove a model");
  EXPECT_EQ(del["parameters"][1]["name"], "version");
  EXPECT_EQ(del["parameters"][1]["in"], "query");
  // Every route of the table, nothing else.
  size_t ops = 0;
  for (auto& [path, item] : paths.items()) ops += item.size();
  EXPECT_EQ(ops, first_.routes.size());
}

TEST_F(OpenApiTest, OperationsHaveUniqueIdsSummariesAndTheirDialectAsTag) {
  json doc = Doc({&first_, &second_});
  std::set<std::string> ids;
  for (auto& [path, item] : doc["paths"].items()) {
    for (auto& [method, op] : item.items()) {
      EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second) << op["operationId"];
      EXPECT_FALSE(op["summary"].get<std::string>().empty()) << method << " " << path;
      EXPECT_FALSE(op["tags"].empty()) << method << " " << path;
    }
  }
  EXPECT_EQ(doc["paths"]["/jobs/{id}/progress"]["get"]["operationId"],
            "first_get_jobs_id_progress");
  EXPECT_EQ(doc["paths"]["/model/{model}"]["get"]["tags"], json::array({"second"}));
}

TEST_F(OpenApiTest, ARouteSeveralDialectsAnswerIsOneOperationTaggedWithEach) {
  json op = Doc({&first_, &second_})["paths"]["/models"]["get"];
  EXPECT_EQ(op["tags"], json::array({"first", "second"}));
  EXPECT_EQ(op["summary"], "first's models");
  EXPECT_NE(op["description"].get<std::string>().find("second's models"), std::string::npos);
}

TEST_F(OpenApiTest, EachPrefixOfADialectIsServed) {
  json paths = Doc({&first_, &second_})["paths"];
  EXPECT_TRUE(paths.contains("/v1/models"));
  EXPECT_TRUE(paths.contains("/v1/model/{model}"));
  EXPECT_TRUE(paths.contains("/v1/api/pull"));
  EXPECT_EQ(paths["/v1/models"]["get"]["tags"], json::array({"second"}));
}

TEST_F(OpenApiTest, StreamsAreDescribed) {
  json doc = Doc({&first_, &second_});
  json sse = doc["paths"]["/jobs/{id}/events"]["get"];
  EXPECT_TRUE(sse["responses"]["200"]["content"].contains("text/event-stream"));
  // Streams take the token as ?token= too.
  EXPECT_EQ(sse["security"].size(), 2u);
  json ndjson = doc["paths"]["/api/pull"]["post"];
  EXPECT_TRUE(ndjson["responses"]["200"]["content"].contains("application/x-ndjson"));
  EXPECT_TRUE(ndjson["responses"]["200"]["content"].contains("application/json"));
  EXPECT_EQ(
      ndjson["requestBody"]["content"]["application/json"]["schema"]["properties"]["model"]["type"],
      "string");
  json ws = doc["paths"]["/ws"]["get"];
  EXPECT_TRUE(ws["responses"].contains("101"));
  EXPECT_TRUE(ws["responses"].contains("426")) << "no plain answer without an upgrade";
  json ws_plain = doc["paths"]["/model/{model}/progress"]["get"];
  EXPECT_TRUE(ws_plain["responses"].contains("101"));
  EXPECT_TRUE(ws_plain["responses"].contains("200"));
}

TEST_F(OpenApiTest, PublicRoutesNeedNoToken) {
  json doc = Doc({&first_});
  EXPECT_EQ(doc["paths"]["/healthz"]["get"]["security"], json::array());
  EXPECT_FALSE(doc["paths"]["/healthz"]["get"]["responses"].contains("401"));
  EXPECT_FALSE(doc["paths"]["/models"]["get"].contains("security")) << "the document's default";
  EXPECT_TRUE(doc["paths"]["/models"]["get"]["responses"].contains("401"));
}

TEST_F(OpenApiTest, EachDialectsErrorShapeIsInComponents) {
  json doc = Doc({&first_, &second_});
  json first = doc["components"]["schemas"]["first_error"];
  EXPECT_EQ(first["type"], "object");
  EXPECT_EQ(first["properties"]["detail"]["type"], "string");  // ErrorResponse's {"detail"}
  EXPECT_EQ(first["required"], json::array({"detail"}));
  json second = doc["components"]["schemas"]["second_error"];
  EXPECT_EQ(second["type"], "string");
  EXPECT_TRUE(doc["components"]["responses"]["second_error"]["content"].contains("text/plain"));
  // An operation answers errors in its first dialect's shape; refusals (401) in the
  // listener's first dialect's.
  json op = doc["paths"]["/model/{model}"]["get"]["responses"];
  EXPECT_EQ(op["default"]["$ref"], "#/components/responses/second_error");
  EXPECT_EQ(op["401"]["$ref"], "#/components/responses/first_error");
}

TEST_F(OpenApiTest, DocumentsPerListenerAndPerDialect) {
  std::vector<Dialect> ds = {first_, second_};
  OpenApiDocuments docs(ds, {"127.0.0.1:0", "127.0.0.1:0=second"}, "1.0");
  auto all = docs.Find(nullptr, "");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(json::parse(**all)["paths"].contains("/ws"), true);
  std::vector<std::string> second_only = {"second"};
  auto listener = docs.Find(&second_only, "");
  ASSERT_TRUE(listener.has_value());
  EXPECT_FALSE(json::parse(**listener)["paths"].contains("/ws"));
  auto one = docs.Find(nullptr, "first");
  ASSERT_TRUE(one.has_value());
  EXPECT_FALSE(json::parse(**one)["paths"].contains("/model/{model}"));
  // A dialect the listener does not speak, or none of that name.
  EXPECT_EQ(docs.Find(&second_only, "first").error().code(), Status::Code::kNotFound);
  auto unknown = docs.Find(nullptr, "nope");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("first, second"), std::string::npos);
}

}  // namespace
}  // namespace modeld::api
