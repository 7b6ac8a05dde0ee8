#include "api/ollama/wire.h"

#include <gtest/gtest.h>

namespace modeld::api::ollama {
namespace {

using nlohmann::json;
using service::JobState;

TEST(OllamaWireTest, PullBodiesAsTheClientsSendThem) {
  auto p = ParsePullRequest(R"({"name":"llama3.2","stream":false})");  // ollama-js
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->model, "llama3.2");
  EXPECT_FALSE(p->stream);
  p = ParsePullRequest(R"({"model":"qwen2.5:0.5b","insecure":true})");  // curl, the docs
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->model, "qwen2.5:0.5b");
  EXPECT_TRUE(p->stream);  // the server's default when absent
  EXPECT_TRUE(p->insecure);
  for (const char* bad : {"", "[]", "{}", R"({"model":1})", R"({"model":"x","stream":"yes"})"}) {
    auto r = ParsePullRequest(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r.has_value()) {
      EXPECT_EQ(StatusFor(r.error()), http::status::bad_request) << bad;
    }
  }
}

TEST(OllamaWireTest, GenerateWithoutInputIsALoad) {
  auto g = ParseGenerateRequest(R"({"model":"m","keep_alive":"5m"})", false);
  ASSERT_TRUE(g.has_value());
  EXPECT_FALSE(g->has_input);
  EXPECT_EQ(g->keep_alive, std::chrono::minutes(5));
  g = ParseGenerateRequest(R"({"model":"m","keep_alive":0})", false);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->keep_alive, std::chrono::milliseconds(0));
  g = ParseGenerateRequest(R"({"model":"m","prompt":"hi"})", false);
  EXPECT_TRUE(g->has_input);
  g = ParseGenerateRequest(R"({"model":"m","messages":[]})", true);
  EXPECT_FALSE(g->has_input);
  g = ParseGenerateRequest(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", true);
  EXPECT_TRUE(g->has_input);
  // Seconds as a string too (service::ParseKeepAlive; Ollama wants a unit there).
  EXPECT_EQ(ParseGenerateRequest(R"({"model":"m","keep_alive":"300"})", false)->keep_alive,
            std::chrono::seconds(300));
  EXPECT_FALSE(ParseGenerateRequest(R"({"model":"m","keep_alive":"soon"})", false).has_value());
  EXPECT_FALSE(ParseGenerateRequest(R"({"model":"m","keep_alive":[1]})", false).has_value());
}

TEST(OllamaWireTest, PullLinesNeverGoBackAndEndOnce) {
  PullLines sent;
  service::JobEvent e;
  e.state = JobState::kDownloading;
  service::FileProgress f;
  f.path = "model.gguf";
  f.digest = "sha256:" + std::string(64, 'a');
  f.total = 100;
  f.done = 40;
  e.files = {f};
  auto lines = PullEventLines(e, sent);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["status"], "pulling aaaaaaaaaaaa");
  EXPECT_EQ(lines[0]["digest"], f.digest);
  EXPECT_EQ(lines[0]["total"], 100);
  EXPECT_EQ(lines[0]["completed"], 40);
  e.files[0].done = 30;  // an older event: nothing
  EXPECT_TRUE(PullEventLines(e, sent).empty());
  e.files[0].done = 100;
  e.state = JobState::kCompleted;
  lines = PullEventLines(e, sent);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["completed"], 100);
  EXPECT_EQ(lines[1]["status"], "verifying sha256 digest");
  EXPECT_EQ(lines[2]["status"], "writing manifest");
  EXPECT_EQ(lines[3]["status"], "success");
  EXPECT_TRUE(PullEventLines(e, sent).empty());

  PullLines failed;
  e.state = JobState::kFailed;
  e.status = Status::NotFound("pull model manifest: file does not exist");
  e.files.clear();
  lines = PullEventLines(e, failed);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["error"], "pull model manifest: file does not exist");
}

TEST(OllamaWireTest, NamesMapBothWays) {
  service::Model m;
  m.ref = {"registry.ollama.ai/library/llama3.2", "latest"};
  m.source = "ollama";
  EXPECT_EQ(DisplayName(m), "llama3.2:latest");
  m.ref = {"bartowski/X-GGUF", "Q4_K_M"};
  m.source = "huggingface";
  EXPECT_EQ(DisplayName(m), "hf.co/bartowski/X-GGUF:Q4_K_M");
  m.ref = {"whisper-tiny", "latest"};
  m.source = "default";
  EXPECT_EQ(DisplayName(m), "whisper-tiny:latest");

  auto c = CandidateRefs("llama3.2");
  ASSERT_GE(c.size(), 2u);
  EXPECT_EQ(c[0].ToString(), "registry.ollama.ai/library/llama3.2:latest");
  EXPECT_EQ(c[1].ToString(), "llama3.2:latest");
  c = CandidateRefs("hf.co/bartowski/X-GGUF:Q4_K_M");
  ASSERT_GE(c.size(), 1u);
  EXPECT_EQ(c[0].ToString(), "bartowski/X-GGUF:Q4_K_M");
  EXPECT_TRUE(CandidateRefs("../../etc").empty());
}

TEST(OllamaWireTest, TimesAsGoWritesThem) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1764504000)) +
           std::chrono::nanoseconds(123456789);
  EXPECT_EQ(GoTime(t), "2025-11-30T12:00:00.123456789Z");
  EXPECT_EQ(ShortDigest("sha256:0123456789abcdef"), "0123456789ab");
}

}  // namespace
}  // namespace modeld::api::ollama
