// Ollama's API (issue 15) on a real `modeld serve` over the Ollama registry mimic
// (tests/origin/ollama_mimic.h): /api/pull streamed line by line and with stream:false,
// unknown, private and lying models, the listings, show, load and unload through generate
// and chat, copy, delete, blobs, Ollama's own directory written file by file and a model
// already in it reused with no download, and a pull killed with the server, resumed.
// No sleeps: a pull's end is the end of its response.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "gguf_writer.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "ollama_mimic.h"
#include "origin.h"
#include "serve_child.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTemplateType = "application/vnd.ollama.image.template";
const std::string kParamsType = "application/vnd.ollama.image.params";
const std::string kLicenseType = "application/vnd.ollama.image.license";

class OllamaApiTest : public ::testing::Test {
 protected:
  struct Reply {
    long status;
    json body;
    std::string text;
    std::vector<json> lines;  // an NDJSON body's lines
  };
  // As ollama-js calls it: a JSON body and Content-Type on every request.
  static Reply Call(const std::string& base, const std::string& method, const std::string& path,
                    const json& body = json()) {
    auto r = HttpCall(method, base + path, body.is_null() ? "" : body.dump(),
                      {"Content-Type: application/json", "Accept: application/json"}, nullptr, 120);
    Reply out{r.status, json::parse(r.body, nullptr, false), r.body, {}};
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.lines.push_back(json::parse(line, nullptr, false));
    }
    return out;
  }
  static Reply Call(const ServeChild& s, const std::string& method, const std::string& path,
                    const json& body = json()) {
    return Call(s.base(), method, path, body);
  }
  std::vector<std::string> Args() { return {"--ollama-registry", o_.registry.Url("")}; }
  static std::string Sha(const std::string& s) { return Sha256Hex(s); }
  static std::string ReadAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  fs::path ollama_dir_ = data_ / "ollama";  // ServeChild's OLLAMA_MODELS
  OllamaOrigins o_;
  const std::string gguf_ = EncodeGguf(AllTypesGguf(3));
  const std::string template_ = "{{ .System }} {{ .Prompt }}";
  const std::string params_ = R"({"stop":["<|end|>","<|user|>"],"temperature":0.7})";
  const std::string license_ = "MIT License";
  const std::string config_ =
      R"({"model_format":"gguf","model_family":"llama","model_families":["llama"],)"
      R"("model_type":"1B","file_type":"Q4_K_M","architecture":"amd64","os":"linux"})";
  std::string manifest_ = o_.ollama.AddModel("library", "tiny", "latest",
                                             {{kOllamaModelType, gguf_},
                                              {kTemplateType, template_},
                                              {kParamsType, params_},
                                              {kLicenseType, license_}},
                                             config_);
};

TEST_F(OllamaApiTest, AStreamedPullGoesLineByLineToSuccessAndIntoOllamasDirectory) {
  ServeChild s(data_, Args());
  auto r = Call(s, "POST", "/api/pull", {{"model", "tiny"}});
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_GE(r.lines.size(), 5u) << r.text;
  EXPECT_EQ(r.lines.front(), (json{{"status", "pulling manifest"}}));
  std::map<std::string, uint64_t> completed;
  size_t i = 1;
  for (; i < r.lines.size() && r.lines[i].value("status", "").rfind("pulling ", 0) == 0; ++i) {
    const json& l = r.lines[i];
    const std::string digest = l.value("digest", "");
    ASSERT_EQ(digest.size(), 71u) << l.dump();
    EXPECT_EQ(l["status"], "pulling " + digest.substr(7, 12));
    const uint64_t c = l.value("completed", uint64_t{0});
    EXPECT_GE(c, completed[digest]) << "progress went back: " << r.text;
    EXPECT_LE(c, l["total"].get<uint64_t>());
    completed[digest] = c;
  }
  EXPECT_TRUE(completed.count("sha256:" + Sha(gguf_))) << r.text;
  EXPECT_EQ(completed["sha256:" + Sha(gguf_)], gguf_.size()) << r.text;
  ASSERT_EQ(r.lines.size() - i, 3u) << r.text;
  EXPECT_EQ(r.lines[i], (json{{"status", "verifying sha256 digest"}}));
  EXPECT_EQ(r.lines[i + 1], (json{{"status", "writing manifest"}}));
  EXPECT_EQ(r.lines[i + 2], (json{{"status", "success"}}));
  EXPECT_EQ(o_.ollama.AcceptSeen().front(), kOllamaManifestType);

  // Listed as Ollama lists it.
  auto tags = Call(s, "GET", "/api/tags");
  ASSERT_EQ(tags.status, 200) << tags.text;
  ASSERT_EQ(tags.body["models"].size(), 1u) << tags.text;
  const json t = tags.body["models"][0];
  EXPECT_EQ(t["name"], "tiny:latest");
  EXPECT_EQ(t["model"], "tiny:latest");
  EXPECT_EQ(t["digest"], Sha(manifest_));
  const json manifest = json::parse(manifest_);
  uint64_t size = manifest["config"]["size"].get<uint64_t>();
  for (const auto& l : manifest["layers"]) size += l["size"].get<uint64_t>();
  EXPECT_EQ(t["size"], size);
  EXPECT_EQ(t["details"]["format"], "gguf");
  EXPECT_EQ(t["details"]["family"], "llama");
  EXPECT_EQ(t["details"]["quantization_level"], "Q4_K_M");

  // Ollama's directory, file by file: the manifest as the registry sent it, each blob a
  // hard link to modeld's (one inode), the config blob too.
  EXPECT_EQ(ReadAll(ollama_dir_ / "manifests/registry.ollama.ai/library/tiny/latest"), manifest_);
  std::vector<std::string> digests = {manifest["config"]["digest"]};
  for (const auto& l : manifest["layers"]) digests.push_back(l["digest"]);
  for (const auto& d : digests) {
    const fs::path theirs = ollama_dir_ / "blobs" / ("sha256-" + d.substr(7));
    struct stat st {};
    ASSERT_EQ(::stat(theirs.c_str(), &st), 0) << theirs;
    EXPECT_GE(st.st_nlink, 2u) << theirs << " is not linked to modeld's blob";
    EXPECT_EQ(Sha(ReadAll(theirs)), d.substr(7));
  }
  size_t blob_files = 0;
  for (const auto& e : fs::directory_iterator(ollama_dir_ / "blobs")) {
    EXPECT_EQ(e.path().filename().string().rfind("sha256-", 0), 0u) << e.path();
    ++blob_files;
  }
  EXPECT_EQ(blob_files, digests.size()) << "no temporary file left behind";

  // modeld's own disk report names Ollama's directory and what it lists.
  auto cache = Call(s, "GET", "/cache");
  ASSERT_EQ(cache.status, 200) << cache.text;
  EXPECT_EQ(cache.body["ollama_models"], ollama_dir_.string());
  EXPECT_EQ(cache.body["ollama_dir_models"],
            (json{{{"name", "tiny:latest"}, {"digest", Sha(manifest_)}, {"size", size}}}));

  // Pulled again: installed, each blob complete, success, and nothing fetched.
  o_.blobs.ResetLog();
  auto again = Call(s, "POST", "/api/pull", {{"name", "tiny"}, {"stream", true}});
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.lines.back(), (json{{"status", "success"}})) << again.text;
  EXPECT_EQ(o_.blobs.BodyBytes(), 0u);
}

TEST_F(OllamaApiTest, StreamFalseAnswersOnceWhenThePullEnds) {
  ServeChild s(data_, Args());
  auto r = Call(s, "POST", "/api/pull", {{"name", "tiny:latest"}, {"stream", false}});
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body, (json{{"status", "success"}}));
  auto again = Call(s, "POST", "/api/pull", {{"name", "tiny"}, {"stream", false}});
  EXPECT_EQ(again.body, (json{{"status", "success"}})) << again.text;
}

TEST_F(OllamaApiTest, UnknownPrivateAndLyingModelsFailInEveryMode) {
  o_.ollama.AddModel("library", "secret", "latest", {{kOllamaModelType, "private bytes"}}, "",
                     "letmein");
  const std::string good = RandomBytes(4096, 7);
  o_.ollama.AddModel("library", "liar", "latest", {{kOllamaModelType, good}});
  o_.ollama.ServeWrongBlob(good, RandomBytes(4096, 8));
  ServeChild s(data_, Args());

  auto unknown = Call(s, "POST", "/api/pull", {{"model", "nosuch"}});
  ASSERT_EQ(unknown.status, 200) << unknown.text;
  ASSERT_EQ(unknown.lines.size(), 2u) << unknown.text;
  EXPECT_EQ(unknown.lines[0], (json{{"status", "pulling manifest"}}));
  EXPECT_EQ(unknown.lines[1], (json{{"error", "pull model manifest: file does not exist"}}));
  auto unknown_tag = Call(s, "POST", "/api/pull", {{"model", "tiny:nosuchtag"}, {"stream", false}});
  EXPECT_EQ(unknown_tag.status, 404) << unknown_tag.text;
  EXPECT_EQ(unknown_tag.body, (json{{"error", "pull model manifest: file does not exist"}}));

  auto secret = Call(s, "POST", "/api/pull", {{"model", "secret"}, {"stream", false}});
  EXPECT_EQ(secret.status, 403) << secret.text;
  EXPECT_NE(secret.body.value("error", "").find("private"), std::string::npos) << secret.text;

  auto liar = Call(s, "POST", "/api/pull", {{"model", "liar"}});
  ASSERT_EQ(liar.status, 200) << liar.text;
  ASSERT_FALSE(liar.lines.empty());
  EXPECT_TRUE(liar.lines.back().contains("error")) << liar.text;
  auto listed = Call(s, "GET", "/api/tags");
  EXPECT_EQ(listed.body["models"], json::array()) << "nothing installed: " << listed.text;
  EXPECT_FALSE(fs::exists(ollama_dir_ / "manifests/registry.ollama.ai/library/liar"));

  auto bad = Call(s, "POST", "/api/pull", {{"model", "../../etc/passwd"}});
  EXPECT_EQ(bad.status, 400) << bad.text;
  EXPECT_TRUE(bad.body.contains("error")) << bad.text;
}

TEST_F(OllamaApiTest, RequiredTokensAreFetchedFromTheChallenge) {
  o_.ollama.RequireTokenForAll(true);
  ServeChild s(data_, Args());
  auto r = Call(s, "POST", "/api/pull", {{"model", "tiny"}, {"stream", false}});
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body, (json{{"status", "success"}}));
  // The registry's token went to the registry, never to the blob host it redirected to.
  ASSERT_FALSE(o_.blobs.Requests().empty());
  for (const auto& req : o_.blobs.Requests()) EXPECT_EQ(req.authorization, "") << req.target;
  bool registry_saw_token = false;
  for (const auto& req : o_.registry.Requests()) {
    registry_saw_token |= req.authorization.rfind("Bearer anon-", 0) == 0;
  }
  EXPECT_TRUE(registry_saw_token);
}

TEST_F(OllamaApiTest, ShowLoadUnloadCopyDeleteAndBlobs) {
  ServeChild s(data_, Args());
  ASSERT_EQ(Call(s, "POST", "/api/pull", {{"model", "tiny"}, {"stream", false}}).status, 200);

  auto show = Call(s, "POST", "/api/show", {{"model", "tiny"}});
  ASSERT_EQ(show.status, 200) << show.text;
  EXPECT_EQ(show.body["template"], template_);
  EXPECT_EQ(show.body["license"], license_);
  EXPECT_NE(show.body["parameters"].get<std::string>().find("temperature"), std::string::npos);
  EXPECT_NE(show.body["parameters"].get<std::string>().find("\"<|end|>\""), std::string::npos);
  EXPECT_EQ(show.body["details"]["family"], "llama");
  EXPECT_EQ(show.body["model_info"]["general.architecture"], "llama") << show.text;
  EXPECT_EQ(show.body["capabilities"], json::array({"completion"}));
  auto missing = Call(s, "POST", "/api/show", {{"model", "nosuch"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, (json{{"error", "model 'nosuch:latest' not found"}}));

  // Load the Ollama way, and unload.
  auto load = Call(s, "POST", "/api/generate", {{"model", "tiny"}, {"keep_alive", "10m"}});
  ASSERT_EQ(load.status, 200) << load.text;
  EXPECT_EQ(load.body["done"], true);
  EXPECT_EQ(load.body["done_reason"], "load");
  EXPECT_EQ(load.body["response"], "");
  auto ps = Call(s, "GET", "/api/ps");
  ASSERT_EQ(ps.body["models"].size(), 1u) << ps.text;
  EXPECT_EQ(ps.body["models"][0]["name"], "tiny:latest");
  EXPECT_EQ(ps.body["models"][0]["size_vram"], 0);
  EXPECT_TRUE(ps.body["models"][0]["expires_at"].is_string());
  auto unload = Call(s, "POST", "/api/chat",
                     {{"model", "tiny"}, {"messages", json::array()}, {"keep_alive", 0}});
  ASSERT_EQ(unload.status, 200) << unload.text;
  EXPECT_EQ(unload.body["done_reason"], "unload");
  EXPECT_EQ(unload.body["message"], (json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_EQ(Call(s, "GET", "/api/ps").body["models"], json::array());
  auto prompt = Call(s, "POST", "/api/generate", {{"model", "tiny"}, {"prompt", "hello"}});
  EXPECT_EQ(prompt.status, 501);
  EXPECT_NE(prompt.body.value("error", "").find("no inference"), std::string::npos);

  // Copy, then delete each name.
  auto copied = Call(s, "POST", "/api/copy", {{"source", "tiny"}, {"destination", "mine:v1"}});
  EXPECT_EQ(copied.status, 200) << copied.text;
  EXPECT_TRUE(copied.text.empty());
  EXPECT_EQ(ReadAll(ollama_dir_ / "manifests/registry.ollama.ai/library/mine/v1"), manifest_);
  auto tags = Call(s, "GET", "/api/tags");
  ASSERT_EQ(tags.body["models"].size(), 2u) << tags.text;
  EXPECT_EQ(Call(s, "POST", "/api/copy", {{"source", "nosuch"}, {"destination", "x"}}).status, 404);

  const json manifest = json::parse(manifest_);
  const std::string layer = manifest["layers"][0]["digest"];
  EXPECT_EQ(Call(s, "HEAD", "/api/blobs/" + layer).status, 200);
  EXPECT_EQ(Call(s, "HEAD", "/api/blobs/sha256:" + std::string(64, '0')).status, 404);
  EXPECT_EQ(Call(s, "HEAD", "/api/blobs/sha256:xyz").status, 400);

  EXPECT_EQ(Call(s, "DELETE", "/api/delete", {{"name", "mine:v1"}}).status, 200);
  EXPECT_FALSE(fs::exists(ollama_dir_ / "manifests/registry.ollama.ai/library/mine"));
  EXPECT_TRUE(fs::exists(ollama_dir_ / "blobs" / ("sha256-" + layer.substr(7))))
      << "still named by tiny's manifest";
  EXPECT_EQ(Call(s, "DELETE", "/api/delete", {{"model", "tiny"}}).status, 200);
  EXPECT_FALSE(fs::exists(ollama_dir_ / "blobs" / ("sha256-" + layer.substr(7))));
  auto gone = Call(s, "DELETE", "/api/delete", {{"model", "tiny"}});
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body, (json{{"error", "model 'tiny' not found"}}));
  EXPECT_EQ(Call(s, "GET", "/api/tags").body["models"], json::array());
  auto version = Call(s, "GET", "/api/version");
  EXPECT_TRUE(version.body["version"].is_string()) << version.text;
}

TEST_F(OllamaApiTest, AModelAlreadyInOllamasDirectoryIsListedAndReusedWithNoDownload) {
  // As Ollama itself would have left it: every blob, then the manifest.
  const json manifest = json::parse(manifest_);
  fs::create_directories(ollama_dir_ / "blobs");
  fs::create_directories(ollama_dir_ / "manifests/registry.ollama.ai/library/tiny");
  const std::map<std::string, std::string> contents = {{Sha(gguf_), gguf_},
                                                       {Sha(template_), template_},
                                                       {Sha(params_), params_},
                                                       {Sha(license_), license_},
                                                       {Sha(config_), config_}};
  ASSERT_EQ(manifest["config"]["digest"], "sha256:" + Sha(config_));
  for (const auto& [sha, bytes] : contents) {
    std::ofstream(ollama_dir_ / "blobs" / ("sha256-" + sha), std::ios::binary) << bytes;
  }
  std::ofstream(ollama_dir_ / "manifests/registry.ollama.ai/library/tiny/latest", std::ios::binary)
      << manifest_;
  ServeChild s(data_, Args());
  auto tags = Call(s, "GET", "/api/tags");
  ASSERT_EQ(tags.body["models"].size(), 1u) << tags.text;
  EXPECT_EQ(tags.body["models"][0]["name"], "tiny:latest");
  EXPECT_EQ(tags.body["models"][0]["digest"], Sha(manifest_));

  o_.blobs.ResetLog();
  auto r = Call(s, "POST", "/api/pull", {{"model", "tiny"}, {"stream", false}});
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(o_.blobs.BodyBytes(), 0u) << "every blob was Ollama's already";
  auto show = Call(s, "POST", "/api/show", {{"model", "tiny"}});
  EXPECT_EQ(show.body["template"], template_) << show.text;
}

TEST_F(OllamaApiTest, APullKilledWithTheServerResumesAfterARestart) {
  const std::string big = RandomBytes(8 * kMiB, 99);
  o_.ollama.SetBlobRate(1 * kMiB);
  o_.ollama.AddModel("library", "big", "latest", {{kOllamaModelType, big}});
  {
    ServeChild s(data_, Args());
    // The server keeps pulling without the client (Ollama's way): a stream:false call
    // would block, so the stream is read until the first bytes arrive.
    std::thread client([&] { Call(s, "POST", "/api/pull", {{"model", "big"}}); });
    ASSERT_TRUE(o_.blobs.WaitForBodyBytes(o_.ollama.BlobPath(big), 3 * kMiB));
    s.Signal(SIGKILL);
    s.Wait();
    client.join();
  }
  const uint64_t before = o_.blobs.BodyBytes(o_.ollama.BlobPath(big));
  o_.ollama.SetBlobRate(0);
  o_.blobs.Update(o_.ollama.BlobPath(big), [](FileSpec& f) { f.rate = 0; });
  ServeChild s(data_, Args());
  auto r = Call(s, "POST", "/api/pull", {{"model", "big"}, {"stream", false}});
  ASSERT_EQ(r.status, 200) << r.text;
  const uint64_t after = o_.blobs.BodyBytes(o_.ollama.BlobPath(big)) - before;
  // Resumed: what had landed before the kill (up to the journal's last checkpoint, issue
  // 17 narrows that) is not fetched again.
  EXPECT_LE(after, big.size() - 2 * kMiB)
      << before << " bytes before the kill, " << after << " after the restart";
  auto tags = Call(s, "GET", "/api/tags");
  ASSERT_EQ(tags.body["models"].size(), 1u) << tags.text;
  EXPECT_EQ(tags.body["models"][0]["name"], "big:latest");
}

// HF_ENDPOINT for the server children started meanwhile (they inherit it).
struct OllamaHubEnv {
  explicit OllamaHubEnv(const std::string& endpoint) {
    ::setenv("HF_ENDPOINT", endpoint.c_str(), 1);
  }
  ~OllamaHubEnv() { ::unsetenv("HF_ENDPOINT"); }
};

TEST_F(OllamaApiTest, AnotherRegistryByHostACatalogNameAndTheHub) {
  HubOrigins hub;
  hub.hub.AddRepo("org/q", std::string(40, 'c'), {"main"},
                  {{"q-Q4_K_M.gguf", gguf_, true}, {"q-Q8_0.gguf", RandomBytes(3000, 3), true}});
  o_.blobs.Put("/cat/tinycat.gguf", {.content = gguf_});
  json catalog = {
      {"name", "cat"},
      {"models",
       {{{"name", "tinycat"},
         {"latest", "v1"},
         {"versions",
          {{{"version", "v1"},
            {"files",
             {{{"url", o_.blobs.Url("/cat/tinycat.gguf")}, {"size", gguf_.size()}}}}}}}}}}};
  std::ofstream(dir_ / "catalog.json") << catalog.dump();
  OllamaHubEnv env(hub.hub.Endpoint());
  auto args = Args();
  args.insert(args.end(), {"--catalog", "cat=" + (dir_ / "catalog.json").string()});
  ServeChild s(data_, args);

  // host/namespace/name: that registry itself (over http with insecure), not the default.
  const std::string host = "127.0.0.1:" + std::to_string(o_.registry.port());
  auto other = Call(s, "POST", "/api/pull",
                    {{"model", host + "/library/tiny"}, {"insecure", true}, {"stream", false}});
  ASSERT_EQ(other.status, 200) << other.text;
  EXPECT_TRUE(fs::exists(ollama_dir_ / "manifests" / host / "library/tiny/latest"));

  auto cat = Call(s, "POST", "/api/pull", {{"model", "tinycat"}, {"stream", false}});
  ASSERT_EQ(cat.status, 200) << cat.text;

  // The Hub: without a quantization, the one LM Studio and Ollama pick.
  auto hf = Call(s, "POST", "/api/pull", {{"model", "hf.co/org/q"}, {"stream", false}});
  ASSERT_EQ(hf.status, 200) << hf.text;
  auto hf8 = Call(s, "POST", "/api/pull", {{"model", "hf.co/org/q:Q8_0"}});
  EXPECT_EQ(hf8.lines.back(), (json{{"status", "success"}})) << hf8.text;

  std::set<std::string> names;
  const Reply tags = Call(s, "GET", "/api/tags");
  for (const auto& m : tags.body["models"]) names.insert(m["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{host + "/library/tiny:latest", "tinycat:latest",
                                          "hf.co/org/q:latest", "hf.co/org/q:Q8_0"}));
  // A Hub model copied to an Ollama name lists, and deletes, under that name.
  EXPECT_EQ(
      Call(s, "POST", "/api/copy", {{"source", "hf.co/org/q:Q8_0"}, {"destination", "q8"}}).status,
      200);
  bool listed = false;
  const Reply with_copy = Call(s, "GET", "/api/tags");
  for (const auto& m : with_copy.body["models"]) listed |= m["name"] == "q8:latest";
  EXPECT_TRUE(listed);
  EXPECT_EQ(Call(s, "DELETE", "/api/delete", {{"model", "q8"}}).status, 200);
  auto shown = Call(s, "POST", "/api/show", {{"model", "hf.co/org/q:latest"}});
  ASSERT_EQ(shown.status, 200) << shown.text;
  EXPECT_EQ(shown.body["details"]["quantization_level"], "Q4_K_M");
  EXPECT_EQ(Call(s, "POST", "/api/show", {{"model", host + "/library/tiny"}}).status, 200);
}

// Opens a streamed pull of |model| on a raw socket and returns the socket, its first line
// read: the client a test can drop at a moment it chooses.
int OpenPullStream(uint16_t port, const std::string& model) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  const std::string body = json{{"model", model}}.dump();
  const std::string req =
      "POST /api/pull HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return -1;
  char buf[512];
  if (::read(fd, buf, sizeof buf) <= 0) return -1;  // the header and "pulling manifest"
  return fd;
}

TEST_F(OllamaApiTest, PullsOfOneModelShareOneJobAndADroppedClientCancelsNothing) {
  const std::string big = RandomBytes(4 * kMiB, 5);
  o_.ollama.SetBlobRate(2 * kMiB);
  o_.ollama.AddModel("library", "shared", "latest", {{kOllamaModelType, big}});
  ServeChild s(data_, Args());

  std::vector<Reply> replies(3);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < replies.size(); ++i) {
    clients.emplace_back([&, i] {
      replies[i] = Call(s, "POST", "/api/pull", {{"model", "shared"}, {"stream", i != 2}});
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(replies[0].lines.back(), (json{{"status", "success"}})) << replies[0].text;
  EXPECT_EQ(replies[1].lines.back(), (json{{"status", "success"}})) << replies[1].text;
  EXPECT_EQ(replies[2].body, (json{{"status", "success"}})) << replies[2].text;
  const std::string path = o_.ollama.BlobPath(big);
  EXPECT_LE(o_.blobs.BodyBytes(path), big.size() + big.size() / 10)
      << "three clients, one download";

  // A client that goes away: the pull goes on (Ollama's way), and is there for the next.
  const std::string other = RandomBytes(4 * kMiB, 6);
  o_.ollama.AddModel("library", "dropped", "latest", {{kOllamaModelType, other}});
  int fd = OpenPullStream(s.port(), "dropped");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(o_.blobs.WaitForBodyBytes(o_.ollama.BlobPath(other), kMiB));
  ::close(fd);
  auto after = Call(s, "POST", "/api/pull", {{"model", "dropped"}, {"stream", false}});
  ASSERT_EQ(after.status, 200) << after.text;
  EXPECT_LE(o_.blobs.BodyBytes(o_.ollama.BlobPath(other)), other.size() + other.size() / 10);
}

}  // namespace
}  // namespace modeld::testing
