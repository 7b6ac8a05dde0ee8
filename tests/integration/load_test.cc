// Models held in memory and what is inside them (issue 12), through the real binary:
// `modeld serve` children over the test origin, a GGUF written by tests/formats' writer.
// Loads, unloads, eviction under --max-loaded-bytes, keep_alive 0, the refusals (not
// installed, downloading, broken), remove while loaded, and the CLI's load/unload/ps
// through a server. No sleeps: every wait is an HTTP answer.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "fixtures.h"
#include "gguf_writer.h"
#include "http_client.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr uint64_t kMiB = 1 << 20;

class LoadTest : public ::testing::Test {
 protected:
  struct Out {
    int rc;
    std::string out, err;
    json j() const { return json::parse(out, nullptr, false); }
  };
  // `modeld --data-dir D args...`, with |server| (or no server) as MODELD_URL.
  Out Modeld(std::vector<std::string> args, const std::string& server = "http://127.0.0.1:1") {
    args.insert(args.begin(), {"--data-dir", data_.string()});
    Out o;
    o.rc = RunModeldEnv(args, dir_.path(), {"MODELD_URL=" + server}, &o.out, &o.err);
    return o;
  }
  struct Reply {
    long status;
    json body;
  };
  Reply Call(const ServeChild& s, const std::string& method, const std::string& path,
             const json& body = json()) {
    auto r = HttpCall(method, s.base() + path, body.is_null() ? "" : body.dump(),
                      {"Content-Type: application/json"}, nullptr, 120);
    return {r.status, json::parse(r.body, nullptr, false)};
  }
  // Pulls |path| of the origin as |name|:v1 through |s| and waits for it.
  void Pull(const ServeChild& s, const std::string& name, const std::string& path) {
    auto r = Call(s, "POST", "/model-download?wait=true",
                  {{"model_name", name}, {"version", "v1"}, {"download_url", origin_.Url(path)}});
    ASSERT_EQ(r.status, 200) << r.body.dump();
  }
  json ModelEntry(const ServeChild& s, const std::string& name) {
    auto r = Call(s, "GET", "/models");
    for (const auto& m : r.body["models"]) {
      if (m["name"] == name) return m;
    }
    return json();
  }

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  TestOrigin origin_;
};

TEST_F(LoadTest, APulledGgufShowsWhatIsInsideIt) {
  origin_.Put("/tiny.gguf", {.content = EncodeGguf(AllTypesGguf(3))});
  auto pull = Modeld({"pull", origin_.Url("/tiny.gguf"), "--name", "tiny:v1"});
  ASSERT_EQ(pull.rc, 0) << pull.err;
  auto info = Modeld({"info", "tiny:v1", "--json"});
  ASSERT_EQ(info.rc, 0) << info.err;
  json in = info.j()["inspection"];
  EXPECT_EQ(in["format"], "gguf") << info.out;
  EXPECT_EQ(in["architecture"], "llama");
  EXPECT_EQ(in["quantization"], "Q4_K_M");
  EXPECT_EQ(in["context_length"], 4096);
  EXPECT_EQ(in["parameter_count"], ParameterCount({AllTypesGguf(3)}));
  EXPECT_TRUE(in.contains("gguf_metadata")) << "info shows every key/value";
  auto text = Modeld({"info", "tiny:v1"});
  EXPECT_NE(text.out.find("arch:      llama"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("quant:     Q4_K_M"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("context:   4096"), std::string::npos) << text.out;
  // A listing carries the summary, not the key/values.
  auto ls = Modeld({"ls", "--json"});
  json listed = ls.j()["models"][0]["inspection"];
  EXPECT_EQ(listed["architecture"], "llama") << ls.out;
  EXPECT_FALSE(listed.contains("gguf_metadata"));
}

TEST_F(LoadTest, AFileThatIsNoModelIsInstalledWithTheErrorKept) {
  origin_.Put("/bad.gguf", {.content = "GGUF but not really"});
  auto pull = Modeld({"pull", origin_.Url("/bad.gguf"), "--name", "bad:v1"});
  ASSERT_EQ(pull.rc, 0) << pull.err;
  auto info = Modeld({"info", "bad:v1", "--json"});
  EXPECT_FALSE(info.j()["inspection"].value("error", "").empty()) << info.out;
}

TEST_F(LoadTest, LoadSharesOneInstanceListsItAndUnloads) {
  origin_.Put("/tiny.gguf", {.content = EncodeGguf(AllTypesGguf(3))});
  ServeChild s(data_);
  ASSERT_GT(s.port(), 0) << s.Log();
  Pull(s, "tiny", "/tiny.gguf");
  auto first = Call(s, "POST", "/models/tiny/load", {{"version", "v1"}, {"keep_alive", "1h"}});
  ASSERT_EQ(first.status, 200) << first.body.dump();
  auto second = Call(s, "POST", "/models/tiny:v1/load");  // another client, the same model
  ASSERT_EQ(second.status, 200) << second.body.dump();
  EXPECT_EQ(first.body["loaded"]["instance_id"], second.body["loaded"]["instance_id"]);
  EXPECT_TRUE(second.body["joined"].get<bool>());

  json m = ModelEntry(s, "tiny");
  EXPECT_EQ(m["status"], "loaded") << m.dump();
  EXPECT_EQ(m["loaded"]["resident_bytes"], m["size"]) << "every page is in memory";
  EXPECT_EQ(m["inspection"]["architecture"], "llama");
  auto ps = Call(s, "GET", "/loaded");
  ASSERT_EQ(ps.body["models"].size(), 1u) << ps.body.dump();
  EXPECT_EQ(ps.body["models"][0]["ref"], "tiny:v1");

  auto un = Call(s, "POST", "/models/tiny/unload", {{"version", "v1"}});
  ASSERT_EQ(un.status, 200) << un.body.dump();
  EXPECT_TRUE(un.body["was_loaded"].get<bool>());
  EXPECT_EQ(ModelEntry(s, "tiny")["status"], "available");
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());

  // keep_alive 0 unloads (Ollama's), as a number or a string.
  ASSERT_EQ(Call(s, "POST", "/models/tiny/load?version=v1").status, 200);
  auto zero = Call(s, "POST", "/models/tiny/load", {{"version", "v1"}, {"keep_alive", 0}});
  EXPECT_EQ(zero.body["status"], "unloaded") << zero.body.dump();
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
  auto bad = Call(s, "POST", "/models/tiny/load", {{"keep_alive", "soon"}});
  EXPECT_EQ(bad.status, 400) << bad.body.dump();
}

TEST_F(LoadTest, RemovingALoadedModelUnloadsIt) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 1)});
  ServeChild s(data_);
  Pull(s, "w", "/w.bin");
  ASSERT_EQ(Call(s, "POST", "/models/w/load", {{"version", "v1"}}).status, 200);
  auto rm = Call(s, "DELETE", "/models/w?version=v1");
  ASSERT_EQ(rm.status, 200) << rm.body.dump();
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
}

TEST_F(LoadTest, TheLeastRecentlyUsedGoesWhenTheBudgetNeedsRoom) {
  ServeChild s(data_, {"--max-loaded-bytes", std::to_string(5 * kMiB / 2)});
  for (const char* n : {"a", "b", "c"}) {
    origin_.Put(std::string("/") + n + ".bin", {.content = RandomBytes(kMiB, n[0])});
    Pull(s, n, std::string("/") + n + ".bin");
  }
  ASSERT_EQ(Call(s, "POST", "/models/a/load", {{"version", "v1"}}).status, 200);
  ASSERT_EQ(Call(s, "POST", "/models/b/load", {{"version", "v1"}}).status, 200);
  ASSERT_EQ(Call(s, "POST", "/models/a/load", {{"version", "v1"}}).status, 200);  // a: used
  ASSERT_EQ(Call(s, "POST", "/models/c/load", {{"version", "v1"}}).status, 200);
  std::set<std::string> loaded;
  auto ps = Call(s, "GET", "/loaded").body;
  for (const auto& m : ps["models"]) loaded.insert(m["name"].get<std::string>());
  EXPECT_EQ(loaded, (std::set<std::string>{"a", "c"}))
      << "b was the least recently used; " << ps.dump();
  EXPECT_EQ(ps["max_loaded_bytes"], 5 * kMiB / 2);
  EXPECT_EQ(ModelEntry(s, "b")["status"], "available");
}

TEST_F(LoadTest, LoadsAreRefusedForUnknownBrokenAndDownloadingModels) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 2)});
  origin_.Put("/slow.bin", {.content = RandomBytes(8 * kMiB, 3), .rate = 256 * 1024});
  ServeChild s(data_);
  auto unknown = Call(s, "POST", "/models/nope/load");
  EXPECT_EQ(unknown.status, 404) << unknown.body.dump();
  EXPECT_EQ(unknown.body["error_detail"]["reason"], "MODEL_NOT_INSTALLED");

  Pull(s, "w", "/w.bin");
  fs::path file = data_ / "models" / "w" / "v1" / "w.bin";
  fs::remove(file);
  auto broken = Call(s, "POST", "/models/w/load", {{"version", "v1"}});
  EXPECT_EQ(broken.status, 409) << broken.body.dump();
  EXPECT_EQ(broken.body["error_detail"]["reason"], "MODEL_BROKEN");
  EXPECT_EQ(broken.body["error_detail"]["path"], file.string());

  auto started = Call(s, "POST", "/model-download",
                      {{"model_name", "slow"}, {"download_url", origin_.Url("/slow.bin")}});
  ASSERT_EQ(started.status, 200) << started.body.dump();
  auto busy = Call(s, "POST", "/models/slow/load");
  EXPECT_EQ(busy.status, 409) << busy.body.dump();
  EXPECT_EQ(busy.body["error_detail"]["reason"], "MODEL_DOWNLOADING");
  Call(s, "POST", "/model-download/" + started.body["download_id"].get<std::string>() + "/cancel");
}

TEST_F(LoadTest, TheCliLoadsUnloadsAndListsThroughAServer) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 4)});
  ServeChild s(data_);
  Pull(s, "w", "/w.bin");
  auto load = Modeld({"load", "w:v1", "--keep-alive", "10m"}, s.base());
  ASSERT_EQ(load.rc, 0) << load.err;
  EXPECT_NE(load.out.find("loaded w:v1"), std::string::npos) << load.out;
  auto ps = Modeld({"ps", "--json"}, s.base());
  ASSERT_EQ(ps.rc, 0) << ps.err;
  ASSERT_EQ(ps.j()["models"].size(), 1u) << ps.out;
  EXPECT_EQ(ps.j()["models"][0]["resident_bytes"], kMiB);
  EXPECT_TRUE(ps.j()["models"][0]["expires_at"].is_number());
  auto table = Modeld({"ps"}, s.base());
  EXPECT_NE(table.out.find("RESIDENT"), std::string::npos) << table.out;
  auto unload = Modeld({"unload", "w:v1"}, s.base());
  ASSERT_EQ(unload.rc, 0) << unload.err;
  EXPECT_NE(unload.out.find("unloaded w:v1"), std::string::npos) << unload.out;
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
  auto missing = Modeld({"load", "nope:v1"}, s.base());
  EXPECT_EQ(missing.rc, 4) << missing.err;
}

}  // namespace
}  // namespace modeld::testing
