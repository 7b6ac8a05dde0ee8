// What `modeld pull` does with what it is asked (issue 11), through the real binary
// against the test origin, the Hub mimic and `modeld serve` children: an installed model
// asked for again is success (its path on stdout), another URL or checksum under an
// installed name is pulled, `-o DIR/`, `hf://org/name/path/to/file`, Hub selections as
// models of their own, `--name` for Hub models, and when a running server gets the work.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine_harness.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kPrCommit = "89abcdef0123456789abcdef0123456789abcdef";

class PullRequestsTest : public ::testing::Test, protected HubFixture {
 protected:
  void SetUp() override { AddTinyRepos(hub_, kPrCommit); }
  struct Out {
    int rc;
    std::string out, err;
    json j() const { return json::parse(out, nullptr, false); }
  };
  // `modeld --data-dir D args...` with the Hub mimic as HF_ENDPOINT and no server.
  Out Modeld(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {"--data-dir", data_.string()});
    return ModeldNoDataDir(std::move(args), std::move(env));
  }
  Out ModeldNoDataDir(std::vector<std::string> args, std::vector<std::string> env = {}) {
    env.push_back("HF_ENDPOINT=" + api_.Url(""));
    if (std::none_of(env.begin(), env.end(),
                     [](const std::string& e) { return e.rfind("MODELD_URL=", 0) == 0; })) {
      env.push_back("MODELD_URL=http://127.0.0.1:1");  // no server unless a test says so
    }
    Out o;
    o.rc = RunModeldEnv(args, dir_.path(), env, &o.out, &o.err);
    return o;
  }
  fs::path ModelDir(const std::string& name, const std::string& version) const {
    return data_ / "models" / name / version;
  }
  // Bytes of body the origin sent for |path| so far.
  uint64_t Served(const std::string& path) { return origin_.BodyBytes(path); }

  const std::string& kConfig = kTinyConfig;
  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  TestOrigin origin_;
};

// ---------------------------------------------------------------------------------------
// 1. Asking for what is installed is success; asking for something else is a pull.

TEST_F(PullRequestsTest, PullingWhatIsInstalledIsSuccessWithItsPath) {
  std::string data = RandomBytes(kMiB, 10);
  origin_.Put("/w.bin", {.content = data});
  std::string file = (ModelDir("w", "v1") / "w.bin").string();
  auto first = Modeld({"pull", origin_.Url("/w.bin"), "--name", "w:v1"});
  ASSERT_EQ(first.rc, 0) << first.err;
  uint64_t served = Served("/w.bin");

  for (const std::vector<std::string>& again :
       {std::vector<std::string>{"pull", origin_.Url("/w.bin"), "--name", "w:v1"},
        {"pull", "w:v1"},
        {"pull", origin_.Url("/w.bin"), "--name", "w:v1", "--sha256", Sha256Hex(data)}}) {
    SCOPED_TRACE(again.back());
    auto r = Modeld(again);
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("w:v1: already installed at " + file), std::string::npos) << r.err;
    EXPECT_EQ(r.out, file + "\n") << "the path alone on stdout, for scripts";
  }
  EXPECT_EQ(Served("/w.bin"), served) << "nothing fetched again";

  auto j = Modeld({"pull", "w:v1", "--json"});
  ASSERT_EQ(j.rc, 0) << j.err;
  EXPECT_EQ(j.j()["status"], "completed") << j.out;
  EXPECT_EQ(j.j()["already_installed"], true) << j.out;
  EXPECT_EQ(j.j()["downloaded"], false) << j.out;

  auto forced = Modeld({"pull", "-q", "--force", origin_.Url("/w.bin"), "--name", "w:v1"});
  ASSERT_EQ(forced.rc, 0) << forced.err;
  EXPECT_GE(Served("/w.bin"), served + data.size()) << "--force fetches again";
}

TEST_F(PullRequestsTest, AnotherUrlOrChecksumUnderAnInstalledNameIsPulled) {
  std::string a = RandomBytes(kMiB, 11), b = RandomBytes(kMiB, 12);
  origin_.Put("/a.bin", {.content = a});
  origin_.Put("/b.bin", {.content = b});
  ASSERT_EQ(Modeld({"pull", "-q", origin_.Url("/a.bin"), "--name", "w:v1"}).rc, 0);

  // A URL that is not there is a 404, not "already installed".
  auto missing = Modeld({"pull", "-q", origin_.Url("/gone.bin"), "--name", "w:v1"});
  EXPECT_EQ(missing.rc, 4) << missing.err;
  EXPECT_NE(missing.err.find("404"), std::string::npos) << missing.err;
  EXPECT_EQ(FileSha256(ModelDir("w", "v1") / "a.bin"), Sha256Hex(a)) << "still installed";

  // Another URL under the same name is that URL's file.
  auto other = Modeld({"pull", "-q", origin_.Url("/b.bin"), "--name", "w:v1"});
  ASSERT_EQ(other.rc, 0) << other.err;
  EXPECT_EQ(other.out, (ModelDir("w", "v1") / "b.bin").string() + "\n");
  EXPECT_EQ(FileSha256(ModelDir("w", "v1") / "b.bin"), Sha256Hex(b));
  EXPECT_FALSE(fs::exists(ModelDir("w", "v1") / "a.bin"));
  auto info = Modeld({"info", "w:v1", "--json"});
  EXPECT_EQ(info.j()["metadata"]["url"], origin_.Url("/b.bin")) << info.out;

  // Another checksum is checked, not waved through as installed.
  auto wrong = Modeld(
      {"pull", "-q", origin_.Url("/b.bin"), "--name", "w:v1", "--sha256", std::string(64, 'a')});
  EXPECT_EQ(wrong.rc, 5) << wrong.err;
  EXPECT_NE(wrong.err.find("mismatch"), std::string::npos) << wrong.err;
  EXPECT_EQ(FileSha256(ModelDir("w", "v1") / "b.bin"), Sha256Hex(b)) << "the install stands";
  auto md5 = Modeld({"pull", "-q", origin_.Url("/b.bin"), "--name", "w:v1", "--checksum",
                     "md5:" + HashHex(HashAlgorithm::kMd5, b)});
  EXPECT_EQ(md5.rc, 0) << md5.err;
  auto same = Modeld({"pull", origin_.Url("/b.bin"), "--name", "w:v1", "--checksum",
                      "md5:" + HashHex(HashAlgorithm::kMd5, b)});
  EXPECT_EQ(same.rc, 0) << same.err;
  EXPECT_NE(same.err.find("already installed"), std::string::npos)
      << "the checksum it was pulled with is recorded: " << same.err;
}

// The HTTP API answers as the CLI decides: the same request for an installed model is the
// seed's 409; another URL under that name is a download.
TEST_F(PullRequestsTest, TheHttpApiDecidesTheSame) {
  std::string a = RandomBytes(kMiB, 13), b = RandomBytes(kMiB, 14);
  origin_.Put("/a.bin", {.content = a});
  origin_.Put("/b.bin", {.content = b});
  ServeChild server(data_);
  ASSERT_GT(server.port(), 0) << server.Log();
  auto post = [&](const json& body) {
    auto r = HttpCall("POST", server.base() + "/model-download?wait=true", body.dump(),
                      {"Content-Type: application/json"}, nullptr, 120);
    return std::make_pair(r.status, json::parse(r.body, nullptr, false));
  };
  json req = {{"model_name", "w"}, {"version", "v1"}, {"download_url", origin_.Url("/a.bin")}};
  ASSERT_EQ(post(req).first, 200);
  auto [code, again] = post(req);
  EXPECT_EQ(code, 409) << again.dump();
  EXPECT_EQ(again["detail"],
            "Model 'w' version 'v1' already exists. Use force_download=true to "
            "override.");
  req["download_url"] = origin_.Url("/b.bin");
  auto [code2, other] = post(req);
  EXPECT_EQ(code2, 200) << other.dump();
  EXPECT_EQ(FileSha256(ModelDir("w", "v1") / "b.bin"), Sha256Hex(b));
  req["download_url"] = origin_.Url("/gone.bin");
  EXPECT_EQ(post(req).first, 404);
}

// A version being downloaded from one URL is not joined by a request for another: that
// is a conflict saying which job is in the way; by name alone it joins.
TEST_F(PullRequestsTest, AnotherUrlDoesNotJoinARunningDownloadOfTheVersion) {
  origin_.Put("/slow.bin", {.content = RandomBytes(8 * kMiB, 15), .rate = 256 * 1024});
  origin_.Put("/b.bin", {.content = RandomBytes(kMiB, 16)});
  ServeChild server(data_);
  auto post = [&](const json& body) {
    auto r = HttpCall("POST", server.base() + "/model-download", body.dump(),
                      {"Content-Type: application/json"});
    return std::make_pair(r.status, json::parse(r.body, nullptr, false));
  };
  auto [code, first] = post({{"model_name", "w"}, {"download_url", origin_.Url("/slow.bin")}});
  ASSERT_EQ(code, 200) << first.dump();
  std::string id = first["download_id"];
  auto [code2, other] = post({{"model_name", "w"}, {"download_url", origin_.Url("/b.bin")}});
  EXPECT_EQ(code2, 409) << other.dump();
  EXPECT_NE(other["detail"].get<std::string>().find(id), std::string::npos) << other.dump();
  auto [code3, same] = post({{"model_name", "w"}});
  EXPECT_EQ(code3, 200) << same.dump();
  EXPECT_EQ(same["download_id"], id) << "by name alone: joined";
  HttpCall("POST", server.base() + "/model-download/" + id + "/cancel", "",
           {"Content-Type: application/json"});
}

// ---------------------------------------------------------------------------------------
// 2. A successful pull prints what it installed on stdout, and nothing else.

TEST_F(PullRequestsTest, ASuccessfulPullPrintsTheInstalledPathOnStdout) {
  std::string data = RandomBytes(kMiB, 20);
  origin_.Put("/one.bin", {.content = data});
  auto one = Modeld({"pull", origin_.Url("/one.bin")});
  ASSERT_EQ(one.rc, 0) << one.err;
  EXPECT_EQ(one.out, (ModelDir("one", "latest") / "one.bin").string() + "\n")
      << "a one-file model: the file";
  EXPECT_NE(one.err.find("installed one:latest"), std::string::npos) << "messages on stderr";

  auto quiet = Modeld({"pull", "-q", origin_.Url("/one.bin"), "--name", "two"});
  ASSERT_EQ(quiet.rc, 0) << quiet.err;
  EXPECT_EQ(quiet.out, (ModelDir("two", "latest") / "one.bin").string() + "\n");
  EXPECT_EQ(quiet.err, "");

  auto repo = Modeld({"pull", "hf://org/tiny", "--exclude", "*.gguf"});
  ASSERT_EQ(repo.rc, 0) << repo.err;
  ASSERT_FALSE(repo.out.empty());
  fs::path dir = repo.out.substr(0, repo.out.size() - 1);
  EXPECT_EQ(repo.out.back(), '\n');
  EXPECT_TRUE(fs::is_directory(dir)) << "a multi-file model: its directory: " << repo.out;
  EXPECT_TRUE(fs::exists(dir / "config.json")) << dir;

  auto exported = Modeld({"pull", origin_.Url("/one.bin"), "-o", (dir_ / "x.bin").string()});
  ASSERT_EQ(exported.rc, 0) << exported.err;
  EXPECT_EQ(exported.out, (dir_ / "x.bin").string() + "\n");

  auto j = Modeld({"pull", origin_.Url("/one.bin"), "--name", "three", "--json"});
  ASSERT_EQ(j.rc, 0) << j.err;
  EXPECT_FALSE(j.j().is_discarded()) << "--json: the JSON alone: " << j.out;
}

// ---------------------------------------------------------------------------------------
// 3. -o DIR/ (or an existing directory) saves under the file's name, as curl --output-dir
// and aria2c -d do; the directory is checked before the first byte.

TEST_F(PullRequestsTest, OutputIntoADirectoryUsesTheFilesName) {
  std::string data = RandomBytes(kMiB, 30);
  origin_.Put("/files/w.bin", {.content = data});
  // A trailing slash: a directory, made if missing.
  auto slash =
      Modeld({"pull", "-q", origin_.Url("/files/w.bin"), "-o", (dir_ / "out").string() + "/"});
  ASSERT_EQ(slash.rc, 0) << slash.err;
  EXPECT_EQ(FileSha256(dir_ / "out" / "w.bin"), Sha256Hex(data));
  EXPECT_EQ(slash.out, (dir_ / "out" / "w.bin").string() + "\n");
  // An existing directory, without the slash.
  fs::create_directories(dir_ / "existing");
  auto existing =
      Modeld({"pull", "-q", origin_.Url("/files/w.bin"), "-o", (dir_ / "existing").string()});
  ASSERT_EQ(existing.rc, 0) << existing.err;
  EXPECT_EQ(FileSha256(dir_ / "existing" / "w.bin"), Sha256Hex(data));
  // A missing path without the slash is a file name, as curl takes it.
  auto file = Modeld({"pull", "-q", origin_.Url("/files/w.bin"), "-o", (dir_ / "plain").string()});
  ASSERT_EQ(file.rc, 0) << file.err;
  EXPECT_TRUE(fs::is_regular_file(dir_ / "plain"));
  // The server's name for the file wins over the URL's, as a pull into the store names it.
  origin_.Put("/dl",
              {.content = data, .content_disposition = "attachment; filename=\"real.gguf\""});
  auto named = Modeld({"pull", "-q", origin_.Url("/dl"), "-o", (dir_ / "out").string() + "/"});
  ASSERT_EQ(named.rc, 0) << named.err;
  EXPECT_EQ(FileSha256(dir_ / "out" / "real.gguf"), Sha256Hex(data));
}

TEST_F(PullRequestsTest, AnUnusableOutputDirectoryIsAnErrorBeforeTheFirstByte) {
  std::string data = RandomBytes(kMiB, 31);
  origin_.Put("/w.bin", {.content = data});
  std::ofstream(dir_ / "a-file") << "x";
  auto not_dir =
      Modeld({"pull", "-q", origin_.Url("/w.bin"), "-o", (dir_ / "a-file").string() + "/"});
  EXPECT_EQ(not_dir.rc, 2) << not_dir.err;
  EXPECT_NE(not_dir.err.find((dir_ / "a-file").string()), std::string::npos) << not_dir.err;
  EXPECT_NE(not_dir.err.find("not a directory"), std::string::npos) << not_dir.err;

  // A directory this user cannot write into (root can write anywhere: run as nobody).
  fs::path ro = dir_ / "read-only";
  fs::create_directories(ro);
  ::chmod(dir_.path().c_str(), 0755);
  ::chmod(ro.c_str(), 0555);
  std::string cmd =
      (::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "") +
      ModeldBin() + " pull -q " + origin_.Url("/w.bin") + " -o " + ro.string() + "/ >" +
      (dir_ / "ro.out").string() + " 2>" + (dir_ / "ro.err").string();
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  std::string err = ReadFile(dir_ / "ro.err");
  EXPECT_EQ(WEXITSTATUS(status), 7) << err;
  EXPECT_NE(err.find(ro.string()), std::string::npos) << "names the directory: " << err;
  EXPECT_EQ(origin_.Requests("/w.bin").size(), 0u) << "checked before any request";
  EXPECT_TRUE(fs::is_empty(ro));
}

// ---------------------------------------------------------------------------------------
// 4. hf://org/name/path/to/file fetches that one file.

TEST_F(PullRequestsTest, AHubFileByItsPathIsAModelOfItsOwn) {
  auto r = Modeld({"pull", "hf://org/tiny/gguf/tiny-Q8_0.gguf", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = r.j();
  EXPECT_EQ(j["ref"], "org/tiny:gguf--tiny-Q8_0.gguf") << "the name says which file";
  ASSERT_EQ(j["files"].size(), 1u) << j.dump();
  EXPECT_EQ(j["files"][0]["path"], "gguf/tiny-Q8_0.gguf");
  EXPECT_EQ(j["files"][0]["sha256"], Sha256Hex(TinyQ8())) << "verified";
  // Its path on stdout is the file's.
  auto again = Modeld({"pull", "hf://org/tiny/gguf/tiny-Q8_0.gguf"});
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(again.out,
            (ModelDir("org/tiny", "gguf--tiny-Q8_0.gguf") / "gguf/tiny-Q8_0.gguf").string() + "\n");
  EXPECT_NE(again.err.find("already installed"), std::string::npos) << again.err;
  // At a revision.
  auto rev = Modeld({"pull", "hf://org/tiny/config.json", "--revision", "v1.0", "--json"});
  ASSERT_EQ(rev.rc, 0) << rev.err;
  EXPECT_EQ(rev.j()["ref"], "org/tiny:v1.0-config.json");
  EXPECT_EQ(rev.j()["metadata"]["huggingface"]["revision"], "v1.0");
  // A file that is not there is a 404 naming it.
  auto missing = Modeld({"pull", "hf://org/tiny/no/such.bin"});
  EXPECT_EQ(missing.rc, 4) << missing.err;
  EXPECT_NE(missing.err.find("no/such.bin"), std::string::npos) << missing.err;
}

// ---------------------------------------------------------------------------------------
// 5. Two selections of one repository are two models; --name works for Hub models.

TEST_F(PullRequestsTest, TwoSelectionsOfOneRepositoryAreTwoModels) {
  auto json_only = Modeld({"pull", "hf://org/tiny", "--include", "*.json", "--json"});
  ASSERT_EQ(json_only.rc, 0) << json_only.err;
  auto text_only = Modeld({"pull", "org/tiny", "--include", "*.txt", "--json"});
  ASSERT_EQ(text_only.rc, 0) << text_only.err;
  std::string a = json_only.j()["ref"], b = text_only.j()["ref"];
  EXPECT_NE(a, b) << "another selection is another model";
  EXPECT_EQ(a.rfind("org/tiny:", 0), 0u) << a;
  EXPECT_EQ(b.rfind("org/tiny:", 0), 0u) << b;
  auto q8 = Modeld({"pull", "org/tiny", "--quant", "Q8_0", "--json"});
  ASSERT_EQ(q8.rc, 0) << q8.err;
  EXPECT_EQ(q8.j()["ref"], "org/tiny:Q8_0") << "as org/tiny:Q8_0 names it";
  auto q4 = Modeld({"pull", "org/tiny:Q4_K_M", "--json"});
  ASSERT_EQ(q4.rc, 0) << q4.err;
  EXPECT_EQ(q4.j()["ref"], "org/tiny:Q4_K_M");

  auto info = Modeld({"info", "org/tiny", "--json"});
  ASSERT_EQ(info.rc, 0) << info.err;
  std::map<std::string, std::set<std::string>> files;
  json versions = info.j()["versions"];
  for (const auto& v : versions) {
    for (const auto& f : v["files"]) files[v["ref"]].insert(f["path"].get<std::string>());
  }
  EXPECT_EQ(files.size(), 4u) << info.out;
  EXPECT_EQ(files[a], std::set<std::string>{"config.json"}) << "the first is still there";
  EXPECT_EQ(files[b], std::set<std::string>{"tokenizer/vocab.txt"});
  EXPECT_EQ(files["org/tiny:Q8_0"], std::set<std::string>{"gguf/tiny-Q8_0.gguf"});

  // The same selection again is installed already, however the globs are ordered.
  auto both = Modeld({"pull", "hf://org/tiny", "--include", "*.json", "--include", "*.txt", "-q"});
  ASSERT_EQ(both.rc, 0) << both.err;
  auto same = Modeld({"pull", "hf://org/tiny", "--include", "*.txt", "--include", "*.json"});
  EXPECT_EQ(same.rc, 0) << same.err;
  EXPECT_NE(same.err.find("already installed"), std::string::npos) << same.err;
  EXPECT_EQ(same.out, both.out);
}

TEST_F(PullRequestsTest, NameWorksForHubModels) {
  auto r = Modeld({"pull", "hf://org/tiny", "--include", "*.json", "--name", "mine", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.j()["ref"], "mine:latest");
  EXPECT_EQ(r.j()["metadata"]["huggingface"]["repo"], "org/tiny");
  EXPECT_TRUE(fs::exists(ModelDir("mine", "latest") / "config.json"));
  auto named = Modeld({"pull", "org/tiny:Q8_0", "--name", "small:q8"});
  ASSERT_EQ(named.rc, 0) << named.err;
  EXPECT_EQ(named.out, (ModelDir("small", "q8") / "gguf/tiny-Q8_0.gguf").string() + "\n");

  // Asked again: installed. By its own name alone: installed (and repaired from the Hub).
  auto again = Modeld({"pull", "hf://org/tiny", "--include", "*.json", "--name", "mine"});
  EXPECT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.err.find("already installed"), std::string::npos) << again.err;
  fs::remove(ModelDir("mine", "latest") / "config.json");
  auto repaired = Modeld({"pull", "mine"});
  ASSERT_EQ(repaired.rc, 0) << repaired.err;
  EXPECT_EQ(ReadFile(ModelDir("mine", "latest") / "config.json"), kConfig);
  EXPECT_FALSE(fs::exists(ModelDir("mine", "latest") / "model.safetensors"))
      << "repaired as it was selected, not the whole repository";

  // Another selection under the same name is that selection.
  auto other = Modeld({"pull", "hf://org/tiny", "--include", "*.txt", "--name", "mine", "-q"});
  ASSERT_EQ(other.rc, 0) << other.err;
  EXPECT_TRUE(fs::exists(ModelDir("mine", "latest") / "tokenizer/vocab.txt"));
  EXPECT_FALSE(fs::exists(ModelDir("mine", "latest") / "config.json"));
}

// ---------------------------------------------------------------------------------------
// 6. A running server gets the work only if it uses the same data directory.

TEST_F(PullRequestsTest, TheServerSaysWhichDataDirectoryItUses) {
  ServeChild open(data_);
  auto v = HttpCall("GET", open.base() + "/version");
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_EQ(json::parse(v.body)["data_dir"], data_.string());
  // Behind the same access rules as every other answer but /healthz.
  ServeChild locked(dir_ / "other", {"--token", "s3cret"});
  EXPECT_EQ(HttpCall("GET", locked.base() + "/version").status, 401);
  auto with = HttpCall("GET", locked.base() + "/version", "", {"Authorization: Bearer s3cret"});
  ASSERT_EQ(with.status, 200);
  EXPECT_EQ(json::parse(with.body)["data_dir"], (dir_ / "other").string());
}

TEST_F(PullRequestsTest, APullGoesToAServerOnlyIfItUsesTheSameDataDirectory) {
  std::string data = RandomBytes(kMiB, 60);
  origin_.Put("/w.bin", {.content = data});
  ServeChild server(data_);
  ASSERT_GT(server.port(), 0) << server.Log();
  std::vector<std::string> env = {"MODELD_URL=" + server.base()};

  // The same data dir: the server downloads.
  auto same = Modeld({"pull", origin_.Url("/w.bin"), "--name", "w:v1"}, env);
  ASSERT_EQ(same.rc, 0) << same.err;
  EXPECT_NE(same.err.find("through the modeld server"), std::string::npos) << same.err;
  EXPECT_EQ(same.out, (ModelDir("w", "v1") / "w.bin").string() + "\n");
  // Installed as asked: success through the server too, with its path.
  auto again = Modeld({"pull", origin_.Url("/w.bin"), "--name", "w:v1"}, env);
  EXPECT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.err.find("already installed at"), std::string::npos) << again.err;
  EXPECT_EQ(again.out, (ModelDir("w", "v1") / "w.bin").string() + "\n");

  // Another data dir (here the default one, $MODELD_HOME): this process downloads, and says
  // why in one line.
  auto other = ModeldNoDataDir({"pull", origin_.Url("/w.bin"), "--name", "w:v2"}, env);
  ASSERT_EQ(other.rc, 0) << other.err;
  EXPECT_EQ(other.err.find("through the modeld server"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find("the modeld server at " + server.base() + " uses " + data_.string()),
            std::string::npos)
      << other.err;
  EXPECT_NE(other.err.find("downloading in this process"), std::string::npos) << other.err;
  fs::path home = dir_ / "modeld-home";
  EXPECT_EQ(other.out, (home / "models" / "w" / "v2" / "w.bin").string() + "\n");
  EXPECT_FALSE(fs::exists(ModelDir("w", "v2"))) << "not in the server's store";
}

TEST_F(PullRequestsTest, ADefaultDataDirectoryThatIsTheServersGoesToTheServer) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 61)});
  fs::path home = dir_ / "modeld-home";  // the CLI's default ($MODELD_HOME in these tests)
  ServeChild server(home);
  auto r = ModeldNoDataDir({"pull", origin_.Url("/w.bin")}, {"MODELD_URL=" + server.base()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("through the modeld server"), std::string::npos) << r.err;
}

TEST_F(PullRequestsTest, AServerWithATokenSaysToSetItOrWorkLocally) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 62)});
  ServeChild server(data_, {"--token", "s3cret"});
  std::vector<std::string> env = {"MODELD_URL=" + server.base(), "MODELD_TOKEN="};
  auto none = Modeld({"pull", origin_.Url("/w.bin")}, env);
  EXPECT_EQ(none.rc, 7) << none.err;
  EXPECT_NE(none.err.find("MODELD_TOKEN"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("--local"), std::string::npos) << none.err;
  EXPECT_EQ(origin_.Requests("/w.bin").size(), 0u);
  auto wrong =
      Modeld({"pull", origin_.Url("/w.bin")}, {"MODELD_URL=" + server.base(), "MODELD_TOKEN=nope"});
  EXPECT_EQ(wrong.rc, 7) << wrong.err;
  EXPECT_NE(wrong.err.find("refused"), std::string::npos) << wrong.err;
  auto local = Modeld({"pull", "--local", origin_.Url("/w.bin")}, env);
  EXPECT_EQ(local.rc, 0) << local.err;
  auto given = Modeld({"pull", origin_.Url("/w.bin"), "--name", "w:v2"},
                      {"MODELD_URL=" + server.base(), "MODELD_TOKEN=s3cret"});
  ASSERT_EQ(given.rc, 0) << given.err;
  EXPECT_NE(given.err.find("through the modeld server"), std::string::npos) << given.err;
}

// --name and selections of Hub models mean the same through a server.
TEST_F(PullRequestsTest, HubNamesAndSelectionsThroughAServer) {
  ::setenv("HF_ENDPOINT", api_.Url("").c_str(), 1);  // the server child inherits it
  ServeChild server(data_);
  ::unsetenv("HF_ENDPOINT");
  std::vector<std::string> env = {"MODELD_URL=" + server.base()};
  auto named = Modeld({"pull", "org/tiny:Q8_0", "--name", "small:q8"}, env);
  ASSERT_EQ(named.rc, 0) << named.err;
  EXPECT_NE(named.err.find("through the modeld server"), std::string::npos) << named.err;
  EXPECT_EQ(named.out, (ModelDir("small", "q8") / "gguf/tiny-Q8_0.gguf").string() + "\n");
  auto sel = Modeld({"pull", "hf://org/tiny", "--include", "*.json", "--json"}, env);
  ASSERT_EQ(sel.rc, 0) << sel.err;
  auto local = Modeld({"pull", "hf://org/tiny", "--include", "*.json", "--local", "--json"});
  ASSERT_EQ(local.rc, 0) << local.err;
  EXPECT_EQ(local.j()["already_installed"], true) << "the server named it as this process does";
}

}  // namespace
}  // namespace modeld::testing
