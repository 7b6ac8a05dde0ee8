#include "core/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace modeld::metrics {
namespace {

TEST(MetricsTest, ExposesCountersAndGaugesExactly) {
  Registry r;
  auto& bytes = r.AddCounter("modeld_test_bytes_total", "Bytes moved.", {"source"});
  auto& conns = r.AddGauge("modeld_test_connections", "Connections in use.");
  bytes.Get({"url"}).Inc(5);
  bytes.Get({"hub"}).Inc();
  bytes.Get({"url"}).Inc(2);
  conns.Get({}).Inc();
  conns.Get({}).Inc();
  conns.Get({}).Dec();
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_bytes_total Bytes moved.\n"
            "# TYPE modeld_test_bytes_total counter\n"
            "modeld_test_bytes_total{source=\"hub\"} 1\n"
            "modeld_test_bytes_total{source=\"url\"} 7\n"
            "# HELP modeld_test_connections Connections in use.\n"
            "# TYPE modeld_test_connections gauge\n"
            "modeld_test_connections 1\n");
}

TEST(MetricsTest, AFamilyWithoutLabelsShowsZeroFromTheStart) {
  Registry r;
  r.AddCounter("modeld_test_retries_total", "Retries.");
  r.AddCounter("modeld_test_labelled_total", "Not yet counted.", {"kind"});
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_labelled_total Not yet counted.\n"
            "# TYPE modeld_test_labelled_total counter\n"
            "# HELP modeld_test_retries_total Retries.\n"
            "# TYPE modeld_test_retries_total counter\n"
            "modeld_test_retries_total 0\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  auto& f = r.AddCounter("modeld_test_total", "A \\ help\non two lines.", {"a", "b"});
  f.Get({"back\\slash", "say \"hi\"\nbye"}).Inc();
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_total A \\\\ help\\non two lines.\n"
            "# TYPE modeld_test_total counter\n"
            "modeld_test_total{a=\"back\\\\slash\",b=\"say \\\"hi\\\"\\nbye\"} 1\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("modeld_test_seconds", "Latency.", {"route"}, {0.125, 0.5, 2});
  auto& child = h.Get({"/x"});
  child.Observe(0.0625);
  child.Observe(0.125);  // le is inclusive: in the 0.125 bucket
  child.Observe(0.25);
  child.Observe(8);  // only +Inf
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_seconds Latency.\n"
            "# TYPE modeld_test_seconds histogram\n"
            "modeld_test_seconds_bucket{route=\"/x\",le=\"0.125\"} 2\n"
            "modeld_test_seconds_bucket{route=\"/x\",le=\"0.5\"} 3\n"
            "modeld_test_seconds_bucket{route=\"/x\",le=\"2\"} 3\n"
            "modeld_test_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
            "modeld_test_seconds_sum{route=\"/x\"} 8.4375\n"
            "modeld_test_seconds_count{route=\"/x\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabels) {
  Registry r;
  auto& h = r.AddHistogram("modeld_test_seconds", "Latency.", {}, {1});
  h.Get({}).Observe(0.5);
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_seconds Latency.\n"
            "# TYPE modeld_test_seconds histogram\n"
            "modeld_test_seconds_bucket{le=\"1\"} 1\n"
            "modeld_test_seconds_bucket{le=\"+Inf\"} 1\n"
            "modeld_test_seconds_sum 0.5\n"
            "modeld_test_seconds_count 1\n");
}

TEST(MetricsTest, AddingAFamilyAgainReturnsTheSameOne) {
  Registry r;
  auto& a = r.AddCounter("modeld_test_total", "x", {"k"});
  auto& b = r.AddCounter("modeld_test_total", "x", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.Get({"v"}), &b.Get({"v"}));
  // The child is the same whether asked by views or by strings.
  std::vector<std::string> values = {"v"};
  EXPECT_EQ(&a.Get(values), &a.Get({"v"}));
}

TEST(MetricsTest, AWrongNumberOfValuesOrTooManyChildrenAreNotExposed) {
  Registry r;
  auto& f = r.AddCounter("modeld_test_total", "x", {"k"});
  f.Get({"a", "b"}).Inc();  // a bug: counted nowhere visible
  for (size_t i = 0; i < CounterFamily::kMaxChildren + 10; ++i) f.Get({std::to_string(i)}).Inc();
  std::string text = r.Expose();
  EXPECT_EQ(text.find("k=\"a\""), std::string::npos);
  EXPECT_NE(text.find("k=\"0\""), std::string::npos);
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 2 + CounterFamily::kMaxChildren);
}

TEST(MetricsTest, CollectorsReportAtScrapeTimeUntilTheirRegistrationGoes) {
  Registry r;
  int calls = 0;
  {
    Registration reg = r.AddCollector([&calls] {
      ++calls;
      CollectedGauge g{"modeld_test_free_bytes", "Free space.", {"dir"}, {}};
      g.samples.push_back({{"data"}, 1e12});
      g.samples.push_back({{"big"}, 1.5});
      CollectedGauge plain{"modeld_test_models", "Models.", {}, {{{}, 3}}};
      return std::vector<CollectedGauge>{g, plain};
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(r.Expose(),
              "# HELP modeld_test_free_bytes Free space.\n"
              "# TYPE modeld_test_free_bytes gauge\n"
              "modeld_test_free_bytes{dir=\"data\"} 1000000000000\n"
              "modeld_test_free_bytes{dir=\"big\"} 1.5\n"
              "# HELP modeld_test_models Models.\n"
              "# TYPE modeld_test_models gauge\n"
              "modeld_test_models 3\n");
    EXPECT_EQ(calls, 1);
    Registration moved = std::move(reg);
    r.Expose();
    EXPECT_EQ(calls, 2);
  }
  EXPECT_EQ(r.Expose(), "");
  EXPECT_EQ(calls, 2);
}

TEST(MetricsTest, ACollectorThatThrowsOrTakesANameIsLeftOut) {
  Registry r;
  r.AddGauge("modeld_test_models", "Models.");
  Registration a = r.AddCollector([]() -> std::vector<CollectedGauge> { throw 1; });
  Registration b = r.AddCollector([] {
    return std::vector<CollectedGauge>{{"modeld_test_models", "again", {}, {{{}, 7}}},
                                       {"bad name", "x", {}, {{{}, 1}}}};
  });
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_models Models.\n"
            "# TYPE modeld_test_models gauge\n"
            "modeld_test_models 0\n");
}

TEST(MetricsTest, SpecialValuesAreWrittenAsTheFormatSpellsThem) {
  Registry r;
  Registration reg = r.AddCollector([] {
    return std::vector<CollectedGauge>{
        {"modeld_test_values",
         "x",
         {"v"},
         {{{"inf"}, 1.0 / 0.0}, {{"nan"}, 0.0 / 0.0}, {{"neg"}, -2}, {{"small"}, 0.001}}}};
  });
  EXPECT_EQ(r.Expose(),
            "# HELP modeld_test_values x\n"
            "# TYPE modeld_test_values gauge\n"
            "modeld_test_values{v=\"inf\"} +Inf\n"
            "modeld_test_values{v=\"nan\"} NaN\n"
            "modeld_test_values{v=\"neg\"} -2\n"
            "modeld_test_values{v=\"small\"} 0.001\n");
}

TEST(MetricsTest, CountsFromManyThreadsAddUp) {
  Registry r;
  auto& f = r.AddCounter("modeld_test_total", "x", {"k"});
  auto& g = r.AddGauge("modeld_test_gauge", "x");
  auto& h = r.AddHistogram("modeld_test_seconds", "x", {"k"}, {0.5});
  constexpr int kThreads = 8, kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = f.Get({"t" + std::to_string(t % 2)});  // looked up once
      for (int i = 0; i < kRounds; ++i) {
        mine.Inc();
        f.Get({"shared"}).Inc();  // looked up each time, racing the first insert
        g.Get({}).Inc();
        h.Get({"x"}).Observe(i % 2 ? 1.0 : 0.25);
        g.Get({}).Dec();
      }
    });
  }
  // Scrapes while they count: each must be whole (the +Inf bucket equals the count).
  for (int i = 0; i < 50; ++i) {
    std::string text = r.Expose();
    ASSERT_NE(text.find("# TYPE modeld_test_seconds histogram"), std::string::npos);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(f.Get({"shared"}).Value(), uint64_t{kThreads} * kRounds);
  EXPECT_EQ(f.Get({"t0"}).Value() + f.Get({"t1"}).Value(), uint64_t{kThreads} * kRounds);
  EXPECT_EQ(g.Get({}).Value(), 0);
  auto snap = h.Get({"x"}).Read();
  EXPECT_EQ(snap.count, uint64_t{kThreads} * kRounds);
  EXPECT_EQ(snap.cumulative[0], uint64_t{kThreads} * kRounds / 2);
  EXPECT_DOUBLE_EQ(snap.sum, kThreads * (kRounds / 2) * 1.25);
}

TEST(MetricsTest, TheDefaultRegistryIsOneForTheProcess) {
  EXPECT_EQ(&DefaultRegistry(), &DefaultRegistry());
}

}  // namespace
}  // namespace modeld::metrics
