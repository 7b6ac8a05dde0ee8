// Models held in memory and what is inside them (issue 12), through the real binary:
// `modeld serve` children over the test origin, a GGUF written by tests/formats' writer.
// Loads, unloads, eviction under --max-loaded-bytes, keep_alive 0, the refusals (not
// installed, downloading, broken), remove while loaded, and the CLI's load/unload/ps
// through a server. No sleeps: every wait is an HTTP answer.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine_harness.h"
#include "fixtures.h"
#include "gguf_writer.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "origin.h"
#include "safetensors_writer.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

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
  // Asks GET /loaded until it lists nothing, for at most |limit|. Polls: what it waits for
  // (an expiry, a watch of the files) happens on the server's clock, with no event to
  // wait on.
  bool WaitUntilNoneLoaded(const ServeChild& s, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Call(s, "GET", "/loaded").body["models"].empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
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

// A Hub repository as people publish them: a sharded safetensors model with its
// config.json and tokenizer_config.json, and a split GGUF beside it. Each selection is one
// model, described from all of its files.
TEST_F(LoadTest, HubModelsShowWhatIsInsideThem) {
  HubOrigins hub;
  std::vector<HubRepoFile> files = {
      {"config.json", R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
          "max_position_embeddings": 32768, "hidden_size": 64, "num_hidden_layers": 2,
          "torch_dtype": "bfloat16"})"},
      {"tokenizer_config.json", "{}"},
      {"model.safetensors.index.json", R"({"metadata": {"total_size": 25856}, "weight_map": {
          "embed": "model-00001-of-00002.safetensors",
          "norm": "model-00001-of-00002.safetensors",
          "lm_head": "model-00002-of-00002.safetensors"}})"},
      {"model-00001-of-00002.safetensors",
       EncodeSafetensors({{"embed", "BF16", {100, 64}}, {"norm", "F32", {64}}}), true},
      {"model-00002-of-00002.safetensors", EncodeSafetensors({{"lm_head", "BF16", {100, 64}}}),
       true},
  };
  std::vector<GgufSpec> parts;
  for (auto& [name, spec] : SplitGguf()) {
    files.push_back({"gguf/" + name, EncodeGguf(spec), true});
    parts.push_back(std::move(spec));
  }
  hub.hub.AddRepo("org/llm", std::string(40, 'd'), {"main"}, std::move(files));
  auto pull = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_.string(), "pull", "-q", "org/llm"});
    std::string err;
    int rc = RunModeldEnv(args, dir_.path(),
                          {"HF_ENDPOINT=" + hub.hub.Endpoint(), "MODELD_URL=http://127.0.0.1:1"},
                          nullptr, &err);
    EXPECT_EQ(rc, 0) << err;
  };
  pull({"--exclude", "gguf/*", "--name", "llm:st"});
  pull({"--include", "gguf/*", "--name", "llm:gguf"});

  auto st = Modeld({"info", "llm:st", "--json"});
  ASSERT_EQ(st.rc, 0) << st.err;
  json in = st.j()["inspection"];
  EXPECT_EQ(in["format"], "safetensors") << st.out;
  EXPECT_EQ(in["architecture"], "qwen2");
  EXPECT_EQ(in["parameter_count"], 6400 + 64 + 6400);
  EXPECT_EQ(in["quantization"], "BF16");
  EXPECT_EQ(in["split_count"], 2);
  EXPECT_EQ(in["context_length"], 32768);
  EXPECT_EQ(in["config"]["architectures"], json::array({"Qwen2ForCausalLM"}));
  EXPECT_EQ(in["config"]["torch_dtype"], "bfloat16");
  EXPECT_TRUE(in["has_tokenizer_config"].get<bool>());

  auto gguf = Modeld({"info", "llm:gguf", "--json"});
  ASSERT_EQ(gguf.rc, 0) << gguf.err;
  in = gguf.j()["inspection"];
  EXPECT_EQ(in["format"], "gguf") << gguf.out;
  EXPECT_EQ(in["architecture"], "llama");
  EXPECT_EQ(in["split_count"], 3) << "the three parts are one model";
  EXPECT_EQ(in["parameter_count"], ParameterCount(parts));
  EXPECT_EQ(in["quantization"], "Q4_K_M");
  EXPECT_EQ(in["files"].size(), 3u);

  // Both in one listing, each with its summary.
  auto ls = Modeld({"ls", "--json"});
  std::map<std::string, std::string> formats;
  const json listing = ls.j();  // not in the for: the temporary would end before the loop
  for (const auto& m : listing["models"]) {
    formats[m["name"].get<std::string>() + ":" + m["version"].get<std::string>()] =
        m["inspection"].value("format", "");
  }
  EXPECT_EQ(formats,
            (std::map<std::string, std::string>{{"llm:gguf", "gguf"}, {"llm:st", "safetensors"}}))
      << ls.out;
}

// A model installed before modeld read model files has no inspection: the first listing
// reads it (and records it, so that the next one reads nothing).
TEST_F(LoadTest, AModelInstalledBeforeInspectionIsDescribedOnItsFirstListing) {
  origin_.Put("/tiny.gguf", {.content = EncodeGguf(AllTypesGguf(3))});
  ASSERT_EQ(Modeld({"pull", origin_.Url("/tiny.gguf"), "--name", "tiny:v1"}).rc, 0);
  auto inspected_at = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((data_ / "registry.sqlite").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT inspected_at FROM models", -1, &st, nullptr);
    int64_t at = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return at;
  };
  ASSERT_GT(inspected_at(), 0) << "read at install";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_ / "registry.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE models SET inspection = NULL, inspected_at = NULL", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_EQ(inspected_at(), 0) << "NULL reads as 0";

  auto ls = Modeld({"ls", "--json"});
  ASSERT_EQ(ls.rc, 0) << ls.err;
  EXPECT_EQ(ls.j()["models"][0]["inspection"]["architecture"], "llama") << ls.out;
  EXPECT_GT(inspected_at(), 0) << "recorded";
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

// `modeld rm` in another process (no server involved): the server's mapping would keep the
// removed bytes in memory; it unloads the model within its watch interval (2 s).
TEST_F(LoadTest, AModelRemovedByAnotherProcessIsUnloaded) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 5)});
  ServeChild s(data_);
  Pull(s, "w", "/w.bin");
  ASSERT_EQ(Call(s, "POST", "/models/w/load", {{"version", "v1"}}).status, 200);
  auto rm = Modeld({"rm", "w:v1"});
  ASSERT_EQ(rm.rc, 0) << rm.err;
  EXPECT_TRUE(WaitUntilNoneLoaded(s, std::chrono::seconds(30))) << s.Log();
  EXPECT_NE(s.Log().find("unloaded w:v1: its file"), std::string::npos) << s.Log();
}

// keep_alive counts on the server's own clock: an idle model goes after it.
TEST_F(LoadTest, AnIdleModelIsUnloadedAfterItsKeepAlive) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 6)});
  ServeChild s(data_);
  Pull(s, "w", "/w.bin");
  const auto start = std::chrono::steady_clock::now();
  auto load = Call(s, "POST", "/models/w/load", {{"version", "v1"}, {"keep_alive", "1s"}});
  ASSERT_EQ(load.status, 200) << load.body.dump();
  auto ps = Call(s, "GET", "/loaded").body;
  ASSERT_EQ(ps["models"].size(), 1u) << ps.dump();
  const int64_t expires = ps["models"][0]["expires_at"];
  const int64_t last_used = ps["models"][0]["last_used"];
  EXPECT_GE(expires - last_used, 1);
  EXPECT_LE(expires - last_used, 2);
  EXPECT_TRUE(WaitUntilNoneLoaded(s, std::chrono::seconds(30))) << s.Log();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1))
      << "unloaded before its keep_alive";
  EXPECT_EQ(ModelEntry(s, "w")["status"], "available");
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

// `modeld load --mlock` beyond RLIMIT_MEMLOCK, as a user without CAP_IPC_LOCK meets it
// (root ignores the limit: the child runs without that capability): a clear error with
// the numbers and how to raise the limit, and nothing stays loaded.
TEST_F(LoadTest, MlockBeyondTheLimitSaysHowToRaiseIt) {
  if (kSanitizerSlowdown > 1) GTEST_SKIP() << "a sanitizer's runtime makes mlock a no-op";
  origin_.Put("/w.bin", {.content = RandomBytes(2 * kMiB, 7)});
  ASSERT_EQ(Modeld({"pull", origin_.Url("/w.bin"), "--name", "w:v1"}).rc, 0);
  Child c({"--data-dir", data_.string(), "load", "w:v1", "--mlock"}, dir_.path(),
          {"MODELD_URL=http://127.0.0.1:1"},
          {"prlimit", "--memlock=65536:65536", "setpriv", "--inh-caps=-ipc_lock",
           "--bounding-set=-ipc_lock", "--"});
  const int rc = c.Wait();
  const std::string err = c.Stderr();
  EXPECT_EQ(rc, 9) << err;
  EXPECT_NE(err.find("cannot lock model 'w:v1' in memory"), std::string::npos) << err;
  EXPECT_NE(err.find("2.0 MiB"), std::string::npos) << err;
  EXPECT_NE(err.find("64.0 KiB"), std::string::npos) << err;
  EXPECT_NE(err.find("ulimit -l"), std::string::npos) << err;
  EXPECT_NE(err.find("LimitMEMLOCK"), std::string::npos) << err;
}

TEST_F(LoadTest, TheCliLoadsUnloadsAndListsThroughAServer) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 4)});
  ServeChild s(data_);
  Pull(s, "w", "/w.bin");
  auto load = Modeld({"load", "w:v1", "--keep-alive", "10m"}, s.base());
  ASSERT_EQ(load.rc, 0) << load.err;
  EXPECT_NE(load.out.find("loaded w:v1 in "), std::string::npos) << load.out;
  EXPECT_NE(load.out.find("1.0 MiB resident"), std::string::npos) << load.out;
  EXPECT_NE(load.out.find("expires in "), std::string::npos) << load.out;
  auto ps = Modeld({"ps", "--json"}, s.base());
  ASSERT_EQ(ps.rc, 0) << ps.err;
  ASSERT_EQ(ps.j()["models"].size(), 1u) << ps.out;
  EXPECT_EQ(ps.j()["models"][0]["resident_bytes"], kMiB);
  EXPECT_TRUE(ps.j()["models"][0]["expires_at"].is_number());
  auto table = Modeld({"ps"}, s.base());
  EXPECT_NE(table.out.find("RESIDENT"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" in "), std::string::npos) << "EXPIRES in N min: " << table.out;
  auto unload = Modeld({"unload", "w:v1"}, s.base());
  ASSERT_EQ(unload.rc, 0) << unload.err;
  EXPECT_NE(unload.out.find("unloaded w:v1"), std::string::npos) << unload.out;
  EXPECT_TRUE(Call(s, "GET", "/loaded").body["models"].empty());
  auto missing = Modeld({"load", "nope:v1"}, s.base());
  EXPECT_EQ(missing.rc, 4) << missing.err;
}

}  // namespace
}  // namespace modeld::testing
