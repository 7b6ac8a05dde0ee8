// The route tables of every dialect, as modeld serve composes them (app/serve.cc), and the
// OpenAPI description generated from them (api/openapi.h): every route has a summary, every
// stated body schema is JSON, and the document of the default listener holds every route
// of every dialect once. tests/clients/openapi.test.mjs validates the document itself with
// a real OpenAPI validator and checks it against a running server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "api/generic/routes.h"
#include "api/jan/routes.h"
#include "api/lmstudio/routes.h"
#include "api/ollama/routes.h"
#include "api/openapi.h"
#include "api/pieces/routes.h"
#include "engine_harness.h"

namespace modeld::testing {
namespace {

using nlohmann::json;

class OpenApiRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = OpenTestStore(dir_.path());
    ASSERT_TRUE(st);
    models_ = std::make_unique<service::ModelService>(std::move(st), nullptr, nullptr);
    jobs_ = std::make_unique<service::JobManager>(*models_, 3);
    generic_ =
        std::make_unique<api::generic::Context>(api::generic::Context{*models_, *jobs_, "1"});
    pieces_ = std::make_unique<api::pieces::Context>(api::pieces::Context{*models_, *jobs_, "1"});
    lmstudio_ =
        std::make_unique<api::lmstudio::Context>(api::lmstudio::Context{*models_, *jobs_, "1"});
    jan_ = std::make_unique<api::jan::Context>(api::jan::Context{*models_, *jobs_, "1"});
    ollama_ = std::make_unique<api::ollama::Context>(api::ollama::Context{*models_, *jobs_, "1"});
    // In serve.cc's order.
    dialects_ = {api::generic::GenericDialect(*generic_), api::pieces::PiecesDialect(*pieces_),
                 api::lmstudio::LmStudioDialect(*lmstudio_), api::jan::JanDialect(*jan_),
                 api::ollama::OllamaDialect(*ollama_)};
  }
  void TearDown() override {
    dialects_.clear();
    jobs_.reset();
    models_.reset();
  }

  ScratchDir dir_;
  std::unique_ptr<service::ModelService> models_;
  std::unique_ptr<service::JobManager> jobs_;
  std::unique_ptr<api::generic::Context> generic_;
  std::unique_ptr<api::pieces::Context> pieces_;
  std::unique_ptr<api::lmstudio::Context> lmstudio_;
  std::unique_ptr<api::jan::Context> jan_;
  std::unique_ptr<api::ollama::Context> ollama_;
  std::vector<api::Dialect> dialects_;
};

TEST_F(OpenApiRoutesTest, EveryRouteOfEveryDialectHasASummary) {
  ASSERT_EQ(dialects_.size(), 5u);
  for (const auto& d : dialects_) {
    ASSERT_FALSE(d.routes.empty()) << d.name;
    for (const auto& r : d.routes) {
      std::string what =
          d.name + ": " + std::string(api::http::to_string(r.method)) + " " + r.pattern;
      EXPECT_FALSE(r.summary.empty()) << what << " has no summary";
      EXPECT_LE(r.summary.size(), 120u) << what << ": a summary is one short line";
      EXPECT_EQ(r.summary.find('\n'), std::string::npos) << what;
      if (!r.body_schema.empty()) {
        json schema = json::parse(r.body_schema, nullptr, false);
        EXPECT_TRUE(schema.is_object()) << what << ": its body schema is not a JSON object";
      }
    }
  }
}

TEST_F(OpenApiRoutesTest, TheDefaultListenersDocumentHoldsEveryRoute) {
  std::vector<const api::Dialect*> all;
  for (const auto& d : dialects_) all.push_back(&d);
  json doc = json::parse(api::OpenApiDocument(all, "1.2.3"));
  EXPECT_EQ(doc["openapi"], "3.1.0");
  size_t ops = 0;
  std::set<std::string> ids;
  for (auto& [path, item] : doc["paths"].items()) {
    for (auto& [method, op] : item.items()) {
      ++ops;
      EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second) << op["operationId"];
    }
  }
  // One operation per route of the listener (the router's table).
  EXPECT_EQ(ops, api::CombineRoutes(all).size());
  // Routes three dialects answer: one operation tagged with each.
  EXPECT_EQ(doc["paths"]["/models"]["get"]["tags"], json::array({"generic", "pieces", "jan"}));
  EXPECT_EQ(doc["paths"]["/v1/models"]["get"]["tags"], json::array({"jan"}));
  EXPECT_EQ(doc["paths"]["/model-download"]["post"]["requestBody"]["content"]["application/json"]
               ["schema"]["required"],
            json::array({"model_name"}));
  EXPECT_TRUE(doc["paths"]["/api/pull"]["post"]["responses"]["200"]["content"].contains(
      "application/x-ndjson"));
  EXPECT_TRUE(doc["paths"]["/openapi.json"]["get"].contains("parameters"));
  for (const char* d : {"generic", "pieces", "lmstudio", "jan", "ollama"}) {
    EXPECT_TRUE(doc["components"]["schemas"].contains(std::string(d) + "_error")) << d;
  }
}

}  // namespace
}  // namespace modeld::testing
