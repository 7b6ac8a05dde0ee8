// LM Studio's REST API v1 (issue 14) on a real `modeld serve` over the test origin and the
// Hub mimic: a catalog model's download job followed to completed and then
// already_downloaded, Hub links with and without a quantization (the one LM Studio would
// pick: Q4_K_M, else the smallest 4-bit), the model listings, load and unload, every error
// in LM Studio's shape, the bearer token on and off, and a listener speaking only LM
// Studio. No sleeps: a job's end is waited for on the generic API's event stream of it.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "engine_harness.h"
#include "fixtures.h"
#include "gguf_writer.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "origin.h"
#include "serve_child.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class LmStudioApiTest : public ::testing::Test, protected HubFixture {
 protected:
  struct Reply {
    long status;
    json body;
    std::string text;
  };
  // As LM Studio's clients call it: JSON bodies, and "Bearer lm-studio" whatever the
  // server's token (|token| replaces it; "-" sends none).
  static Reply Call(const std::string& base, const std::string& method, const std::string& path,
                    const json& body = json(), const std::string& token = "lm-studio") {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (token != "-") headers.push_back("Authorization: Bearer " + token);
    auto r = HttpCall(method, base + path, body.is_null() ? "" : body.dump(), headers, nullptr, 60);
    return {r.status, json::parse(r.body, nullptr, false), r.body};
  }
  static Reply Call(const ServeChild& s, const std::string& method, const std::string& path,
                    const json& body = json()) {
    return Call(s.base(), method, path, body);
  }
  // Blocks until job |id| has ended: its generic event stream ends after its "done".
  static void WaitForEnd(const ServeChild& s, const std::string& id) {
    auto r = HttpCall("GET", s.base() + "/model-download/" + id + "/events", "", {}, nullptr, 60);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_NE(r.body.find("event: done"), std::string::npos) << r.body;
  }
  // The address of a second listener `--listen 127.0.0.1:0=...` said after the first.
  static std::string SecondBase(ServeChild& s) {
    const std::string log = s.Log();
    const size_t at = log.find(", 127.0.0.1:", log.find("listening on"));
    if (at == std::string::npos) return "";
    return "http://127.0.0.1:" + std::to_string(std::atoi(log.c_str() + at + 12));
  }
  // A catalog "lms" with acme/tiny-chat (a GGUF on the origin), given to the server.
  std::vector<std::string> CatalogArgs() {
    origin_.Put("/tiny-chat.gguf", {.content = tiny_chat_, .rate = 4 * kMiB});
    json catalog = {
        {"name", "lms"},
        {"models",
         {{{"name", "acme/tiny-chat"},
           {"description", "a test chat model"},
           {"latest", "v1"},
           {"versions",
            {{{"version", "v1"},
              {"files",
               {{{"url", origin_.Url("/tiny-chat.gguf")}, {"size", tiny_chat_.size()}}}}}}}}}}};
    std::ofstream(dir_ / "catalog.json") << catalog.dump();
    return {"--catalog", "lms=" + (dir_ / "catalog.json").string()};
  }
  // Hub repositories of GGUF quantizations: org/multi has Q4_K_M among others, org/noq4km
  // has none (IQ4_XS is its smallest 4-bit, Q2_K its smallest of all).
  void AddQuantizedRepos() {
    auto file = [](const std::string& path, size_t size) {
      return HubRepoFile{path, RandomBytes(size, size), true};
    };
    hub_.AddRepo("org/multi", std::string(40, 'a'), {"main"},
                 {{"config.json", "{}"},
                  file("multi-Q2_K.gguf", 3000),
                  file("multi-Q4_0.gguf", 5000),
                  file("multi-Q4_K_M.gguf", 6000),
                  file("multi-Q8_0.gguf", 9000),
                  file("mmproj-multi-f16.gguf", 1000)});
    hub_.AddRepo("org/noq4km", std::string(40, 'b'), {"main"},
                 {file("noq4km.Q2_K.gguf", 2000), file("noq4km.Q4_0.gguf", 5100),
                  file("noq4km.IQ4_XS.gguf", 4100), file("noq4km.Q8_0.gguf", 9100)});
  }
  // HF_ENDPOINT for the server children started meanwhile (they inherit it).
  struct LmsHubEnv {
    explicit LmsHubEnv(const std::string& endpoint) {
      ::setenv("HF_ENDPOINT", endpoint.c_str(), 1);
    }
    ~LmsHubEnv() { ::unsetenv("HF_ENDPOINT"); }
  };

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  TestOrigin origin_;
  const std::string tiny_chat_ = EncodeGguf(AllTypesGguf(3));
};

const std::regex kLmsIso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

TEST_F(LmStudioApiTest, ACatalogDownloadIsAJobPolledToCompletedThenAlreadyDownloaded) {
  ServeChild s(data_, CatalogArgs());
  auto started = Call(s, "POST", "/api/v1/models/download", {{"model", "acme/tiny-chat"}});
  ASSERT_EQ(started.status, 200) << started.text;
  const std::string id = started.body.value("job_id", "");
  ASSERT_FALSE(id.empty()) << started.text;
  EXPECT_EQ(started.body["status"], "downloading");
  EXPECT_EQ(started.body["total_size_bytes"], tiny_chat_.size());
  EXPECT_TRUE(started.body["downloaded_bytes"].is_number());
  EXPECT_TRUE(started.body["bytes_per_second"].is_number());
  EXPECT_TRUE(std::regex_match(started.body["started_at"].get<std::string>(), kLmsIso));
  EXPECT_FALSE(started.body.contains("quantization")) << "a catalog id: none chosen";

  auto polled = Call(s, "GET", "/api/v1/models/download/status/" + id);
  ASSERT_EQ(polled.status, 200) << polled.text;
  EXPECT_EQ(polled.body["job_id"], id);
  EXPECT_TRUE(polled.body["status"] == "downloading" || polled.body["status"] == "completed")
      << polled.text;

  WaitForEnd(s, id);
  auto done = Call(s, "GET", "/api/v1/models/download/status/" + id);
  ASSERT_EQ(done.status, 200) << done.text;
  EXPECT_EQ(done.body["status"], "completed") << done.text;
  EXPECT_EQ(done.body["downloaded_bytes"], tiny_chat_.size());
  EXPECT_EQ(done.body["total_size_bytes"], tiny_chat_.size());
  EXPECT_TRUE(std::regex_match(done.body["completed_at"].get<std::string>(), kLmsIso));
  EXPECT_FALSE(done.body.contains("bytes_per_second"));
  EXPECT_FALSE(done.body.contains("estimated_completion"));

  auto again = Call(s, "POST", "/api/v1/models/download", {{"model", "acme/tiny-chat"}});
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.body, (json{{"status", "already_downloaded"}}));

  // Listed with what is inside it (a Q4_K_M llama GGUF with a 4096 context).
  auto models = Call(s, "GET", "/api/v1/models");
  ASSERT_EQ(models.status, 200) << models.text;
  ASSERT_EQ(models.body["models"].size(), 1u) << models.text;
  const json m = models.body["models"][0];
  EXPECT_EQ(m["type"], "llm");
  EXPECT_EQ(m["publisher"], "acme");
  EXPECT_EQ(m["key"], "acme/tiny-chat");
  EXPECT_EQ(m["display_name"], "modeld test model");
  EXPECT_EQ(m["architecture"], "llama");
  EXPECT_EQ(m["quantization"]["name"], "Q4_K_M");
  EXPECT_TRUE(m["quantization"]["bits_per_weight"].is_number()) << m.dump();
  EXPECT_EQ(m["size_bytes"], tiny_chat_.size());
  EXPECT_EQ(m["loaded_instances"], json::array());
  EXPECT_EQ(m["max_context_length"], 4096);
  EXPECT_EQ(m["format"], "gguf");
  EXPECT_TRUE(m.contains("params_string"));
}

TEST_F(LmStudioApiTest, LoadAndUnloadByKey) {
  ServeChild s(data_, CatalogArgs());
  auto started = Call(s, "POST", "/api/v1/models/download", {{"model", "acme/tiny-chat"}});
  ASSERT_EQ(started.status, 200) << started.text;
  WaitForEnd(s, started.body["job_id"].get<std::string>());

  auto loaded = Call(s, "POST", "/api/v1/models/load",
                     {{"model", "acme/tiny-chat"},
                      {"context_length", 2048},
                      {"flash_attention", true},
                      {"echo_load_config", true}});
  ASSERT_EQ(loaded.status, 200) << loaded.text;
  EXPECT_EQ(loaded.body["type"], "llm");
  EXPECT_EQ(loaded.body["instance_id"], "acme/tiny-chat");
  EXPECT_EQ(loaded.body["status"], "loaded");
  EXPECT_TRUE(loaded.body["load_time_seconds"].is_number());
  EXPECT_EQ(loaded.body["load_config"],
            (json{{"context_length", 2048}, {"flash_attention", true}}));
  auto plain = Call(s, "POST", "/api/v1/models/load", {{"model", "acme/tiny-chat"}});
  EXPECT_FALSE(plain.body.contains("load_config")) << plain.text;

  auto listed = Call(s, "GET", "/api/v1/models").body["models"][0];
  EXPECT_EQ(listed["loaded_instances"],
            (json{{{"id", "acme/tiny-chat"}, {"config", {{"context_length", 4096}}}}}));
  auto legacy = Call(s, "GET", "/api/v0/models");
  ASSERT_EQ(legacy.status, 200) << legacy.text;
  EXPECT_EQ(legacy.body["object"], "list");
  EXPECT_EQ(legacy.body["data"], (json{{{"id", "acme/tiny-chat"},
                                        {"object", "model"},
                                        {"type", "llm"},
                                        {"publisher", "acme"},
                                        {"arch", "llama"},
                                        {"compatibility_type", "gguf"},
                                        {"quantization", "Q4_K_M"},
                                        {"state", "loaded"},
                                        {"max_context_length", 4096}}}));
  auto resident = Call(s, "GET", "/loaded").body["models"];
  ASSERT_EQ(resident.size(), 1u) << "modeld's own view agrees";

  auto unloaded = Call(s, "POST", "/api/v1/models/unload", {{"instance_id", "acme/tiny-chat"}});
  ASSERT_EQ(unloaded.status, 200) << unloaded.text;
  EXPECT_EQ(unloaded.body, (json{{"instance_id", "acme/tiny-chat"}}));
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
  EXPECT_EQ(Call(s, "GET", "/api/v0/models").body["data"][0]["state"], "not-loaded");
  auto twice = Call(s, "POST", "/api/v1/models/unload", {{"instance_id", "acme/tiny-chat"}});
  EXPECT_EQ(twice.status, 404) << twice.text;
  EXPECT_EQ(twice.body["error"]["code"], "instance_not_found");
}

TEST_F(LmStudioApiTest, AHubLinkWithoutQuantizationGetsTheOneLmStudioPicks) {
  AddQuantizedRepos();
  LmsHubEnv env(hub_.Endpoint());
  ServeChild s(data_);
  auto multi =
      Call(s, "POST", "/api/v1/models/download", {{"model", hub_.Endpoint() + "/org/multi"}});
  ASSERT_EQ(multi.status, 200) << multi.text;
  EXPECT_EQ(multi.body["quantization"], "Q4_K_M");
  EXPECT_EQ(multi.body["total_size_bytes"], 6000) << "the Q4_K_M file alone";
  WaitForEnd(s, multi.body["job_id"].get<std::string>());
  EXPECT_EQ(
      Call(s, "GET", "/api/v1/models/download/status/" + multi.body["job_id"].get<std::string>())
          .body["status"],
      "completed");

  // No Q4_K_M: the smallest 4-bit (IQ4_XS), not the smallest of all (Q2_K).
  auto other =
      Call(s, "POST", "/api/v1/models/download", {{"model", hub_.Endpoint() + "/org/noq4km"}});
  ASSERT_EQ(other.status, 200) << other.text;
  EXPECT_EQ(other.body["quantization"], "IQ4_XS");
  EXPECT_EQ(other.body["total_size_bytes"], 4100);
  WaitForEnd(s, other.body["job_id"].get<std::string>());

  // A repeat is already downloaded, and says the quantization it picked.
  auto again =
      Call(s, "POST", "/api/v1/models/download", {{"model", hub_.Endpoint() + "/org/multi"}});
  EXPECT_EQ(again.body, (json{{"status", "already_downloaded"}, {"quantization", "Q4_K_M"}}))
      << again.text;

  std::set<std::string> keys;
  auto listed = Call(s, "GET", "/api/v1/models");
  ASSERT_EQ(listed.status, 200) << listed.text;
  for (const auto& m : listed.body["models"]) {
    keys.insert(m["key"].get<std::string>());
    EXPECT_EQ(m["publisher"], "org");
  }
  EXPECT_EQ(keys, (std::set<std::string>{"org/multi:Q4_K_M", "org/noq4km:IQ4_XS"}))
      << listed.text << Call(s, "GET", "/models").text;
}

TEST_F(LmStudioApiTest, AHubLinkWithAQuantizationGetsThatOne) {
  AddQuantizedRepos();
  LmsHubEnv env(hub_.Endpoint());
  ServeChild s(data_);
  auto q8 = Call(s, "POST", "/api/v1/models/download",
                 {{"model", hub_.Endpoint() + "/org/multi"}, {"quantization", "Q8_0"}});
  ASSERT_EQ(q8.status, 200) << q8.text;
  EXPECT_EQ(q8.body["quantization"], "Q8_0");
  EXPECT_EQ(q8.body["total_size_bytes"], 9000);
  WaitForEnd(s, q8.body["job_id"].get<std::string>());
  auto listed = Call(s, "GET", "/api/v1/models").body["models"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["key"], "org/multi:Q8_0");
  // The Hub's org/name works as well as its link.
  auto by_name = Call(s, "POST", "/api/v1/models/download", {{"model", "org/noq4km"}});
  ASSERT_EQ(by_name.status, 200) << by_name.text;
  EXPECT_EQ(by_name.body["quantization"], "IQ4_XS");
  WaitForEnd(s, by_name.body["job_id"].get<std::string>());
  // A quantization the repository does not have: 404 in LM Studio's shape.
  auto missing = Call(s, "POST", "/api/v1/models/download",
                      {{"model", hub_.Endpoint() + "/org/multi"}, {"quantization", "Q5_K_M"}});
  EXPECT_EQ(missing.status, 404) << missing.text;
  EXPECT_NE(missing.body["error"]["message"].get<std::string>().find("Q5_K_M"), std::string::npos);
}

TEST_F(LmStudioApiTest, ErrorsAreInLmStudioShapeWithTheRightStatus) {
  AddQuantizedRepos();
  LmsHubEnv env(hub_.Endpoint());
  ServeChild s(data_, CatalogArgs());
  auto expect_error = [](const Reply& r, long status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.text;
    ASSERT_TRUE(r.body.is_object() && r.body["error"].is_object()) << r.text;
    EXPECT_FALSE(r.body["error"].value("message", "").empty()) << r.text;
    EXPECT_TRUE(r.body["error"]["type"].is_string()) << r.text;
    EXPECT_EQ(r.body["error"]["code"], code) << r.text;
  };
  auto raw = [&s](const std::string& path, const std::string& body) {
    auto r = HttpCall("POST", s.base() + path, body, {"Content-Type: application/json"});
    return Reply{r.status, json::parse(r.body, nullptr, false), r.body};
  };
  for (const char* path :
       {"/api/v1/models/download", "/api/v1/models/load", "/api/v1/models/unload"}) {
    expect_error(raw(path, "{not json"), 400, "invalid_request");
    expect_error(raw(path, "[]"), 400, "invalid_request");
    expect_error(raw(path, "{}"), 400, "invalid_request");
  }
  auto missing = raw("/api/v1/models/download", "{}");
  EXPECT_EQ(missing.body["error"]["message"], "Invalid parameter 'model': required");
  expect_error(Call(s, "POST", "/api/v1/models/download", {{"model", 42}}), 400, "invalid_request");
  expect_error(Call(s, "GET", "/api/v1/models/download/status/dwnld_nope"), 404, "job_not_found");
  expect_error(Call(s, "POST", "/api/v1/models/download", {{"model", "nobody/nothing"}}), 404,
               "model_not_found");
  expect_error(
      Call(s, "POST", "/api/v1/models/download", {{"model", hub_.Endpoint() + "/org/absent"}}), 404,
      "model_not_found");
  auto load = Call(s, "POST", "/api/v1/models/load", {{"model", "acme/tiny-chat"}});
  expect_error(load, 404, "model_not_found");
  EXPECT_EQ(load.body["error"]["error_detail"]["reason"], "MODEL_NOT_INSTALLED") << load.text;
  expect_error(
      Call(s, "POST", "/api/v1/models/load", {{"model", "acme/tiny-chat"}, {"context_length", -1}}),
      400, "invalid_request");
  expect_error(Call(s, "POST", "/api/v1/models/unload", {{"instance_id", "acme/tiny-chat"}}), 404,
               "instance_not_found");
}

// The server checks a configured token on every request; without one, any Authorization
// header (clients send "Bearer lm-studio") is accepted. On a listener speaking only LM
// Studio (`--listen 127.0.0.1:1234=lmstudio`, here on port 0) the refusal is in LM Studio's
// shape, and the other dialects' routes are not there.
TEST_F(LmStudioApiTest, TheBearerTokenOnAndOffAndALmStudioOnlyListener) {
  {
    ServeChild open(data_);
    EXPECT_EQ(Call(open.base(), "GET", "/api/v1/models", json(), "lm-studio").status, 200);
    EXPECT_EQ(Call(open.base(), "GET", "/api/v1/models", json(), "-").status, 200);
  }
  ServeChild s(data_, {"--token", "s3cret", "--listen", "127.0.0.1:0=lmstudio"});
  const std::string lms = SecondBase(s);
  ASSERT_FALSE(lms.empty()) << s.Log();
  for (const std::string& base : {s.base(), lms}) {
    EXPECT_EQ(Call(base, "GET", "/api/v1/models", json(), "lm-studio").status, 401);
    EXPECT_EQ(Call(base, "GET", "/api/v1/models", json(), "-").status, 401);
    auto ok = Call(base, "GET", "/api/v1/models", json(), "s3cret");
    EXPECT_EQ(ok.status, 200) << ok.text;
    EXPECT_TRUE(ok.body["models"].is_array()) << ok.text;
  }
  auto refused = Call(lms, "GET", "/api/v0/models", json(), "lm-studio");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.body["error"]["type"], "authentication_error") << refused.text;
  EXPECT_EQ(refused.body["error"]["code"], "unauthorized") << refused.text;
  auto generic = Call(lms, "GET", "/model-download", json(), "s3cret");
  EXPECT_EQ(generic.status, 404) << "only LM Studio's routes: " << generic.text;
  EXPECT_EQ(generic.body["error"]["code"], "not_found") << generic.text;
  EXPECT_EQ(Call(lms, "GET", "/api/v0/models", json(), "s3cret").body["object"], "list");
}

}  // namespace
}  // namespace modeld::testing
