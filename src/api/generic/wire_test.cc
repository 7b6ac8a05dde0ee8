#include "api/generic/wire.h"

#include <gtest/gtest.h>

#include <functional>

namespace modeld::api::generic {
namespace {

using service::JobState;

TEST(GenericWireTest, EveryStateHasTheSeedsWord) {
  EXPECT_EQ(SeedStatus(JobState::kQueued), "started");
  EXPECT_EQ(SeedStatus(JobState::kResolving), "started");
  EXPECT_EQ(SeedStatus(JobState::kDownloading), "downloading");
  EXPECT_EQ(SeedStatus(JobState::kVerifying), "downloading");
  EXPECT_EQ(SeedStatus(JobState::kInstalling), "downloading");
  EXPECT_EQ(SeedStatus(JobState::kPaused), "paused");
  EXPECT_EQ(SeedStatus(JobState::kCompleted), "completed");
  EXPECT_EQ(SeedStatus(JobState::kCancelled), "failed") << "the seed's clients stop polling";
  EXPECT_EQ(SeedStatus(JobState::kFailed), "failed");
}

TEST(GenericWireTest, StatusCodesAsTheSeedsTable) {
  EXPECT_EQ(HttpStatusFor(Status::InvalidArgument("x")), http::status::bad_request);
  EXPECT_EQ(HttpStatusFor(Status::NotFound("x")), http::status::not_found);
  EXPECT_EQ(HttpStatusFor(Status::AlreadyExists("x")), http::status::conflict);
  EXPECT_EQ(HttpStatusFor(Status::NoSpace("x")), http::status::payload_too_large);
  EXPECT_EQ(HttpStatusFor(Status::PermissionDenied("x")), http::status::forbidden);
  EXPECT_EQ(HttpStatusFor(Status::Unavailable("x")), http::status::service_unavailable);
  EXPECT_EQ(HttpStatusFor(Status::Corrupt("x")), http::status::internal_server_error);
  auto r = ErrorFor(Status::NotFound("GET https://u:secret@h/x: HTTP 404"));
  EXPECT_EQ(r.body().find("secret"), std::string::npos) << r.body();
}

TEST(GenericWireTest, ParsesTheSeedsBody) {
  auto dl = ParseDownloadRequest(
      R"({"model_name": "resnet50", "version": "v1.0", "download_url": "https://h/r.pth",
          "checksum": "sha256:)" +
          std::string(64, 'a') + R"(", "force_download": true,
          "options": {"timeout": 60, "retry_count": 2, "cleanup_temp_files": false},
          "priority": 5, "include": "*.json", "metadata": {"description": "d", "tags": ["a", 1]}})",
      false);
  ASSERT_TRUE(dl.has_value()) << dl.error().ToString();
  const auto& p = dl->pull;
  EXPECT_EQ(p.ref.ToString(), "resnet50:v1.0");
  EXPECT_EQ(p.url, "https://h/r.pth");
  EXPECT_TRUE(p.force);
  EXPECT_TRUE(p.checksum.has_value());
  EXPECT_EQ(p.options.stall_timeout, std::chrono::seconds(60));
  EXPECT_EQ(p.options.progress_timeout, std::chrono::seconds(60));
  EXPECT_EQ(p.options.retry_count, 2);
  EXPECT_TRUE(p.keep_archive);
  EXPECT_EQ(dl->priority, 5);
  EXPECT_EQ(p.include, (std::vector<std::string>{"*.json"}));
  EXPECT_EQ(p.description, "d");
  EXPECT_EQ(p.tags, (std::vector<std::string>{"a"}));
  EXPECT_FALSE(dl->wait);
  EXPECT_TRUE(ParseDownloadRequest(R"({"model_name": "m"})", true)->wait);
  EXPECT_EQ(ParseDownloadRequest(R"({"model_name": "m"})", false)->pull.ref.version, "latest");
  EXPECT_EQ(ParseDownloadRequest(R"({"model_name": "m", "download_url": "ftp://x"})", false)
                .error()
                .message(),
            "Invalid parameter 'download_url': not an http(s) URL");
}

TEST(GenericWireTest, LoadRequestsTakeTheVersionAndAnOllamaKeepAlive) {
  using std::chrono::milliseconds;
  auto empty = ParseLoadRequest("org/m", "", "");
  ASSERT_TRUE(empty.has_value()) << empty.error().ToString();
  EXPECT_EQ(empty->ref.ToString(), "org/m:latest");
  EXPECT_FALSE(empty->options.keep_alive.has_value());
  EXPECT_EQ(ParseLoadRequest("m:q4", "", "")->ref.version, "q4");
  EXPECT_EQ(ParseLoadRequest("m", "", "v2")->ref.version, "v2");
  EXPECT_EQ(ParseLoadRequest("m", R"({"version":"v3"})", "v2")->ref.version, "v3");
  auto full = ParseLoadRequest("m", R"({"mlock":true,"keep_alive":"1h30m"})", "");
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->options.mlock);
  EXPECT_EQ(*full->options.keep_alive, milliseconds(5'400'000));
  EXPECT_EQ(*ParseLoadRequest("m", R"({"keep_alive":300})", "")->options.keep_alive,
            milliseconds(300'000));
  EXPECT_EQ(*ParseLoadRequest("m", R"({"keep_alive":0})", "")->options.keep_alive, milliseconds(0));
  EXPECT_LT(ParseLoadRequest("m", R"({"keep_alive":-1})", "")->options.keep_alive->count(), 0);
  EXPECT_LT(ParseLoadRequest("m", R"({"keep_alive":"-1s"})", "")->options.keep_alive->count(), 0);
  for (const char* bad :
       {R"({"keep_alive":"soon"})", R"({"keep_alive":true})", R"({"keep_alive":1e300})",
        R"({"mlock":"yes"})", "[1]", R"({"keep_alive":"5m3"})"}) {
    auto r = ParseLoadRequest("m", bad, "");
    EXPECT_EQ(r.has_value() ? Status::Code::kOk : r.error().code(), Status::Code::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(ParseLoadRequest("../x", "", "").has_value());
}

}  // namespace
}  // namespace modeld::api::generic

namespace modeld::api::generic {
namespace {

TEST(GenericWireTest, GcRequest) {
  auto empty = ParseGcRequest("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->partial_age, std::chrono::hours(168));
  EXPECT_FALSE(empty->options.dry_run);
  auto all =
      ParseGcRequest(R"({"partials_older_than_hours": 0.5, "dry_run": true, "hf_cache": true})");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->partial_age, std::chrono::minutes(30));
  EXPECT_TRUE(all->options.dry_run && all->options.hf_cache);
  for (const char* bad :
       {R"({"partials_older_than_hours": -1})", R"({"partials_older_than_hours": "x"})",
        R"({"partials_older_than_hours": 1e300})", R"({"dry_run": 1})", "[]"}) {
    auto r = ParseGcRequest(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << bad;
  }
}

TEST(GenericWireTest, ARefusalNamesTheFieldItConcerns) {
  auto bad = ParseDownloadRequest(R"({"model_name": "m", "version": "a b"})", false);
  ASSERT_FALSE(bad.has_value());
  auto body = nlohmann::json::parse(ErrorFor(bad.error()).body());
  EXPECT_EQ(body["field"], "version");
  auto nested = ParseDownloadRequest(R"({"model_name": "m", "options": {"timeout": "x"}})", false);
  EXPECT_EQ(nlohmann::json::parse(ErrorFor(nested.error()).body())["field"], "options.timeout");
  auto other = nlohmann::json::parse(ErrorFor(Status::NotFound("Invalid parameter 'x'")).body());
  EXPECT_FALSE(other.contains("field")) << "only a refusal of the request (400) names one";
}

// The schemas GET /openapi.json states for the bodies are what the parsers read: every
// field of the schema, given a value of no type it allows, is an error naming that field
// (so a field the parser stopped reading, or never read, fails here).
void ExpectParserReadsEveryField(const char* schema_text,
                                 const std::function<Status(const nlohmann::json&)>& parse,
                                 const nlohmann::json& base) {
  auto schema = nlohmann::json::parse(schema_text);
  ASSERT_EQ(schema["type"], "object");
  ASSERT_TRUE(parse(base).ok()) << parse(base).message();
  std::vector<std::pair<std::string, nlohmann::json>> fields;  // "a" or "a.b", its schema
  for (auto& [k, v] : schema["properties"].items()) {
    fields.emplace_back(k, v);
    if (v.contains("properties")) {
      for (auto& [k2, v2] : v["properties"].items()) fields.emplace_back(k + "." + k2, v2);
    }
  }
  for (const auto& [field, sub] : fields) {
    nlohmann::json body = base;
    // An array of arrays is no string, number, boolean or object, nor a list of strings.
    nlohmann::json bad = nlohmann::json::array({nlohmann::json::array()});
    size_t dot = field.find('.');
    if (dot == std::string::npos) {
      body[field] = bad;
    } else {
      body[field.substr(0, dot)][field.substr(dot + 1)] = bad;
    }
    Status s = parse(body);
    EXPECT_FALSE(s.ok()) << field << " is in the schema but not read";
    EXPECT_NE(s.message().find("'" + field + "'"), std::string::npos)
        << field << ": " << s.message();
  }
}

TEST(GenericWireTest, TheDownloadSchemaIsWhatTheParserReads) {
  ExpectParserReadsEveryField(kDownloadRequestSchema,
                              [](const nlohmann::json& j) {
                                auto r = ParseDownloadRequest(j.dump(), false);
                                return r.status();
                              },
                              {{"model_name", "m"}});
}

TEST(GenericWireTest, TheLoadSchemaIsWhatTheParserReads) {
  ExpectParserReadsEveryField(
      kLoadRequestSchema,
      [](const nlohmann::json& j) {
        auto r = ParseLoadRequest("m", j.dump(), "");
        return r.status();
      },
      nlohmann::json::object());
}

}  // namespace
}  // namespace modeld::api::generic
