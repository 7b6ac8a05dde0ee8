// GET /metrics of a real `modeld serve` (issue 16): pulls from the test origin move the
// counters (bytes by source, jobs by outcome and reason, retries and reconnects), the HTTP
// requests are counted under their route's pattern and status, and the gauges read at
// scrape time (jobs, the store's size, free space, loaded models) say what is there.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "engine_harness.h"
#include "http_client.h"
#include "origin.h"
#include "serve_child.h"

namespace modeld::testing {
namespace {

using nlohmann::json;

const std::string kMetricsToken = "m3trics";
const std::string kMetricsAuth = "Authorization: Bearer " + kMetricsToken;

// The samples of a text-format exposition: "name{labels}" -> value. modeld writes each
// series' labels in its family's order, so a test names a series as modeld spells it.
std::map<std::string, double> MetricSamples(const std::string& text) {
  std::map<std::string, double> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(at, nl - at);
    at = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

struct MetricsScrape {
  HttpReply reply;
  std::map<std::string, double> samples;
  // The value of |series|, or -1 when it is absent.
  double operator[](const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
};

MetricsScrape ScrapeMetrics(const ServeChild& s) {
  MetricsScrape out;
  out.reply = HttpCall("GET", s.base() + "/metrics", "", {kMetricsAuth});
  out.samples = MetricSamples(out.reply.body);
  return out;
}

HttpReply PullAndWait(const ServeChild& s, const json& body) {
  return HttpCall("POST", s.base() + "/model-download?wait=true", body.dump(),
                  {"Content-Type: application/json", kMetricsAuth}, nullptr, 120);
}

std::string RequestsSeries(const std::string& route, const std::string& method, int status) {
  return "modeld_http_requests_total{route=\"" + route + "\",method=\"" + method + "\",status=\"" +
         std::to_string(status) + "\"}";
}

TEST(ServeMetricsTest, APullMovesTheCountersAndRequestsAreCountedByRoutePattern) {
  TestOrigin origin;
  const std::string content = RandomBytes(3 * kMiB + 12345, 16);
  origin.Put("/m.bin", {.content = content});
  ScratchDir dir;
  ServeChild s(dir.path() / "data", {"--token", kMetricsToken});
  ASSERT_GT(s.port(), 0) << s.Log();

  MetricsScrape before = ScrapeMetrics(s);
  ASSERT_EQ(before.reply.status, 200) << before.reply.body;
  EXPECT_TRUE(before.reply.HasHeader("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
      << before.reply.headers;
  EXPECT_NE(before.reply.body.find("# TYPE modeld_download_bytes_total counter\n"),
            std::string::npos);
  EXPECT_NE(before.reply.body.find("# TYPE modeld_http_request_duration_seconds histogram\n"),
            std::string::npos);
  EXPECT_EQ(before["modeld_store_blob_bytes"], 0);
  EXPECT_EQ(before["modeld_store_models"], 0);
  EXPECT_GT(before["modeld_store_free_bytes"], 0);
  EXPECT_EQ(before["modeld_jobs_active"], 0);
  EXPECT_EQ(before["modeld_loaded_models"], 0);

  auto pulled = PullAndWait(s, {{"model_name", "metered"},
                                {"download_url", origin.Url("/m.bin")},
                                {"checksum", "sha256:" + Sha256Hex(content)}});
  ASSERT_EQ(pulled.status, 200) << pulled.body;
  // A stream counts once, when it starts (this one ends at once: the job has ended).
  std::string id = json::parse(pulled.body, nullptr, false).value("download_id", "");
  ASSERT_FALSE(id.empty()) << pulled.body;
  EXPECT_EQ(
      HttpCall("GET", s.base() + "/model-download/" + id + "/events", "", {kMetricsAuth}).status,
      200);
  // A job that does not exist: its route's pattern, not its path, and the 404.
  EXPECT_EQ(
      HttpCall("GET", s.base() + "/model-download/dwnld_000000000000/progress", "", {kMetricsAuth})
          .status,
      404);
  EXPECT_EQ(HttpCall("GET", s.base() + "/no/such/thing", "", {kMetricsAuth}).status, 404);
  // The scrape needs the token like any route.
  EXPECT_EQ(HttpCall("GET", s.base() + "/metrics").status, 401);

  MetricsScrape after = ScrapeMetrics(s);
  ASSERT_EQ(after.reply.status, 200);
  EXPECT_EQ(after["modeld_download_bytes_total{source=\"url\"}"], content.size())
      << after.reply.body;
  EXPECT_EQ(after["modeld_jobs_finished_total{outcome=\"completed\",reason=\"none\"}"], 1);
  EXPECT_EQ(after[RequestsSeries("/model-download", "POST", 200)], 1);
  EXPECT_EQ(after["modeld_http_request_duration_seconds_count{route=\"/model-download\","
                  "method=\"POST\",status=\"200\"}"],
            1);
  EXPECT_EQ(after["modeld_http_request_duration_seconds_bucket{route=\"/model-download\","
                  "method=\"POST\",status=\"200\",le=\"+Inf\"}"],
            1);
  EXPECT_EQ(after[RequestsSeries("/model-download/:id/progress", "GET", 404)], 1);
  EXPECT_EQ(after[RequestsSeries("none", "GET", 404)], 1);
  EXPECT_EQ(after[RequestsSeries("/model-download/:id/events", "GET", 200)], 1);
  EXPECT_EQ(after[RequestsSeries("/metrics", "GET", 401)], 1);
  EXPECT_EQ(after[RequestsSeries("/metrics", "GET", 200)], 1);  // the first scrape
  for (const auto& [series, value] : after.samples) {
    EXPECT_EQ(series.find("dwnld_000000000000"), std::string::npos) << series;
    EXPECT_EQ(series.find("/no/such/thing"), std::string::npos) << series;
    EXPECT_EQ(series.find(id), std::string::npos) << series;
  }
  EXPECT_EQ(after["modeld_store_blob_bytes"], content.size());
  EXPECT_EQ(after["modeld_store_blobs"], 1);
  EXPECT_EQ(after["modeld_store_models"], 1);
  EXPECT_EQ(after["modeld_jobs_active"], 0);
  EXPECT_EQ(after["modeld_jobs_queued"], 0);
  EXPECT_EQ(after["modeld_engine_connections"], 0);
}

TEST(ServeMetricsTest, FailuresRetriesAndLoadsAreCounted) {
  TestOrigin origin;
  const std::string good = RandomBytes(4 * kMiB, 17);
  const std::string other = RandomBytes(kMiB, 18);
  // The first responses break off mid-body: the engine retries and reconnects.
  origin.Put("/flaky.bin", {.content = good, .drop_after = 700 * 1024, .drop_times = 3});
  origin.Put("/other.bin", {.content = other});
  ScratchDir dir;
  ServeChild s(dir.path() / "data", {"--token", kMetricsToken});
  ASSERT_GT(s.port(), 0) << s.Log();

  auto flaky =
      PullAndWait(s, {{"model_name", "flaky"}, {"download_url", origin.Url("/flaky.bin")}});
  ASSERT_EQ(flaky.status, 200) << flaky.body;
  // A checksum that does not match: the job fails as Corrupt.
  auto corrupt = PullAndWait(s, {{"model_name", "corrupt"},
                                 {"download_url", origin.Url("/other.bin")},
                                 {"checksum", "sha256:" + std::string(64, '0')}});
  EXPECT_EQ(corrupt.status, 500) << corrupt.body;
  auto load = HttpCall("POST", s.base() + "/models/flaky/load", "{}",
                       {"Content-Type: application/json", kMetricsAuth});
  ASSERT_EQ(load.status, 200) << load.body;

  MetricsScrape m = ScrapeMetrics(s);
  ASSERT_EQ(m.reply.status, 200);
  EXPECT_EQ(m["modeld_jobs_finished_total{outcome=\"completed\",reason=\"none\"}"], 1)
      << m.reply.body;
  EXPECT_EQ(m["modeld_jobs_finished_total{outcome=\"failed\",reason=\"Corrupt\"}"], 1);
  EXPECT_GE(m["modeld_download_retries_total"], 1);
  EXPECT_GE(m["modeld_download_reconnects_total"], 1);
  EXPECT_GE(m["modeld_download_bytes_total{source=\"url\"}"], good.size() + other.size());
  EXPECT_EQ(m["modeld_loaded_models"], 1);
  EXPECT_EQ(m["modeld_loaded_bytes"], good.size());
  EXPECT_EQ(m["modeld_store_models"], 1);
  EXPECT_EQ(m[RequestsSeries("/models/*name", "POST", 200)], 1) << m.reply.body;
}

}  // namespace
}  // namespace modeld::testing
