#include "sources/jan_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sources/resolver.h"

namespace modeld::sources {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Jan's own example (dialects.md 3.1).
constexpr const char* kJanTinyLlama = R"({
  "id": "tinyllama-1.1b", "object": "model", "name": "TinyLlama Chat 1.1B Q4", "version": "1.0",
  "format": "gguf",
  "sources": [{"filename": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
               "url": "https://huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/main/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"}],
  "created": 0, "description": "",
  "settings": {"ctx_len": 4096, "llama_model_path": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"},
  "parameters": {"temperature": 0.7, "max_tokens": 2048, "stream": true, "stop": []},
  "metadata": {"author": "TinyLlama", "tags": ["Tiny"], "size": 669000000}, "engine": "nitro"})";

void JanWrite(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(JanModelTest, JansExampleIsAnEntryWithOneVersionOfItsSources) {
  auto m = ParseJanModel(kJanTinyLlama, "t");
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->name, "tinyllama-1.1b");
  EXPECT_EQ(m->description, "TinyLlama Chat 1.1B Q4") << "the display name when no description";
  EXPECT_EQ(m->tags, std::vector<std::string>{"Tiny"});
  ASSERT_EQ(m->versions.size(), 1u);
  EXPECT_EQ(m->latest, "latest");
  const CatalogVersion* v = m->Find("latest");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->files.size(), 1u);
  EXPECT_EQ(v->files[0].path, "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
  EXPECT_EQ(v->files[0].url.rfind("https://huggingface.co/TheBloke/", 0), 0u);
  EXPECT_FALSE(v->files[0].size) << "metadata.size is the model's, not a file's";
  EXPECT_EQ(m->jan["engine"], "nitro") << "the model.json is kept as given";
  EXPECT_EQ(m->jan["settings"]["ctx_len"], 4096);
}

TEST(JanModelTest, AFileWithoutFilenameIsNamedByItsUrl) {
  auto m = ParseJanModel(
      R"({"id": "org/m", "sources": [{"url": "http://h/x/a.gguf"}, {"url": "http://h/b.bin"}]})",
      "t");
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->name, "org/m");
  EXPECT_EQ(m->versions[0].files[0].path, "a.gguf");
  EXPECT_EQ(m->versions[0].files[1].path, "b.bin");
}

TEST(JanModelTest, BadModelJsonIsInvalidArgumentNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "not a JSON object"},
      {"{", "not valid JSON"},
      {R"({"sources": [{"url": "http://h/a"}]})", "'id' is required"},
      {R"({"id": 5, "sources": [{"url": "http://h/a"}]})", "'id' must be a string"},
      {R"({"id": "../x", "sources": [{"url": "http://h/a"}]})", "'id'"},
      {R"({"id": "a", "object": "thread", "sources": [{"url": "http://h/a"}]})", "'object'"},
      {R"({"id": "a"})", "'sources'"},
      {R"({"id": "a", "sources": []})", "'sources'"},
      {R"({"id": "a", "sources": [5]})", "'sources[0]' must be an object"},
      {R"({"id": "a", "sources": [{"filename": "a"}]})", "'sources[0].url' is required"},
      {R"({"id": "a", "sources": [{"url": "ftp://h/a"}]})", "not an http(s) URL"},
      {R"({"id": "a", "sources": [{"url": "http://h/a", "filename": "../a"}]})",
       "'sources[0].filename'"},
      {R"({"id": "a", "sources": [{"url": "http://h/a"}, {"url": "http://g/a"}]})",
       "two sources are named 'a'"},
      {R"({"id": "a", "sources": [{"url": "http://h/a"}], "metadata": {"tags": "x"}})",
       "'metadata.tags'"},
      {R"({"id": "a", "sources": [{"url": "http://h/a"}], "metadata": []})", "'metadata'"},
  };
  for (const auto& [text, want] : cases) {
    auto m = ParseJanModel(text, "here");
    ASSERT_FALSE(m.has_value()) << text;
    EXPECT_EQ(m.error().code(), Status::Code::kInvalidArgument) << text;
    EXPECT_NE(m.error().message().find(want), std::string::npos)
        << text << ": " << m.error().message();
    EXPECT_NE(m.error().message().find("here"), std::string::npos) << "names its origin";
  }
}

class JanFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("jan-folder-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(JanFolderTest, ReadsJansLayoutAndLooseModelJsonFiles) {
  EXPECT_TRUE(LoadJanFolder(dir_).models.empty()) << "a missing folder holds nothing";
  EXPECT_EQ(JanFolderFingerprint(dir_), "");
  JanWrite(dir_ / "tinyllama-1.1b" / "model.json", kJanTinyLlama);
  JanWrite(dir_ / "org" / "deep" / "model.json",
           R"({"id": "org/deep", "sources": [{"url": "http://h/d.gguf"}]})");
  JanWrite(dir_ / "loose.json",
           R"({"id": "loose", "object": "model", "sources": [{"url": "http://h/l.gguf"}]})");
  JanWrite(dir_ / "other.json", R"({"name": "not a model.json"})");
  JanWrite(dir_ / "broken" / "model.json", R"({"id": "broken"})");
  JanWrite(dir_ / "again" / "model.json",
           R"({"id": "Loose", "sources": [{"url": "http://h/l.gguf"}]})");
  JanFolder f = LoadJanFolder(dir_);
  std::vector<std::string> names;
  for (const auto& m : f.models) names.push_back(m.name);
  // Subdirectories first, in path order; the loose file's id was taken already.
  EXPECT_EQ(names, (std::vector<std::string>{"Loose", "org/deep", "tinyllama-1.1b"}));
  ASSERT_EQ(f.problems.size(), 2u);
  EXPECT_NE(f.problems[0].message().find("broken"), std::string::npos);
  EXPECT_NE(f.problems[1].message().find("loose.json"), std::string::npos);

  const std::string before = JanFolderFingerprint(dir_);
  EXPECT_NE(before, "");
  EXPECT_EQ(JanFolderFingerprint(dir_), before) << "unchanged";
  JanWrite(dir_ / "new" / "model.json", R"({"id": "new", "sources": [{"url": "http://h/n"}]})");
  EXPECT_NE(JanFolderFingerprint(dir_), before) << "a new file changes it";
}

TEST_F(JanFolderTest, ItsEntriesResolveAsAnyCatalogsDo) {
  JanWrite(dir_ / "mine" / "model.json",
           R"({"id": "mine", "description": "d", "metadata": {"tags": ["t"]},
               "sources": [{"filename": "w.gguf", "url": "http://127.0.0.1:1/x/w.gguf"}]})");
  JanFolder f = LoadJanFolder(dir_);
  ResolverConfig config;
  config.catalogs.push_back(
      Catalog::FromModels(std::string(kJanCatalogName), dir_.string(), std::move(f.models)));
  Resolver r(std::move(config));
  SourceRequest req;
  req.name = "mine";
  req.version = "latest";
  req.source = "jan";
  auto plan = r.Resolve(req);
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  EXPECT_EQ(plan->source, "jan");
  ASSERT_EQ(plan->files.size(), 1u);
  EXPECT_EQ(plan->files[0].path, "w.gguf");
  EXPECT_EQ(plan->files[0].url, "http://127.0.0.1:1/x/w.gguf");
  EXPECT_EQ(plan->description, "d");
  req.source = "";  // by name alone, as every catalog is searched
  EXPECT_TRUE(r.Resolve(req).has_value());
}

TEST(JanCatalogTest, FromModelsKeepsTheFirstOfANameAndFindsThem) {
  CatalogModel a, b;
  a.name = "x";
  b.name = "X";
  a.latest = b.latest = "latest";
  a.versions.push_back({"latest", {{"a", "http://h/a", std::nullopt, std::nullopt}}, {}});
  b.versions = a.versions;
  Catalog c = Catalog::FromModels("jan", "dir", {a, b});
  EXPECT_EQ(c.name(), "jan");
  EXPECT_EQ(c.origin(), "dir");
  ASSERT_EQ(c.models().size(), 1u);
  EXPECT_EQ(c.Find("x")->name, "x");
}

}  // namespace
}  // namespace modeld::sources
