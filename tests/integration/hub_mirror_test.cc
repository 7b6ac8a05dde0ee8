// The Hub mirror (service/hub_mirror.h, api/hub/) in-process: a real HttpServer speaking
// the `hub` dialect over a real store, pulling through from the Hub mimic (its API on one
// origin, its CDN on another). Clients are libcurl, as huggingface_hub's requests would be.
#include "service/hub_mirror.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "api/http_server.h"
#include "api/hub/routes.h"
#include "core/checksum.h"
#include "engine_harness.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "mirror_client.h"
#include "service/model_service.h"
#include "tcp_relay.h"

namespace modeld::testing {
namespace {

using json = nlohmann::json;
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

class HubMirrorTest : public ::testing::Test, public HubFixture {
 protected:
  void SetUp() override {
    AddTinyRepos(hub_, kCommit);
    hub_.SetPageSize(2);
    Start();
  }
  void TearDown() override { Stop(); }

  void Start(service::MirrorOptions o = {}) {
    if (o.upstream == service::MirrorOptions{}.upstream) o.upstream = hub_.Endpoint();
    o.upstream_retry_for = std::chrono::milliseconds(300);
    if (o.client_tokens.empty()) o.client_tokens = {"team-token"};
    o.upstream_token = o.upstream_token.empty() ? kGatedToken : o.upstream_token;
    auto st = OpenTestStore(dir_.path());
    ASSERT_TRUE(st);
    models_ = std::make_unique<service::ModelService>(std::move(st));
    mirror_ = models_->MakeHubMirror(o);
    ctx_ = std::make_unique<api::hub::Context>(api::hub::Context{*mirror_, 3});
    api::ServerOptions opts;
    opts.listen = {"127.0.0.1:0"};
    opts.access_log = false;
    std::vector<api::Dialect> dialects;
    dialects.push_back(api::hub::HubDialect(*ctx_));
    server_ = std::make_unique<api::HttpServer>(opts, std::move(dialects));
    ASSERT_TRUE(server_->Start().ok());
    base_ = "http://127.0.0.1:" + std::to_string(server_->ports()[0]);
  }
  void Stop() {
    // The mirror goes while the server (whose executors its flights' waiters post to)
    // is stopped but still there.
    if (server_) server_->Stop(std::chrono::seconds(5));
    mirror_.reset();
    server_.reset();
    ctx_.reset();
    models_.reset();
  }
  json GetJson(const std::string& path, long want = 200) {
    auto r = HttpCall("GET", base_ + path);
    EXPECT_EQ(r.status, want) << path << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }
  // A big LFS file in its own repository, served by the CDN at |rate| a connection.
  std::string AddBigRepo(const std::string& repo, size_t size, uint64_t rate) {
    std::string content = Pattern(size, 7);
    hub_.AddRepo(repo, kCommit, {"main"}, {{"big.bin", content, true}});
    cdn_.Update(hub_.CdnPath(content), [rate](FileSpec& f) { f.rate = rate; });
    return content;
  }

  ScratchDir dir_;
  std::unique_ptr<service::ModelService> models_;
  std::unique_ptr<service::HubMirror> mirror_;
  std::unique_ptr<api::hub::Context> ctx_;
  std::unique_ptr<api::HttpServer> server_;
  std::string base_;
};

TEST_F(HubMirrorTest, DescribesARepositoryAtABranchAndAtItsCommit) {
  json info = GetJson("/api/models/org/tiny/revision/main?blobs=true");
  EXPECT_EQ(info["sha"], kCommit);
  EXPECT_EQ(info["id"], "org/tiny");
  ASSERT_TRUE(info["siblings"].is_array());
  bool saw_lfs = false;
  for (const auto& s : info["siblings"]) {
    EXPECT_TRUE(s.contains("size") && s.contains("blobId")) << s;
    if (s["rfilename"] == "model.safetensors") {
      saw_lfs = true;
      EXPECT_EQ(s["lfs"]["sha256"], Sha256(TinyWeights()));
    }
  }
  EXPECT_TRUE(saw_lfs);
  EXPECT_EQ(GetJson("/api/models/org/tiny")["sha"], kCommit);
  EXPECT_EQ(GetJson("/api/models/org/tiny/revision/" + kCommit)["sha"], kCommit);
  EXPECT_FALSE(GetJson("/api/models/org/tiny")["siblings"][0].contains("size"));
}

TEST_F(HubMirrorTest, ServesDatasetsAsModels) {
  std::string rows = Pattern(40000, 21);
  hub_.AddRepo("datasets/org/rows", kCommit, {"main"},
               {{"data/train.parquet", rows, true}, {"README.md", "# rows", false}});
  json info = GetJson("/api/datasets/org/rows");
  EXPECT_EQ(info["id"], "org/rows");
  EXPECT_EQ(info["sha"], kCommit);
  EXPECT_FALSE(info.contains("modelId"));
  json tree = GetJson("/api/datasets/org/rows/tree/main/data");
  ASSERT_EQ(tree.size(), 1u);
  EXPECT_EQ(tree[0]["lfs"]["oid"], Sha256(rows));
  auto file = HttpCall("GET", base_ + "/datasets/org/rows/resolve/main/data/train.parquet");
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.body, rows);
  EXPECT_EQ(HttpCall("GET", base_ + "/datasets/org/rows/resolve/main/README.md").body, "# rows");
  // The same name as a model is another repository.
  EXPECT_EQ(HttpCall("GET", base_ + "/api/models/org/rows").status, 404);
}

TEST_F(HubMirrorTest, ListsTheTreeInPagesThatLinkBackToTheMirror) {
  std::vector<std::string> paths;
  std::string url = base_ + "/api/models/org/tiny/tree/main?recursive=true";
  int pages = 0;
  while (!url.empty() && pages < 20) {
    auto r = HttpCall("GET", url);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& e : json::parse(r.body)) paths.push_back(e["path"]);
    ++pages;
    url.clear();
    auto at = r.headers.find("Link: <");
    if (at != std::string::npos) {
      auto end = r.headers.find('>', at);
      url = r.headers.substr(at + 7, end - at - 7);
      EXPECT_EQ(url.rfind(base_, 0), 0u) << "the next page is on the mirror: " << url;
    }
  }
  EXPECT_GT(pages, 2);  // page size 3
  for (std::string want : {"config.json", "gguf", "gguf/tiny-Q8_0.gguf", "tokenizer",
                           "tokenizer/vocab.txt", "model.safetensors"}) {
    EXPECT_NE(std::find(paths.begin(), paths.end(), want), paths.end()) << want;
  }
  // Not recursive: the root's children only; a directory's listing; a missing one.
  json root = GetJson("/api/models/org/tiny/tree/main");
  for (const auto& e : root) EXPECT_EQ(e["path"].get<std::string>().find('/'), std::string::npos);
  json gguf = GetJson("/api/models/org/tiny/tree/main/gguf");
  EXPECT_EQ(gguf.size(), 3u);
  auto missing = HttpCall("GET", base_ + "/api/models/org/tiny/tree/main/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.HasHeader("X-Error-Code: EntryNotFound")) << missing.headers;
}

TEST_F(HubMirrorTest, PathsInfoAnswersForTheNamedPaths) {
  auto r = HttpCall("POST", base_ + "/api/models/org/tiny/paths-info/main",
                    R"({"paths": ["config.json", "gguf", "absent.txt"], "expand": true})",
                    {"Content-Type: application/json"});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["oid"], HubMimic::GitBlobSha1(kTinyConfig));
  EXPECT_EQ(j[1]["type"], "directory");
  auto bad = HttpCall("POST", base_ + "/api/models/org/tiny/paths-info/main", R"({"paths": 5})",
                      {"Content-Type: application/json"});
  EXPECT_EQ(bad.status, 400);
  // As huggingface_hub posts it (HfApi.get_paths_info, HfFileSystem.info): a form.
  auto form = HttpCall("POST", base_ + "/api/models/org/tiny/paths-info/main",
                       "paths=config.json&paths=gguf&paths=absent.txt&expand=True",
                       {"Content-Type: application/x-www-form-urlencoded"});
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_EQ(json::parse(form.body), j);
  auto bad_form = HttpCall("POST", base_ + "/api/models/org/tiny/paths-info/main", "expand=True",
                           {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(bad_form.status, 400);
  EXPECT_NE(bad_form.body.find("paths"), std::string::npos) << bad_form.body;
}

TEST_F(HubMirrorTest, ResolveHeadGivesTheHubsHeadersWithoutFetching) {
  auto lfs = HttpCall("HEAD", base_ + "/org/tiny/resolve/main/model.safetensors");
  ASSERT_EQ(lfs.status, 200);
  std::string sha = Sha256(TinyWeights());
  EXPECT_TRUE(lfs.HasHeader("X-Repo-Commit: " + kCommit)) << lfs.headers;
  EXPECT_TRUE(lfs.HasHeader("ETag: \"" + sha + "\""));
  EXPECT_TRUE(lfs.HasHeader("X-Linked-Etag: \"" + sha + "\""));
  EXPECT_TRUE(lfs.HasHeader("X-Linked-Size: " + std::to_string(TinyWeights().size())));
  EXPECT_TRUE(lfs.HasHeader("Content-Length: " + std::to_string(TinyWeights().size())));
  EXPECT_TRUE(lfs.HasHeader("Accept-Ranges: bytes"));
  EXPECT_EQ(lfs.headers.find("Xet"), std::string::npos);
  auto small = HttpCall("HEAD", base_ + "/org/tiny/resolve/main/config.json");
  EXPECT_TRUE(small.HasHeader("ETag: \"" + HubMimic::GitBlobSha1(kTinyConfig) + "\""));
  EXPECT_FALSE(small.HasHeader("X-Linked-Etag"));
  EXPECT_EQ(mirror_->Stats().fetches_started, 0u);
  EXPECT_EQ(cdn_.BodyBytes(), 0u);
}

TEST_F(HubMirrorTest, ServesFilesWholeAndByRangeThenFromTheStore) {
  auto config = HttpCall("GET", base_ + "/org/tiny/resolve/main/config.json");
  ASSERT_EQ(config.status, 200);
  EXPECT_EQ(config.body, kTinyConfig);
  std::string w = TinyWeights();
  auto whole = HttpCall("GET", base_ + "/org/tiny/resolve/" + kCommit + "/model.safetensors");
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, w);
  auto part = HttpCall("GET", base_ + "/org/tiny/resolve/main/model.safetensors", "",
                       {"Range: bytes=10-19"});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, w.substr(10, 10));
  EXPECT_TRUE(part.HasHeader("Content-Range: bytes 10-19/" + std::to_string(w.size())));
  auto tail =
      HttpCall("GET", base_ + "/org/tiny/resolve/main/model.safetensors", "", {"Range: bytes=-5"});
  EXPECT_EQ(tail.body, w.substr(w.size() - 5));
  auto past = HttpCall("GET", base_ + "/org/tiny/resolve/main/model.safetensors", "",
                       {"Range: bytes=" + std::to_string(w.size()) + "-"});
  EXPECT_EQ(past.status, 416);
  EXPECT_TRUE(past.HasHeader("Content-Range: bytes */" + std::to_string(w.size())));
  auto same = HttpCall("GET", base_ + "/org/tiny/resolve/main/model.safetensors", "",
                       {"If-None-Match: \"" + Sha256(w) + "\""});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  auto st = mirror_->Stats();
  EXPECT_EQ(st.fetches_started, 2u);    // config.json and the weights, each once
  EXPECT_EQ(st.served_from_store, 2u);  // the two ranges (304 and 416 open nothing)
  // A restart keeps the files and the listing: served with the upstream gone.
  Stop();
  api_.Stop();
  cdn_.Stop();
  Start();
  auto again = HttpCall("GET", base_ + "/org/tiny/resolve/main/model.safetensors");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, w);
  EXPECT_EQ(HttpCall("GET", base_ + "/org/tiny/resolve/main/config.json").body, kTinyConfig);
  // What was never seen cannot be: a 502, not a 404.
  auto unseen = HttpCall("GET", base_ + "/api/models/org/other");
  EXPECT_EQ(unseen.status, 502) << unseen.body;
}

// An upstream that takes the connection and never answers: the client is told the
// gateway timed out (504), not that the upstream could not be reached (502).
TEST_F(HubMirrorTest, AnUpstreamThatDoesNotAnswerIsAGatewayTimeout) {
  uint16_t port = 0;
  int silent = ListenLoopback(&port, "silent upstream");  // never accepts: the kernel does
  Stop();
  service::MirrorOptions o;
  o.upstream = "http://127.0.0.1:" + std::to_string(port);
  o.upstream_timeout = std::chrono::milliseconds(300);
  Start(o);
  auto r = HttpCall("GET", base_ + "/api/models/org/tiny");
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_NE(r.body.find("did not answer in time"), std::string::npos) << r.body;
  auto file = HttpCall("GET", base_ + "/org/tiny/resolve/main/config.json");
  EXPECT_EQ(file.status, 504) << file.body;
  ::close(silent);
}

TEST_F(HubMirrorTest, RefusalsAreTheHubsOwn) {
  auto repo = HttpCall("GET", base_ + "/api/models/org/nope");
  EXPECT_EQ(repo.status, 404);
  EXPECT_TRUE(repo.HasHeader("X-Error-Code: RepoNotFound")) << repo.headers;
  auto rev = HttpCall("GET", base_ + "/api/models/org/tiny/revision/nobranch");
  EXPECT_EQ(rev.status, 404);
  EXPECT_TRUE(rev.HasHeader("X-Error-Code: RevisionNotFound")) << rev.headers;
  auto file = HttpCall("GET", base_ + "/org/tiny/resolve/main/absent.bin");
  EXPECT_EQ(file.status, 404);
  EXPECT_TRUE(file.HasHeader("X-Error-Code: EntryNotFound"));
  EXPECT_TRUE(file.HasHeader("X-Repo-Commit: " + kCommit)) << file.headers;
  // The negative cache: a second ask does not reach the upstream.
  size_t before = api_.Requests().size();
  EXPECT_EQ(HttpCall("GET", base_ + "/api/models/org/nope").status, 404);
  EXPECT_EQ(api_.Requests().size(), before);
}

TEST_F(HubMirrorTest, GatedRepositoriesNeedATokenTheMirrorAccepts) {
  auto anon = HttpCall("GET", base_ + "/org/gated/resolve/main/w.bin");
  EXPECT_EQ(anon.status, 401);
  EXPECT_TRUE(anon.HasHeader("X-Error-Code: GatedRepo"));
  auto wrong =
      HttpCall("GET", base_ + "/org/gated/resolve/main/w.bin", "", {"Authorization: Bearer guess"});
  EXPECT_EQ(wrong.status, 401);
  auto ok = HttpCall("GET", base_ + "/org/gated/resolve/main/w.bin", "",
                     {"Authorization: Bearer team-token"});
  EXPECT_EQ(ok.status, 200) << ok.body;
  // The upstream saw the mirror's own token only, never the client's.
  for (const auto& a : hub_.AuthSeen()) EXPECT_EQ(a, "Bearer " + kGatedToken);
}

TEST_F(HubMirrorTest, PolicyAllowsDeniesAndCapsFileSizes) {
  Stop();
  service::MirrorOptions o;
  o.allow = {"org/*"};
  o.deny = {"org/gated"};
  o.max_file_size = 100;
  Start(o);
  EXPECT_EQ(HttpCall("GET", base_ + "/api/models/org/gated").status, 403);
  EXPECT_EQ(HttpCall("GET", base_ + "/api/models/other/x").status, 403);
  EXPECT_EQ(HttpCall("GET", base_ + "/org/tiny/resolve/main/config.json").status, 200);
  auto big = HttpCall("GET", base_ + "/org/tiny/resolve/main/model.safetensors");
  EXPECT_EQ(big.status, 403) << big.body;
  EXPECT_EQ(HttpCall("HEAD", base_ + "/org/tiny/resolve/main/model.safetensors").status, 403)
      << "a HEAD is answered as its GET would be";
}

// A branch whose commit is re-checked after the ttl and has not moved: one call to the
// upstream (the revision), not the whole tree again.
TEST_F(HubMirrorTest, ABranchRecheckedAfterItsTtlCostsOneCallWhenItsCommitIsKnown) {
  Stop();
  service::MirrorOptions o;
  o.ref_ttl = std::chrono::milliseconds(0);  // every ask re-checks the branch
  Start(o);
  auto trees = [&] {
    size_t n = 0;
    for (const auto& r : api_.Requests()) n += r.target.find("/tree/") != std::string::npos;
    return n;
  };
  EXPECT_EQ(GetJson("/api/models/org/tiny")["sha"], kCommit);
  const size_t tree_calls = trees(), calls = api_.Requests().size();
  ASSERT_GT(tree_calls, 0u);
  auto listed = mirror_->Stats().listings_fetched;
  EXPECT_EQ(GetJson("/api/models/org/tiny/revision/main")["sha"], kCommit);
  EXPECT_EQ(api_.Requests().size(), calls + 1) << "the revision asked again, once";
  EXPECT_EQ(trees(), tree_calls);
  EXPECT_EQ(mirror_->Stats().listings_fetched, listed);
}

// 32 clients, whole file and random ranges, on one cold file: the upstream sends it once.
TEST_F(HubMirrorTest, ThirtyTwoClientsOneUpstreamFetch) {
  const size_t kSize = 256u << 20;
  std::string content = AddBigRepo("org/big", kSize, 48u << 20);
  const std::string url = base_ + "/org/big/resolve/main/big.bin";
  std::vector<std::thread> clients;
  std::vector<StreamResult> results(32);
  std::vector<std::pair<uint64_t, uint64_t>> ranges(32);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 32; ++i) {
    if (i % 2 == 1) {
      uint64_t a = rng() % kSize, b = rng() % kSize;
      ranges[i] = {std::min(a, b), std::max(a, b)};
    }
    clients.emplace_back([&, i] {
      std::vector<std::string> h;
      if (i % 2 == 1) {
        h.push_back("Range: bytes=" + std::to_string(ranges[i].first) + "-" +
                    std::to_string(ranges[i].second));
      }
      // Client 30 goes away mid-stream.
      results[i] = StreamGet(url, h, i == 30 ? 10u << 20 : 0);
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 32; ++i) {
    if (i == 30) continue;
    if (i % 2 == 0) {
      EXPECT_EQ(results[i].status, 200);
      EXPECT_EQ(results[i].bytes, kSize) << "client " << i;
      EXPECT_EQ(results[i].sha256, Sha256(content)) << "client " << i;
    } else {
      auto [a, b] = ranges[i];
      EXPECT_EQ(results[i].status, 206);
      EXPECT_EQ(results[i].sha256, Sha256(content.substr(a, b - a + 1))) << "client " << i;
    }
  }
  uint64_t upstream = cdn_.BodyBytes(hub_.CdnPath(content));
  EXPECT_LE(upstream, kSize + kSize / 10) << "upstream bytes " << upstream;
  EXPECT_EQ(mirror_->Stats().fetches_started, 1u);
  // And then from the store.
  auto later = StreamGet(url);
  EXPECT_EQ(later.sha256, Sha256(content));
  EXPECT_EQ(cdn_.BodyBytes(hub_.CdnPath(content)), upstream);
}

TEST_F(HubMirrorTest, FirstBytesArriveWhileTheFileIsStillDownloading) {
  const size_t kSize = 32u << 20;
  std::string content = AddBigRepo("org/slow", kSize, 2u << 20);  // 16 connections: ~1 s
  std::atomic<uint64_t> got{0};
  std::thread reader([&] { got = StreamGet(base_ + "/org/slow/resolve/main/big.bin").bytes; });
  // While the CDN has sent less than half, the client has bytes already.
  const std::string path = hub_.CdnPath(content);
  ASSERT_TRUE(cdn_.WaitForBodyBytes(path, 4u << 20));
  reader.join();
  EXPECT_EQ(got.load(), kSize);
}

// A client reading slowly holds up neither the download nor another client: each reads
// the file, not a buffer the download fills.
TEST_F(HubMirrorTest, ASlowClientSlowsNeitherTheDownloadNorTheOthers) {
  const size_t kSize = 32u << 20;
  std::string content = AddBigRepo("org/shared", kSize, 8u << 20);
  const std::string url = base_ + "/org/shared/resolve/main/big.bin";
  std::atomic<uint64_t> slow_read{0};
  std::thread slow([&] { StreamGet(url, {}, 2u << 20, 256u << 10, &slow_read); });
  ASSERT_TRUE(cdn_.WaitForBodyBytes(hub_.CdnPath(content), 1));
  auto fast = StreamGet(url);
  uint64_t slow_then = slow_read.load();
  EXPECT_EQ(fast.sha256, Sha256(content));
  EXPECT_LT(slow_then, 2u << 20) << "the slow client was still reading";
  EXPECT_EQ(mirror_->Stats().fetches_started, 1u);
  EXPECT_GE(cdn_.BodyBytes(hub_.CdnPath(content)), kSize) << "the download did not wait for it";
  slow.join();
}

TEST_F(HubMirrorTest, ADigestMismatchFailsEveryStreamAndInstallsNothing) {
  const size_t kSize = 8u << 20;
  std::string content = AddBigRepo("org/liar", kSize, 8u << 20);
  hub_.ServeInstead("org/liar", "big.bin", Pattern(kSize, 99));
  std::vector<StreamResult> results(4);
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(
        [&, i] { results[i] = StreamGet(base_ + "/org/liar/resolve/main/big.bin"); });
  }
  for (auto& t : clients) t.join();
  for (const auto& r : results) {
    EXPECT_LT(r.bytes, kSize) << "a stream must end short of its Content-Length";
    EXPECT_NE(r.rc, CURLE_OK);
  }
  EXPECT_FALSE(
      std::filesystem::exists(dir_.path() / "data" / "blobs" / "sha256" / Sha256(content)));
  // The next request starts again, and with the upstream honest it is served.
  hub_.ServeInstead("org/liar", "big.bin", "");
  auto ok = StreamGet(base_ + "/org/liar/resolve/main/big.bin");
  EXPECT_EQ(ok.bytes, kSize);
  EXPECT_EQ(ok.sha256, Sha256(content));
  EXPECT_EQ(mirror_->Stats().fetches_started, 2u);
}

}  // namespace
}  // namespace modeld::testing
