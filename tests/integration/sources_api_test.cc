// Every source through the real server: Hugging Face repositories (against the Hub
// mimic, with its CDN on another host), catalogs, direct URLs and archives.
#include <gtest/gtest.h>

#include <fstream>

#include "archive_writer.h"
#include "hub_mimic.h"
#include "origin.h"
#include "server_harness.h"
#include "sources/catalog.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kApiCommit = "0123456789abcdef0123456789abcdef01234567";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class SourcesTest : public ServerHarness, protected HubFixture {
 protected:
  void SetUp() override {
    AddTinyRepos(hub_, kApiCommit);
    hub_.SetPageSize(2);
    Configure(false, "");
    Start();
  }
  // A Resolver pointed at the mimic, with an "acme" catalog served by origin_.
  void Configure(bool offline, const std::string& token, const fs::path& hub_cache = "") {
    sources::ResolverConfig c;
    c.hub.endpoint = api_.Url("");
    c.hub.token = token;
    c.hub.offline = offline;
    c.hub.max_backoff = std::chrono::milliseconds(200);
    c.hub_cache = hub_cache.empty() ? dir_.path() / "hf" : hub_cache;
    std::string a = RandomBytes(300000, 10), b = "{\"labels\": 3}";
    origin_.Put("/acme/a.bin", {.content = a});
    origin_.Put("/acme/labels.json", {.content = b});
    json catalog = {
        {"name", "acme"},
        {"models",
         {{{"name", "acme-model"},
           {"description", "Acme's in-house classifier"},
           {"tags", {"vision", "internal"}},
           {"latest", "2"},
           {"versions",
            {{{"version", "1"},
              {"files", {{{"url", origin_.Url("/acme/a.bin")}, {"sha256", std::string(64, '0')}}}}},
             {{"version", "2"},
              {"files",
               {{{"url", origin_.Url("/acme/a.bin")}, {"size", a.size()}, {"sha256", Sha256Hex(a)}},
                {{"url", origin_.Url("/acme/labels.json")},
                 {"path", "meta/labels.json"},
                 {"checksum", "md5:" + Md5(b)}}}}},
             {{"version", "q8"}, {"huggingface", {{"repo", "org/tiny"}, {"quantization", "Q8_0"}}}},
             {{"version", "cfg"},
              {"files",
               {{{"url", api_.Url("/org/tiny/resolve/main/config.json")},
                 {"path", "conf/model.json"}},
                {{"url", api_.Url("/org/tiny/resolve/main/tokenizer/vocab.txt")}}}}}}}}}}};
    auto cat = sources::Catalog::Parse(catalog.dump(), "", "acme.json");
    ASSERT_TRUE(cat.has_value()) << cat.error().ToString();
    c.catalogs.push_back(std::move(cat.value()));
    resolver_ = std::make_shared<sources::Resolver>(std::move(c));
  }
  void Restart(bool offline, const std::string& token) {
    Stop();
    Configure(offline, token);
    Start();
  }
  static std::string Md5(const std::string& s) { return HashHex(HashAlgorithm::kMd5, s); }
  static std::string Weights() { return TinyWeights(); }
  // POSTs with wait=true: {status, body}.
  std::pair<long, json> Pull(json body) {
    body["wait"] = true;
    return Post(body);
  }
  json Model(const std::string& name) {
    auto [code, j] = Get("/models/" + name);
    EXPECT_EQ(code, 200) << j.dump();
    return code == 200 ? j["versions"][0] : json();
  }
  static std::map<std::string, json> Files(const json& model) {
    std::map<std::string, json> out;
    for (const auto& f : model["files"]) out[f["path"]] = f;
    return out;
  }
  uint64_t CdnBytes() {
    uint64_t n = 0;
    for (const auto& r : cdn_.Requests()) n += r.body_bytes;
    return n;
  }

  const std::string& kConfig = kTinyConfig;
  TestOrigin origin_;
};

TEST_F(SourcesTest, PullsAHubRepositoryVerifiedIntoTheStoreAndTheHubCache) {
  auto [code, j] = Pull({{"model_name", "org/tiny"}, {"exclude", {"*.gguf"}}});
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(j["status"], "completed");
  json m = Model("org/tiny");
  EXPECT_EQ(m["version"], "latest");
  EXPECT_EQ(m["source"], "huggingface");
  EXPECT_EQ(m["metadata"]["huggingface"]["commit"], kApiCommit);
  auto files = Files(m);
  ASSERT_EQ(files.size(), 3u) << m.dump();
  fs::path dir = m["path"].get<std::string>();
  EXPECT_EQ(j["file_path"], dir.string()) << "several files: the model's directory";
  EXPECT_EQ(ReadFile(dir / "config.json"), kConfig);
  EXPECT_EQ(ReadFile(dir / "tokenizer/vocab.txt"), "a\nb\n");
  EXPECT_EQ(ReadFile(dir / "model.safetensors"), Weights());
  // The Hub's own layout, so huggingface_hub and transformers find it too.
  fs::path repo = dir_.path() / "hf" / "models--org--tiny";
  EXPECT_EQ(ReadFile(repo / "refs" / "main"), kApiCommit);
  EXPECT_EQ(ReadFile(repo / "snapshots" / kApiCommit / "tokenizer/vocab.txt"), "a\nb\n");
  EXPECT_TRUE(fs::exists(repo / "blobs" / Sha256Hex(Weights())));
  EXPECT_TRUE(fs::exists(repo / "blobs" / HubMimic::GitBlobSha1(kConfig)));
}

TEST_F(SourcesTest, AQuantizationPicksItsGgufPartsAndBlobsAreNeverFetchedTwice) {
  auto [code, j] = Pull({{"model_name", "org/tiny"}, {"version", "Q4_K_M"}});
  ASSERT_EQ(code, 200) << j.dump();
  auto files = Files(Model("org/tiny"));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(files.count("gguf/tiny-Q4_K_M-00001-of-00002.gguf"));
  uint64_t fetched = CdnBytes();
  EXPECT_EQ(fetched, 300000u);
  // The same files under another version name (a revision, with a glob): nothing moves.
  std::tie(code, j) =
      Pull({{"model_name", "org/tiny"}, {"version", "v1.0"}, {"include", {"gguf/*Q4_K_M*"}}});
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(CdnBytes(), fetched);
  // An unknown quantization is a 404 that lists what there is.
  std::tie(code, j) = Post({{"model_name", "org/tiny"}, {"version", "Q2_K"}});
  EXPECT_EQ(code, 404);
  EXPECT_NE(j["detail"].get<std::string>().find("tiny-Q8_0.gguf"), std::string::npos) << j.dump();
}

TEST_F(SourcesTest, EveryFileIsVerifiedLfsBySha256AndSmallOnesByGitSha1) {
  std::string fake = kConfig;
  fake[3] = 'X';  // same size, other bytes
  hub_.ServeInstead("org/tiny", "config.json", fake);
  auto [code, j] = Pull({{"model_name", "org/tiny"}, {"include", {"*.json"}}});
  EXPECT_EQ(code, 500) << j.dump();
  EXPECT_NE(j["detail"].get<std::string>().find("checksum mismatch"), std::string::npos)
      << j.dump();
  EXPECT_EQ(Get("/models/org/tiny").first, 404) << "nothing installed";
  hub_.ServeInstead("org/tiny", "config.json", "");
  std::string bad = Weights();
  bad[100] ^= 1;
  hub_.ServeInstead("org/tiny", "model.safetensors", bad);
  std::tie(code, j) = Pull({{"model_name", "org/tiny"}, {"include", {"*.safetensors"}}});
  EXPECT_EQ(code, 500) << j.dump();
  EXPECT_NE(j["detail"].get<std::string>().find("model.safetensors"), std::string::npos)
      << j.dump();
  hub_.ServeInstead("org/tiny", "model.safetensors", "");
  std::tie(code, j) = Pull({{"model_name", "org/tiny"}, {"include", {"*.safetensors", "*.json"}}});
  EXPECT_EQ(code, 200) << j.dump();
}

TEST_F(SourcesTest, GatedRepositoriesSayWhatToDoAndTheTokenStaysOnTheHub) {
  auto [code, j] = Post({{"model_name", "org/gated"}});
  EXPECT_EQ(code, 403);
  std::string detail = j["detail"];
  EXPECT_NE(detail.find("accept its licence"), std::string::npos) << detail;
  EXPECT_NE(detail.find("HF_TOKEN"), std::string::npos) << detail;
  Restart(false, "hf_secret");
  std::tie(code, j) = Pull({{"model_name", "org/gated"}, {"source", "huggingface"}});
  ASSERT_EQ(code, 200) << j.dump();
  bool hub_saw_token = false;
  for (const auto& a : hub_.AuthSeen()) hub_saw_token = hub_saw_token || a == "Bearer hf_secret";
  EXPECT_TRUE(hub_saw_token);
  ASSERT_FALSE(cdn_.Requests().empty());
  for (const auto& r : cdn_.Requests()) EXPECT_EQ(r.authorization, "") << "token sent to the CDN";
  for (const auto& r : origin_.Requests()) EXPECT_EQ(r.authorization, "");
}

TEST_F(SourcesTest, UnknownRepositoriesRevisionsAndFilesAre404) {
  EXPECT_EQ(Post({{"model_name", "org/nope"}}).first, 404);
  auto [code, j] = Post({{"model_name", "org/tiny"}, {"revision", "no-such-branch"}});
  EXPECT_EQ(code, 404);
  EXPECT_NE(j["detail"].get<std::string>().find("no-such-branch"), std::string::npos) << j.dump();
  std::tie(code, j) =
      Post({{"model_name", "x"}, {"download_url", api_.Url("/org/tiny/resolve/main/missing.bin")}});
  EXPECT_EQ(code, 404) << j.dump();
  std::tie(code, j) = Post({{"model_name", "org/tiny"}, {"source", "nowhere"}});
  EXPECT_EQ(code, 400);
  EXPECT_NE(j["detail"].get<std::string>().find("acme"), std::string::npos)
      << "lists the known sources";
}

TEST_F(SourcesTest, RateLimitsBackOffAndSucceed) {
  hub_.RateLimitNext(2, 1);
  auto [code, j] = Pull({{"model_name", "org/tiny"}, {"include", {"*.json"}}});
  EXPECT_EQ(code, 200) << j.dump();
}

TEST_F(SourcesTest, AnExpiredCdnLinkIsResolvedAgainKeepingItsBytes) {
  std::string big = RandomBytes(16 * kMiB, 7);
  hub_.AddRepo("org/big", kApiCommit, {"main"}, {{"big.safetensors", big, true}});
  cdn_.Update(hub_.CdnPath(big), [](FileSpec& f) { f.rate = 4 * kMiB; });
  auto [code, started] = Post({{"model_name", "org/big"}});
  ASSERT_EQ(code, 200) << started.dump();
  ASSERT_TRUE(cdn_.WaitForBodyBytes(hub_.CdnPath(big), 4 * kMiB));
  hub_.RotateCdnLinks();  // the signed link expires: 403 from now on
  json done = PollUntilDone(started["download_id"]);
  EXPECT_EQ(done["status"], "completed") << done.dump();
  EXPECT_LT(CdnBytes(), big.size() + big.size() / 10) << "bytes before the expiry were kept";
  EXPECT_EQ(ReadFile(fs::path(Model("org/big")["path"].get<std::string>()) / "big.safetensors"),
            big);
}

TEST_F(SourcesTest, AHubFileLinkAsDownloadUrlGoesThroughTheHub) {
  auto [code, j] = Pull({{"model_name", "tiny-config"},
                         {"download_url", api_.Url("/org/tiny/resolve/main/config.json")}});
  ASSERT_EQ(code, 200) << j.dump();
  json m = Model("tiny-config");
  EXPECT_EQ(m["source"], "huggingface");
  ASSERT_EQ(m["files"].size(), 1u);
  EXPECT_EQ(m["files"][0]["path"], "config.json");
  EXPECT_EQ(j["sha256"], Sha256Hex(kConfig));
}

TEST_F(SourcesTest, OfflineModeUsesTheHubCacheWithoutANetworkRequest) {
  ASSERT_EQ(Pull({{"model_name", "org/tiny"}, {"exclude", {"*.gguf"}}}).first, 200);
  // Another data dir sharing the Hub cache, offline: everything comes from the cache.
  store::StoreOptions o;
  o.data_dir = dir_.path() / "other-data";
  o.hf_cache = dir_.path() / "hf";
  auto st = store::Store::Open(o);
  ASSERT_TRUE(st.has_value());
  sources::ResolverConfig c;
  c.hub.endpoint = api_.Url("");
  c.hub.offline = true;
  c.hub_cache = o.hf_cache;
  service::ModelService svc(std::move(st.value()), nullptr,
                            std::make_shared<sources::Resolver>(std::move(c)));
  size_t api_requests = api_.Requests().size(), cdn_requests = cdn_.Requests().size();
  service::PullRequest req;
  req.ref = {"org/tiny", "latest"};
  req.exclude = {"*.gguf"};
  auto r = svc.Pull(req, nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_FALSE(r->downloaded);
  EXPECT_EQ(r->model.files.size(), 3u);
  EXPECT_EQ(api_.Requests().size(), api_requests);
  EXPECT_EQ(cdn_.Requests().size(), cdn_requests);
  EXPECT_EQ(ReadFile(r->model.path / "config.json"), kConfig);
  // What the cache does not hold is an error that says so.
  req.ref = {"org/gated", "latest"};
  req.exclude.clear();
  auto missing = svc.Pull(req, nullptr);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Status::Code::kUnavailable);
  EXPECT_NE(missing.error().message().find("HF_HUB_OFFLINE"), std::string::npos);
}

TEST_F(SourcesTest, CatalogsListSearchAndInstall) {
  auto [code, cat] = Get("/catalog");
  ASSERT_EQ(code, 200);
  std::set<std::string> names, sources;
  for (const auto& m : cat["models"]) names.insert(m["name"].get<std::string>());
  for (const auto& s : cat["sources"]) sources.insert(s["name"].get<std::string>());
  EXPECT_TRUE(names.count("acme-model"));
  EXPECT_TRUE(names.count("whisper-base.en")) << "the default catalog is always there";
  EXPECT_EQ(sources, (std::set<std::string>{"default", "acme"}));
  std::tie(code, cat) = Get("/catalog?q=internal%20classifier");
  ASSERT_EQ(cat["models"].size(), 1u) << cat.dump();
  EXPECT_EQ(cat["models"][0]["source"], "acme");
  std::tie(code, cat) = Get("/catalog?source=acme");
  EXPECT_EQ(cat["models"].size(), 1u);

  // latest is version 2: two files, one renamed into a directory, sha256 and md5 checked.
  auto [pc, j] = Pull({{"model_name", "acme-model"}, {"source", "acme"}});
  ASSERT_EQ(pc, 200) << j.dump();
  json m = Model("acme-model");
  EXPECT_EQ(m["source"], "acme");
  EXPECT_EQ(m["description"], "Acme's in-house classifier");
  auto files = Files(m);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(ReadFile(fs::path(m["path"].get<std::string>()) / "meta/labels.json"),
            "{\"labels\": 3}");
  // Version 1 lists a wrong digest: refused, nothing installed.
  std::tie(pc, j) = Pull({{"model_name", "acme-model"}, {"version", "1"}});
  EXPECT_EQ(pc, 500);
  EXPECT_NE(j["detail"].get<std::string>().find("checksum mismatch"), std::string::npos)
      << j.dump();
  // A catalog version may name a Hub selection.
  std::tie(pc, j) = Pull({{"model_name", "acme-model"}, {"version", "q8"}});
  ASSERT_EQ(pc, 200) << j.dump();
  std::tie(pc, j) = Post({{"model_name", "acme-model"}, {"version", "9"}});
  EXPECT_EQ(pc, 404);
  EXPECT_NE(j["detail"].get<std::string>().find("versions: 1, 2, q8, cfg"), std::string::npos)
      << j.dump();
  // A catalog file that is a Hub link goes through the Hub: verified by its git blob id,
  // renamed in the model, and in the Hub cache under its own name.
  auto revision_calls = [&] {
    size_t n = 0;
    for (const auto& q : api_.Requests()) n += q.target.find("/api/models/org/tiny/revision/") == 0;
    return n;
  };
  size_t before = revision_calls();
  std::tie(pc, j) = Pull({{"model_name", "acme-model"}, {"version", "cfg"}});
  ASSERT_EQ(pc, 200) << j.dump();
  EXPECT_EQ(revision_calls(), before + 1) << "one Hub listing for both files of the repository";
  fs::path cfg_dir = Model("acme-model")["path"].get<std::string>();
  auto versions = Get("/models/acme-model").second["versions"];  // not a temporary's member
  for (const auto& v : versions) {
    if (v["version"] == "cfg") cfg_dir = v["path"].get<std::string>();
  }
  EXPECT_EQ(ReadFile(cfg_dir / "conf/model.json"), kConfig);
  EXPECT_EQ(ReadFile(cfg_dir / "vocab.txt"), "a\nb\n");
  EXPECT_EQ(
      ReadFile(dir_.path() / "hf" / "models--org--tiny" / "snapshots" / kApiCommit / "config.json"),
      kConfig);
}

TEST_F(SourcesTest, DirectUrlsTakeTheirNameFromContentDisposition) {
  std::string data = RandomBytes(100000, 8);
  origin_.Put(
      "/download/7",
      {.content = data, .content_disposition = "attachment; filename=\"weights-v2.safetensors\""});
  auto [code, j] = Pull({{"model_name", "named"}, {"download_url", origin_.Url("/download/7")}});
  ASSERT_EQ(code, 200) << j.dump();
  json m = Model("named");
  EXPECT_EQ(m["files"][0]["path"], "weights-v2.safetensors");
  EXPECT_EQ(m["source"], "url");
  // A name that would escape the model's directory is not used.
  origin_.Put("/download/8",
              {.content = data, .content_disposition = "attachment; filename=\"../../evil.bin\""});
  std::tie(code, j) =
      Pull({{"model_name", "named2"}, {"download_url", origin_.Url("/download/8")}});
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(Model("named2")["files"][0]["path"], "8");
}

TEST_F(SourcesTest, ArchivesAreExtractedIntoTheModelAndCleanedUp) {
  std::string w = RandomBytes(500000, 9);
  std::string tgz = ArchiveBytes(
      {{"model/", "", 0040000}, {"model/weights.bin", w}, {"model/config.json", "{}"}}, "tar.gz");
  origin_.Put("/m.tar.gz", {.content = tgz});
  auto [code, j] = Pull({{"model_name", "packed"}, {"download_url", origin_.Url("/m.tar.gz")}});
  ASSERT_EQ(code, 200) << j.dump();
  json m = Model("packed");
  auto files = Files(m);
  ASSERT_EQ(files.size(), 2u) << m.dump();
  EXPECT_EQ(ReadFile(fs::path(m["path"].get<std::string>()) / "model/weights.bin"), w);
  auto [cc, cache] = Get("/cache");
  EXPECT_EQ(cache["blobs"], 2) << "the archive itself was cleaned up: " << cache.dump();
  // cleanup_temp_files false keeps it beside its contents.
  std::tie(code, j) = Pull({{"model_name", "packed2"},
                            {"download_url", origin_.Url("/m.tar.gz")},
                            {"options", {{"cleanup_temp_files", false}}}});
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(Files(Model("packed2")).size(), 3u);
  // extract_after_download false: the archive, as it is.
  std::tie(code, j) = Pull({{"model_name", "packed3"},
                            {"download_url", origin_.Url("/m.tar.gz")},
                            {"options", {{"extract_after_download", false}}}});
  ASSERT_EQ(code, 200) << j.dump();
  EXPECT_EQ(Files(Model("packed3")).size(), 1u);
}

TEST_F(SourcesTest, HostileArchivesFailCleanly) {
  struct Case {
    std::string name, kind;
    std::vector<ArchiveItem> items;
    std::string why;
  };
  std::vector<Case> cases = {
      {"slip", "zip", {{"ok.txt", "x"}, {"../../../../tmp/modeld-slip", "boom"}}, "'..'"},
      {"symlink", "tar", {{"l", "", 0120000, "/etc"}, {"l/passwd", "boom"}}, "outside"},
      {"device", "tar", {{"null", "", 0020000}}, "device"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    origin_.Put("/" + c.name + "." + c.kind, {.content = ArchiveBytes(c.items, c.kind)});
    auto [code, j] =
        Pull({{"model_name", c.name}, {"download_url", origin_.Url("/" + c.name + "." + c.kind)}});
    EXPECT_EQ(code, 500) << j.dump();
    EXPECT_NE(j["detail"].get<std::string>().find(c.why), std::string::npos) << j.dump();
    EXPECT_EQ(Get("/models/" + c.name).first, 404);
  }
  EXPECT_FALSE(fs::exists("/tmp/modeld-slip"));
  // A decompression bomb: 64 MiB of zeros in 64 KiB, against limits scaled down from
  // the defaults (100x past 1 GiB) so the test stays small.
  service::ArchiveLimits limits;
  limits.ratio_floor = 8 * kMiB;
  models_->set_archive_limits(limits);
  std::string bomb = ArchiveBytes({{"zeros.bin", std::string(64 * kMiB, '\0')}}, "tar.gz");
  ASSERT_LT(bomb.size(), kMiB);
  origin_.Put("/bomb.tar.gz", {.content = bomb});
  auto [code, j] = Pull({{"model_name", "bomb"}, {"download_url", origin_.Url("/bomb.tar.gz")}});
  EXPECT_EQ(code, 500) << j.dump();
  EXPECT_NE(j["detail"].get<std::string>().find("decompression bomb"), std::string::npos)
      << j.dump();
  auto [cc, cache] = Get("/cache");
  EXPECT_EQ(cache["partials"], 0) << "nothing half-extracted is left";
}

// ---------------------------------------------------------------------------------------
// The same sources through `modeld pull` and `modeld search`.

class SourcesCliTest : public SourcesTest {
 protected:
  void SetUp() override {
    SourcesTest::SetUp();
    ::setenv("HF_ENDPOINT", api_.Url("").c_str(), 1);
    ::unsetenv("HF_TOKEN");
    ::setenv("MODELD_URL", "http://127.0.0.1:1", 1);  // no server unless a test says so
  }
  void TearDown() override {
    ::unsetenv("HF_ENDPOINT");
    ::unsetenv("HF_TOKEN");
    ::unsetenv("MODELD_URL");
    SourcesTest::TearDown();
  }
  // `modeld --data-dir D ARGS...`: {exit code, stdout parsed if --json, stderr}.
  struct Out {
    int rc;
    json j;
    std::string err;
  };
  Out Modeld(std::vector<std::string> args, bool data_dir = true) {
    if (data_dir) args.insert(args.begin(), {"--data-dir", (dir_.path() / "cli-data").string()});
    std::string out, err;
    int rc = RunModeld(args, dir_.path(), &out, &err);
    return {rc, json::parse(out, nullptr, false), err};
  }
  fs::path HubCache() const { return dir_.path() / "hf-cache"; }  // the child's HF_HUB_CACHE
  fs::path WriteCatalog() {
    std::string a = RandomBytes(300000, 10);
    json catalog = {
        {"name", "acme"},
        {"models",
         {{{"name", "acme-model"},
           {"description", "Acme's in-house classifier"},
           {"versions",
            {{{"version", "2"},
              {"files", {{{"url", origin_.Url("/acme/a.bin")}, {"sha256", Sha256Hex(a)}}}}}}}}}}};
    fs::path p = dir_.path() / "acme.json";
    std::ofstream(p) << catalog.dump();
    return p;
  }
};

TEST_F(SourcesCliTest, PullsHubRepositoriesByNameQuantizationAndLink) {
  auto r = Modeld({"pull", "org/tiny:Q4_K_M", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["ref"], "org/tiny:Q4_K_M");
  EXPECT_EQ(r.j["files"].size(), 2u);
  EXPECT_EQ(ReadFile(HubCache() / "models--org--tiny" / "refs" / "main"), kApiCommit);
  // Repeatable options take one value each, so MODEL may come after them.
  // A selection is a model of its own, named by what was selected.
  r = Modeld({"pull", "--include", "*.json", "--include", "no-such-*", "hf://org/tiny", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["ref"].get<std::string>().rfind("org/tiny:sel-", 0), 0u) << r.j["ref"];
  ASSERT_EQ(r.j["files"].size(), 1u);
  EXPECT_EQ(r.j["files"][0]["path"], "config.json");
  r = Modeld({"pull", api_.Url("/org/tiny/tree/v1.0"), "--exclude", "*.gguf", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["ref"].get<std::string>().rfind("org/tiny:v1.0-sel-", 0), 0u) << r.j["ref"];
  EXPECT_EQ(r.j["files"].size(), 3u);
  // config.json came with the second pull: the third reuses it (by its URL at the commit).
  size_t config_gets = 0;
  for (const auto& q : api_.Requests()) {
    config_gets += q.method == "GET" && q.target.find("/config.json") != std::string::npos;
  }
  EXPECT_EQ(config_gets, 1u);
}

TEST_F(SourcesCliTest, ErrorsHaveTheirExitCodes) {
  auto r = Modeld({"pull", "org/gated"});
  EXPECT_EQ(r.rc, 7) << r.err;
  EXPECT_NE(r.err.find("HF_TOKEN"), std::string::npos) << r.err;
  ::setenv("HF_TOKEN", "hf_secret", 1);
  r = Modeld({"pull", "org/gated"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(Modeld({"pull", "org/nope"}).rc, 4);
  EXPECT_EQ(Modeld({"pull", "no-such-model"}).rc, 4);
  EXPECT_EQ(Modeld({"pull", "org/tiny", "-o", (dir_.path() / "x").string()}).rc, 2);
}

TEST_F(SourcesCliTest, CatalogsFromFlagsAndConfigSearchAndPull) {
  fs::path cat = WriteCatalog();
  auto r = Modeld({"--catalog", cat.string(), "search", "classifier", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(r.j["models"].size(), 1u);
  EXPECT_EQ(r.j["models"][0]["source"], "acme");
  r = Modeld({"--catalog", "mirror=" + cat.string(), "pull", "acme-model", "--source", "mirror",
              "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["source"], "mirror");
  // The data dir's config.json lists catalogs too (relative to the data dir).
  fs::create_directories(dir_.path() / "cli-data");
  fs::copy_file(cat, dir_.path() / "cli-data" / "acme.json");
  std::ofstream(dir_.path() / "cli-data" / "config.json") << R"({"catalogs": ["acme.json"]})";
  r = Modeld({"search", "acme", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["models"].size(), 1u);
  std::string out, err;
  EXPECT_EQ(RunModeld({"--data-dir", (dir_.path() / "cli-data").string(), "search", "whisper"},
                      dir_.path(), &out, &err),
            0);
  EXPECT_NE(out.find("whisper-base.en"), std::string::npos) << out;
  // A broken catalog is an error naming it, not a silent empty list.
  std::ofstream(dir_.path() / "cli-data" / "acme.json") << "{\"name\": \"acme\", \"models\": [{}]}";
  r = Modeld({"search"});
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("acme.json"), std::string::npos) << r.err;
}

TEST_F(SourcesCliTest, ArchivesThroughTheCli) {
  std::string tgz = ArchiveBytes({{"w.bin", RandomBytes(1000, 1)}, {"c.json", "{}"}}, "tar.gz");
  origin_.Put("/pack.tar.gz", {.content = tgz});
  auto r = Modeld({"pull", origin_.Url("/pack.tar.gz"), "--keep-archive", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["files"].size(), 3u);
  r = Modeld({"pull", origin_.Url("/pack.tar.gz"), "--name", "raw", "--no-extract", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j["files"].size(), 1u);
}

TEST_F(SourcesCliTest, AHubPullIsHandedToARunningServer) {
  ::setenv("MODELD_URL", base_.c_str(), 1);
  // The server's own data dir: a server over another store does not get the work.
  auto r = Modeld(
      {"--data-dir", (dir_.path() / "data").string(), "pull", "org/tiny:Q8_0", "--exclude", "*Q4*"},
      /*data_dir=*/false);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("downloading through the modeld server"), std::string::npos) << r.err;
  json m = Model("org/tiny");
  ASSERT_EQ(m["files"].size(), 1u);
  EXPECT_EQ(m["files"][0]["path"], "gguf/tiny-Q8_0.gguf");
}

TEST_F(SourcesTest, ProgressIsSummedOverTheFilesOfAPlan) {
  std::string a = RandomBytes(3 * kMiB, 20), b = RandomBytes(2 * kMiB, 21);
  hub_.AddRepo("org/two", kApiCommit, {"main"},
               {{"a.safetensors", a, true}, {"b.safetensors", b, true}});
  cdn_.Update(hub_.CdnPath(a), [](FileSpec& f) { f.rate = 4 * kMiB; });
  cdn_.Update(hub_.CdnPath(b), [](FileSpec& f) { f.rate = 4 * kMiB; });
  std::mutex mu;
  std::vector<service::JobEvent> seen;
  auto sub = jobs_->events().Subscribe([&](const service::JobEvent& ev) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(ev);
  });
  auto [code, started] = Post({{"model_name", "org/two"}});
  ASSERT_EQ(code, 200) << started.dump();
  EXPECT_NEAR(started["estimated_size_mb"].get<double>(), 5.24, 0.01) << "both files";
  EXPECT_EQ(started["files"], 2);
  json done = PollUntilDone(started["download_id"]);
  jobs_->events().Unsubscribe(sub);
  EXPECT_EQ(done["status"], "completed");
  std::lock_guard<std::mutex> l(mu);
  uint64_t last = 0;
  bool mid = false;
  for (const auto& ev : seen) {
    if (ev.state != service::JobState::kDownloading) continue;
    EXPECT_EQ(ev.bytes_total.value_or(0), a.size() + b.size());
    EXPECT_GE(ev.bytes_done, last) << "progress never goes back";
    last = ev.bytes_done;
    mid = mid || (ev.bytes_done > 0 && ev.bytes_done < a.size() + b.size());
  }
  EXPECT_TRUE(mid) << "progress was reported along the way";
}

TEST_F(SourcesTest, EmptyAndNestedFilesOfARepository) {
  hub_.AddRepo("org/odd", kApiCommit, {"main"},
               {{"__init__.py", "", false},
                {"a/b/c/deep.txt", "deep", false},
                {"empty.bin", "", true},
                {"weird[1]*.txt", "glob characters", false},
                {"weird1x.txt", "not this one", false}});
  auto [code, j] = Pull({{"model_name", "org/odd"}});
  ASSERT_EQ(code, 200) << j.dump();
  fs::path dir = Model("org/odd")["path"].get<std::string>();
  EXPECT_EQ(fs::file_size(dir / "__init__.py"), 0u);
  EXPECT_EQ(fs::file_size(dir / "empty.bin"), 0u);
  EXPECT_EQ(ReadFile(dir / "a/b/c/deep.txt"), "deep");
  // A link to one file whose name holds glob characters picks that file only.
  std::tie(code, j) =
      Pull({{"model_name", "weird"},
            {"download_url", api_.Url("/org/odd/resolve/main/weird%5B1%5D%2A.txt")}});
  ASSERT_EQ(code, 200) << j.dump();
  json m = Model("weird");
  ASSERT_EQ(m["files"].size(), 1u) << m.dump();
  EXPECT_EQ(m["files"][0]["path"], "weird[1]*.txt");
}

TEST_F(SourcesTest, CatalogsLoadFromUrls) {
  origin_.Put("/catalog.json", {.content = R"({"name": "net", "models": [{"name": "n",
      "versions": [{"version": "1", "files": [{"url": "http://example.invalid/n.bin"}]}]}]})"});
  auto c = sources::Catalog::Load(origin_.Url("/catalog.json"));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->name(), "net");
  EXPECT_NE(c->Find("n"), nullptr);
  auto renamed = sources::Catalog::Load("other=" + origin_.Url("/catalog.json"));
  ASSERT_TRUE(renamed.has_value());
  EXPECT_EQ(renamed->name(), "other");
  auto missing = sources::Catalog::Load(origin_.Url("/nope.json"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("404"), std::string::npos) << missing.error().message();
}

TEST_F(SourcesCliTest, AKilledHubPullResumesFileByFile) {
  std::string big = RandomBytes(24 * kMiB, 22), small = RandomBytes(1 * kMiB, 23);
  hub_.AddRepo("org/resume", kApiCommit, {"main"},
               {{"big.safetensors", big, true}, {"small.safetensors", small, true}});
  cdn_.Update(hub_.CdnPath(big), [](FileSpec& f) { f.rate = 4 * kMiB; });
  {
    Child c({"--data-dir", (dir_.path() / "cli-data").string(), "pull", "-q", "org/resume"},
            dir_.path());
    ASSERT_TRUE(cdn_.WaitForBodyBytes(hub_.CdnPath(big), 10 * kMiB));
    c.Signal(SIGKILL);
    c.Wait();
  }
  uint64_t first = CdnBytes();
  cdn_.Update(hub_.CdnPath(big), [](FileSpec& f) { f.rate = 0; });
  auto r = Modeld({"pull", "org/resume", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GE(r.j["resumed_bytes"].get<uint64_t>(), 4 * kMiB) << "checkpointed bytes are kept";
  uint64_t second = CdnBytes() - first;
  EXPECT_LE(second, big.size() + small.size() - r.j["resumed_bytes"].get<uint64_t>() + kMiB)
      << "the second run fetched only the rest";
  EXPECT_EQ(r.j["files"].size(), 2u);
}

}  // namespace
}  // namespace modeld::testing
