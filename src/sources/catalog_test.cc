#include "sources/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sources/resolver.h"

namespace modeld::sources {
namespace {

TEST(CatalogTest, TheDefaultCatalogParsesAndIsComplete) {
  const Catalog& c = Catalog::Default();
  EXPECT_EQ(c.name(), "default");
  ASSERT_GE(c.models().size(), 5u);
  for (const auto& m : c.models()) {
    SCOPED_TRACE(m.name);
    EXPECT_FALSE(m.description.empty());
    ASSERT_NE(m.Find("latest"), nullptr);
    for (const auto& v : m.versions) {
      // Every direct file carries its publisher's digest; Hub entries get theirs from the Hub.
      for (const auto& f : v.files) EXPECT_TRUE(f.checksum.has_value()) << f.url;
      EXPECT_TRUE(v.hub || !v.files.empty());
    }
  }
  const CatalogModel* w = c.Find("whisper-base.en");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->Find("latest")->files[0].checksum->ToString(),
            "sha1:137c40403d78fd54d454da0f9bd998f78703390c");
}

TEST(CatalogTest, SearchMatchesEveryWordInNamesDescriptionsAndTags) {
  const Catalog& c = Catalog::Default();
  auto speech = c.Search("speech english");
  ASSERT_FALSE(speech.empty());
  for (const auto* m : speech) EXPECT_NE(m->name.find(".en"), std::string::npos) << m->name;
  EXPECT_EQ(c.Search("").size(), c.models().size());
  EXPECT_TRUE(c.Search("no-such-model-anywhere").empty());
  auto gguf = c.Search("GGUF");
  EXPECT_GE(gguf.size(), 2u);
}

TEST(CatalogTest, VersionsAndNamesMatchCaseInsensitively) {
  const Catalog& c = Catalog::Default();
  const CatalogModel* q = c.Find("Qwen2.5-0.5B-Instruct");
  ASSERT_NE(q, nullptr);
  ASSERT_NE(q->Find("q5_k_m"), nullptr);
  EXPECT_EQ(q->Find("q5_k_m")->version, "Q5_K_M");
  EXPECT_EQ(q->Find("Q2_K"), nullptr);
}

Status ParseError(const std::string& text) {
  auto c = Catalog::Parse(text, "", "test.json");
  return c.has_value() ? Status::OK() : c.error();
}

TEST(CatalogTest, MalformedCatalogsSayWhatAndWhere) {
  EXPECT_NE(ParseError("[1]").message().find("not a JSON object"), std::string::npos);
  EXPECT_NE(ParseError(R"({"models":[]})").message().find("no 'name'"), std::string::npos);
  EXPECT_NE(
      ParseError(R"({"name":"huggingface","models":[]})").message().find("cannot be a source"),
      std::string::npos);
  auto model = [](const std::string& body) { return R"({"name":"acme","models":[)" + body + "]}"; };
  Status s = ParseError(
      model(R"({"name":"../x","versions":[{"version":"1","files":[{"url":"http://h/f"}]}]})"));
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  s = ParseError(
      model(R"({"name":"m","versions":[{"version":"1","files":[{"url":"ftp://h/f"}]}]})"));
  EXPECT_NE(s.message().find("model 'm' version '1'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("not an http(s) URL"), std::string::npos);
  s = ParseError(model(
      R"({"name":"m","versions":[{"version":"1","files":[{"url":"http://h/f","path":"../../etc/x"}]}]})"));
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();
  s = ParseError(model(
      R"({"name":"m","versions":[{"version":"1","files":[{"url":"http://h/f","sha256":"zz"}]}]})"));
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  s = ParseError(model(
      R"({"name":"m","latest":"2","versions":[{"version":"1","files":[{"url":"http://h/f"}]}]})"));
  EXPECT_NE(s.message().find("'latest' names no version"), std::string::npos);
  s = ParseError(model(R"({"name":"m","versions":[{"version":"1"}]})"));
  EXPECT_NE(s.message().find("needs 'files'"), std::string::npos);
  s = ParseError(model(
      R"({"name":"m","versions":[{"version":"1","files":[{"url":"http://h/f","size":-1}]}]})"));
  EXPECT_NE(s.message().find("'size'"), std::string::npos);
}

// Catalog paths get the same check as Hub listings and archive entries: nothing may be
// written into a .git directory.
TEST(CatalogTest, APathIntoGitIsRefusedNamingIt) {
  auto model = [](const std::string& file) {
    return R"({"name":"acme","models":[{"name":"m","versions":[{"version":"1","files":[)" + file +
           "]}]}]}";
  };
  for (const char* file : {R"({"url":"http://h/f","path":"sub/.git/config"})",
                           R"({"url":"http://h/f","path":".GIT/hooks/post-checkout"})",
                           R"({"url":"http://h/repo/.git"})"}) {
    Status s = ParseError(model(file));
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << file;
    EXPECT_NE(s.message().find(".git"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("model 'm' version '1'"), std::string::npos) << s.message();
  }
}

TEST(CatalogTest, LoadsFromAFileUnderItsOwnOrAGivenName) {
  auto path = std::filesystem::temp_directory_path() /
              ("modeld-catalog-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"name":"acme","models":[{"name":"m","tags":["x"],
      "versions":[{"version":"v1","files":[{"url":"http://h/w.bin?sig=1","size":5,"sha256":")"
                      << std::string(64, 'a') << R"("}]}]}]})";
  auto c = Catalog::Load(path.string());
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->name(), "acme");
  const auto* v = c->Find("m")->Find("latest");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->files[0].path, "w.bin");
  EXPECT_EQ(c->Find("m")->Size(*v), 5u);
  auto renamed = Catalog::Load("mirror=" + path.string());
  ASSERT_TRUE(renamed.has_value());
  EXPECT_EQ(renamed->name(), "mirror");
  std::filesystem::remove(path);
  EXPECT_EQ(Catalog::Load(path.string()).error().code(), Status::Code::kNotFound);
}

TEST(ResolverTest, QuantizationNames) {
  for (const char* q : {"Q4_K_M", "q8_0", "IQ3_XS", "Q2_K", "F16", "bf16", "Q4_0"})
    EXPECT_TRUE(LooksLikeQuantization(q)) << q;
  for (const char* v : {"main", "v1.0", "latest", "refs-pr-1", "0123abcd", "Q", "QA"})
    EXPECT_FALSE(LooksLikeQuantization(v)) << v;
}

TEST(ResolverTest, UnknownNamesAndSourcesAreClearErrors) {
  Resolver r(ResolverConfig{});
  SourceRequest req;
  req.name = "no-such-model";
  auto p = r.Resolve(req);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), Status::Code::kNotFound);
  EXPECT_NE(p.error().message().find("not found in repository"), std::string::npos)
      << p.error().message();
  req.source = "acme";
  EXPECT_EQ(r.Resolve(req).error().code(), Status::Code::kInvalidArgument);
  req.source = "url";
  EXPECT_EQ(r.Resolve(req).error().code(), Status::Code::kInvalidArgument);
  req.source = "default";
  req.name = "whisper-tiny";
  req.version = "v9";
  p = r.Resolve(req);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message().find("versions: ggml"), std::string::npos) << p.error().message();
}

TEST(ResolverTest, CatalogFilesNeedNoNetwork) {
  // Files on another host than the Hub endpoint are plain URLs: nothing to ask anyone.
  // (On huggingface.co itself they would go through the Hub API, for its digests.)
  ResolverConfig config;
  config.hub.endpoint = "http://127.0.0.1:9";
  Resolver r(config);
  SourceRequest req;
  req.name = "whisper-large-v3";
  req.version = "q5_0";
  auto p = r.Resolve(req);
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->source, "default");
  ASSERT_EQ(p->files.size(), 1u);
  EXPECT_EQ(p->files[0].path, "ggml-large-v3-q5_0.bin");
  EXPECT_EQ(p->files[0].checksum->algorithm, HashAlgorithm::kSha1);
  EXPECT_FALSE(p->description.empty());
}

}  // namespace
}  // namespace modeld::sources
