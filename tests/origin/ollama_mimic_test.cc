#include "ollama_mimic.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http_client.h"

namespace modeld::testing {
namespace {

const std::string kOllamaTemplateType = "application/vnd.ollama.image.template";

HttpReply OllamaCall(const std::string& method, const std::string& url,
                     std::vector<std::string> headers = {}) {
  return HttpCall(method, url, "", headers, nullptr, 10);
}

// The value of header |name| in |reply| (the last one), "" when absent.
std::string OllamaHeader(const HttpReply& reply, const std::string& name) {
  std::string found;
  size_t at = 0;
  while (at < reply.headers.size()) {
    size_t end = reply.headers.find("\r\n", at);
    if (end == std::string::npos) end = reply.headers.size();
    std::string line = reply.headers.substr(at, end - at);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.c_str(), name.c_str(), name.size()) == 0) {
      found = line.substr(name.size() + 2);
    }
    at = end + 2;
  }
  return found;
}

class OllamaMimicTest : public ::testing::Test {
 protected:
  std::string Url(const std::string& path) { return o_.registry.Url(path); }

  OllamaOrigins o_;
  OllamaMimic& ollama_ = o_.ollama;
  const std::string weights_ = RandomBytes(200000, 11);
  const std::string template_ = "{{ .Prompt }}";
};

TEST_F(OllamaMimicTest, ServesTheManifestOllamaServes) {
  std::string manifest =
      ollama_.AddModel("library", "tiny", "latest",
                       {{kOllamaModelType, weights_}, {kOllamaTemplateType, template_}});
  std::string layers_json = "\"layers\":[{\"mediaType\":\"" + kOllamaModelType +
                            "\",\"digest\":\"sha256:" + Sha256Hex(weights_) +
                            "\",\"size\":200000}" + ",{\"mediaType\":\"" + kOllamaTemplateType +
                            "\",\"digest\":\"sha256:" + Sha256Hex(template_) + "\",\"size\":13}]}";
  std::string config =
      "{\"model_format\":\"gguf\",\"model_family\":\"llama\",\"model_families\":[\"llama\"],"
      "\"model_type\":\"1B\",\"file_type\":\"Q4_K_M\",\"architecture\":\"amd64\",\"os\":\"linux\","
      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" +
      Sha256Hex(weights_) + "\",\"sha256:" + Sha256Hex(template_) + "\"]}}";
  EXPECT_EQ(manifest,
            "{\"schemaVersion\":2,\"mediaType\":\"" + kOllamaManifestType +
                "\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
                "\"digest\":\"sha256:" +
                Sha256Hex(config) + "\",\"size\":" + std::to_string(config.size()) + "}," +
                layers_json);

  auto r = OllamaCall("GET", Url("/v2/library/tiny/manifests/latest"),
                      {"Accept: " + kOllamaManifestType});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, manifest);
  EXPECT_EQ(OllamaHeader(r, "Content-Type"), kOllamaManifestType);
  EXPECT_EQ(OllamaHeader(r, "Docker-Content-Digest"), "sha256:" + Sha256Hex(manifest));
  EXPECT_EQ(ollama_.AcceptSeen(), std::vector<std::string>{kOllamaManifestType});

  auto head = OllamaCall("HEAD", Url("/v2/library/tiny/manifests/latest"));
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(OllamaHeader(head, "Content-Length"), std::to_string(manifest.size()));
  EXPECT_EQ(OllamaHeader(head, "Docker-Content-Digest"), "sha256:" + Sha256Hex(manifest));

  auto by_digest =
      OllamaCall("GET", Url("/v2/library/tiny/manifests/sha256:" + Sha256Hex(manifest)));
  EXPECT_EQ(by_digest.status, 200);
  EXPECT_EQ(by_digest.body, manifest);
  EXPECT_EQ(ollama_.AcceptSeen().size(), 3u);
  EXPECT_EQ(ollama_.AcceptSeen()[1], "*/*") << "curl's default";
}

TEST_F(OllamaMimicTest, TagsShareAModelAndATagMoves) {
  std::string v1 = ollama_.AddModel("library", "tiny", "latest", {{kOllamaModelType, weights_}});
  EXPECT_EQ(ollama_.AddModel("library", "tiny", "1b", {{kOllamaModelType, weights_}}), v1);
  std::string other = RandomBytes(1000, 12);
  std::string v2 = ollama_.AddModel("library", "tiny", "latest", {{kOllamaModelType, other}});
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/manifests/latest")).body, v2);
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/manifests/1b")).body, v1);
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/manifests/sha256:" + Sha256Hex(v1))).body, v1);
}

TEST_F(OllamaMimicTest, RedirectsBlobsToTheBlobHost) {
  std::string manifest =
      ollama_.AddModel("library", "tiny", "latest",
                       {{kOllamaModelType, weights_}, {kOllamaTemplateType, template_}});
  auto m = nlohmann::json::parse(manifest);
  std::string digest = m["layers"][0]["digest"];
  auto r = OllamaCall("GET", Url("/v2/library/tiny/blobs/" + digest));
  EXPECT_EQ(r.status, 307);
  std::string location = OllamaHeader(r, "Location");
  std::string path = ollama_.BlobPath(weights_);
  EXPECT_EQ(path, "/blobs/sha256-" + Sha256Hex(weights_));
  EXPECT_EQ(location.rfind(o_.blobs.Url(path) + "?X-Amz-Expires=1200&X-Amz-Signature=", 0), 0u)
      << location;
  EXPECT_EQ(OllamaCall("HEAD", Url("/v2/library/tiny/blobs/" + digest)).status, 307);

  auto blob = OllamaCall("GET", location);
  EXPECT_EQ(blob.status, 200);
  EXPECT_EQ("sha256:" + Sha256Hex(blob.body), digest);
  EXPECT_TRUE(o_.blobs.WaitForBodyBytes(path, weights_.size()));
  auto part = OllamaCall("GET", location, {"Range: bytes=100-199"});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, weights_.substr(100, 100));
  EXPECT_EQ(o_.blobs.Requests(path).size(), 2u);

  std::string config_digest = m["config"]["digest"];
  auto config = OllamaCall(
      "GET",
      OllamaHeader(OllamaCall("GET", Url("/v2/library/tiny/blobs/" + config_digest)), "Location"));
  EXPECT_EQ("sha256:" + Sha256Hex(config.body), config_digest);
  EXPECT_EQ(nlohmann::json::parse(config.body)["rootfs"]["diff_ids"][0], digest);
  EXPECT_TRUE(o_.registry.Requests("/blobs/sha256-" + Sha256Hex(weights_)).empty());
}

TEST_F(OllamaMimicTest, ServesBlobsItselfWithoutABlobHost) {
  TestOrigin registry;
  OllamaMimic alone(registry);
  alone.AddModel("library", "tiny", "latest", {{kOllamaModelType, weights_}});
  auto r = OllamaCall("GET", registry.Url("/v2/library/tiny/blobs/sha256:" + Sha256Hex(weights_)));
  ASSERT_EQ(r.status, 307);
  EXPECT_EQ(OllamaCall("GET", OllamaHeader(r, "Location")).body, weights_);
  EXPECT_TRUE(registry.WaitForBodyBytes(alone.BlobPath(weights_), weights_.size()));
  registry.Stop();
}

TEST_F(OllamaMimicTest, AnswersTheRegistrysErrors) {
  ollama_.AddModel("library", "tiny", "latest", {{kOllamaModelType, weights_}});
  auto r = OllamaCall("GET", Url("/v2/library/nope/manifests/latest"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(
      r.body,
      R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]})");
  r = OllamaCall("GET", Url("/v2/library/tiny/manifests/70b"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
  r = OllamaCall("GET", Url("/v2/library/tiny/blobs/sha256:" + Sha256Hex("other")));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]})");
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/manifests/sha256:" + Sha256Hex("x"))).status,
            404);
  EXPECT_EQ(OllamaCall("DELETE", Url("/v2/library/tiny/manifests/latest")).status, 405);
}

TEST_F(OllamaMimicTest, PrivateModelsNeedTheirToken) {
  ollama_.AddModel("me", "secret", "latest", {{kOllamaModelType, weights_}}, "", "tok");
  const std::string challenge = "Bearer realm=\"" + Url("/token") +
                                "\",service=\"127.0.0.1:" + std::to_string(o_.registry.port()) +
                                "\",scope=\"repository:me/secret:pull\"";
  const std::vector<std::string> paths = {"/v2/me/secret/manifests/latest",
                                          "/v2/me/secret/blobs/sha256:" + Sha256Hex(weights_)};
  for (const auto& path : paths) {
    for (const auto& auth : std::vector<std::vector<std::string>>{
             {}, {"Authorization: Bearer wrong"}, {"Authorization: Bearer anon-me-secret"}}) {
      auto r = OllamaCall("GET", Url(path), auth);
      EXPECT_EQ(r.status, 401) << path;
      EXPECT_EQ(OllamaHeader(r, "WWW-Authenticate"), challenge);
      EXPECT_EQ(r.body,
                R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
    }
  }
  auto r = OllamaCall("GET", Url("/v2/me/secret/manifests/latest"), {"Authorization: Bearer tok"});
  EXPECT_EQ(r.status, 200);
  r = OllamaCall("GET", Url("/v2/me/secret/blobs/sha256:" + Sha256Hex(weights_)),
                 {"Authorization: Bearer tok"});
  EXPECT_EQ(r.status, 307);
  EXPECT_EQ(OllamaCall("GET", Url("/token?scope=repository:me/secret:pull")).status, 401);
  r = OllamaCall("GET", Url("/token?scope=repository:me/secret:pull"),
                 {"Authorization: Bearer tok"});
  EXPECT_EQ(r.body, R"({"token":"tok"})");
}

TEST_F(OllamaMimicTest, ChallengesEveryRequestWhenTokensAreRequired) {
  std::string manifest =
      ollama_.AddModel("library", "tiny", "latest", {{kOllamaModelType, weights_}});
  ollama_.RequireTokenForAll(true);
  auto r = OllamaCall("GET", Url("/v2/library/tiny/manifests/latest"));
  ASSERT_EQ(r.status, 401);
  // Bearer realm="<realm>",service="<service>",scope="<scope>", as Ollama's client reads it.
  std::string header = OllamaHeader(r, "WWW-Authenticate");
  auto field = [&](const std::string& key) {
    auto at = header.find(key + "=\"") + key.size() + 2;
    return header.substr(at, header.find('"', at) - at);
  };
  EXPECT_EQ(field("realm"), Url("/token"));
  EXPECT_EQ(field("scope"), "repository:library/tiny:pull");
  auto token = OllamaCall("GET", field("realm") + "?service=" + field("service") +
                                     "&scope=repository%3Alibrary%2Ftiny%3Apull");
  ASSERT_EQ(token.status, 200);
  std::string bearer = nlohmann::json::parse(token.body)["token"];
  EXPECT_EQ(bearer, "anon-library-tiny");

  r = OllamaCall("GET", Url("/v2/library/tiny/manifests/latest"),
                 {"Authorization: Bearer " + bearer});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, manifest);
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/blobs/sha256:" + Sha256Hex(weights_)),
                       {"Authorization: Bearer " + bearer})
                .status,
            307);
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/manifests/latest"),
                       {"Authorization: Bearer anon-library-other"})
                .status,
            401)
      << "a token is for one repository";
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/nope/manifests/latest"),
                       {"Authorization: Bearer anon-library-nope"})
                .status,
            404);
  EXPECT_EQ(OllamaCall("GET", Url("/token?scope=nonsense")).status, 400);
}

TEST_F(OllamaMimicTest, ServesAWrongBlobUnderTheTrueDigest) {
  std::string manifest =
      ollama_.AddModel("library", "tiny", "latest", {{kOllamaModelType, weights_}});
  std::string wrong = RandomBytes(weights_.size(), 13);
  ollama_.ServeWrongBlob(weights_, wrong);
  EXPECT_EQ(OllamaCall("GET", Url("/v2/library/tiny/manifests/latest")).body, manifest);
  auto r = OllamaCall("GET", Url("/v2/library/tiny/blobs/sha256:" + Sha256Hex(weights_)));
  ASSERT_EQ(r.status, 307);
  auto blob = OllamaCall("GET", OllamaHeader(r, "Location"));
  EXPECT_EQ(blob.body.size(), weights_.size());
  EXPECT_EQ(blob.body, wrong);
  // Adding a model that shares the blob keeps the lie (and any fault set with Update).
  ollama_.AddModel("library", "tiny", "v2", {{kOllamaModelType, weights_}});
  EXPECT_EQ(OllamaCall("GET", OllamaHeader(r, "Location")).body, wrong);
}

}  // namespace
}  // namespace modeld::testing
