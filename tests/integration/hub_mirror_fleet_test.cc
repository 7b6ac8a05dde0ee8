// Several `modeld serve` processes over one data dir acting as one Hub mirror: a file is
// fetched from the upstream once, by whichever takes its lock first, while the others
// stream it from the shared partial file (following its journal); when the one fetching
// is killed with -9, another takes the file over and finishes it, resuming the partial.
// Each test twice: the instances sharing the data dir's SQLite registry, and sharing a
// PostgreSQL one (--registry, a throwaway cluster: tests/pg).
#include <gtest/gtest.h>

#include <thread>

#include "engine_harness.h"
#include "hub_mimic.h"
#include "mirror_client.h"
#include "serve_child.h"
#include "throwaway_pg.h"

namespace modeld::testing {
namespace {

const std::string kFleetCommit = "89abcdef0123456789abcdef0123456789abcdef";

// The parameter: true for a PostgreSQL registry.
class MirrorFleetTest : public ::testing::TestWithParam<bool>, public HubFixture {
 protected:
  void SetUp() override {
    if (GetParam()) {
      MODELD_PG_DATABASE_OR_SKIP(url);
      registry_ = url;
    }
  }
  // A cold LFS file of |size| bytes whose CDN connections each send |rate| a second.
  std::string AddFile(size_t size, uint64_t rate) {
    std::string content = Pattern(size, 11);
    hub_.AddRepo("org/fleet", kFleetCommit, {"main"}, {{"w.bin", content, true}});
    cdn_.Update(hub_.CdnPath(content), [rate](FileSpec& f) { f.rate = rate; });
    return content;
  }
  std::vector<std::string> Args(std::vector<std::string> args = {}) const {
    args.insert(args.end(), {"--hub-upstream", hub_.Endpoint()});
    if (!registry_.empty()) args.insert(args.end(), {"--registry", registry_});
    return args;
  }
  const std::string kPath = "/org/fleet/resolve/main/w.bin";
  static constexpr size_t kKillSize = 48u << 20;
  struct KillRun {
    uint64_t sent = 0;  // what the upstream sent in all
  };
  // a fetches |content| (its client came first), b's client joins once bytes flow, a is
  // killed with -9 a quarter of the way, and another client of b's arrives: b finishes
  // the file for both from a's partial, far below twice the file from the upstream.
  KillRun KillTheFetcher(ServeChild& a, ServeChild& b, const std::string& content) {
    const std::string cdn_path = hub_.CdnPath(content);
    StreamResult from_a, from_b, late;
    std::thread ta([&] { from_a = StreamGet(a.base() + kPath); });
    EXPECT_TRUE(cdn_.WaitForBodyBytes(cdn_path, 4u << 20));
    std::thread tb([&] { from_b = StreamGet(b.base() + kPath); });
    EXPECT_TRUE(cdn_.WaitForBodyBytes(cdn_path, 12u << 20));
    a.Signal(SIGKILL);
    a.Wait();
    std::thread tl([&] { late = StreamGet(b.base() + kPath); });
    ta.join();
    tb.join();
    tl.join();
    EXPECT_LT(from_a.bytes, content.size()) << "a's client is cut off with a";
    for (const auto* r : {&from_b, &late}) {
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->bytes, content.size());
      EXPECT_EQ(r->sha256, Sha256(content)) << b.Log();
    }
    KillRun run{cdn_.BodyBytes(cdn_path)};
    EXPECT_LT(run.sent, content.size() + content.size() / 2) << "the upstream sent " << run.sent;
    return run;
  }
  ScratchDir dir_;
  std::string registry_;
};

TEST_P(MirrorFleetTest, TwoInstancesOneDataDirFetchEachFileOnce) {
  const size_t kSize = 48u << 20;
  std::string content = AddFile(kSize, 2u << 20);
  ServeChild a(dir_.path() / "data", Args()), b(dir_.path() / "data", Args());
  ASSERT_GT(a.port(), 0);
  ASSERT_GT(b.port(), 0);
  std::vector<StreamResult> got(4);
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    std::string base = i % 2 ? b.base() : a.base();
    clients.emplace_back([&, i, base] { got[i] = StreamGet(base + kPath); });
  }
  for (auto& t : clients) t.join();
  for (const auto& r : got) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.sha256, Sha256(content));
  }
  uint64_t sent = cdn_.BodyBytes(hub_.CdnPath(content));
  EXPECT_LE(sent, kSize + kSize / 10) << "the upstream sent " << sent;
}

TEST_P(MirrorFleetTest, WhenTheOneFetchingIsKilledAnotherFinishesIt) {
  std::string content = AddFile(kKillSize, 1u << 20);  // 16 connections: about 3 s
  ServeChild a(dir_.path() / "data", Args()), b(dir_.path() / "data", Args());
  KillRun run = KillTheFetcher(a, b, content);
  // And the file is now served from the store, by either.
  ServeChild c(dir_.path() / "data", Args());
  auto again = StreamGet(c.base() + kPath);
  EXPECT_EQ(again.sha256, Sha256(content));
  EXPECT_EQ(cdn_.BodyBytes(hub_.CdnPath(content)), run.sent);
}

// Instances of two names act as two hosts sharing the registry and the blob directory:
// the registry's lease decides who fetches (a file lock is not trusted across hosts).
// When the fetcher is killed, its lease must expire before the other takes the file over.
TEST_P(MirrorFleetTest, AcrossHostsTheFetchersLeaseExpiresAndAnotherFinishesIt) {
  std::string content = AddFile(kKillSize, 1u << 20);
  ServeChild a(dir_.path() / "data", Args({"--instance", "host-a", "--mirror-lease-ttl", "2s"}));
  ServeChild b(dir_.path() / "data", Args({"--instance", "host-b", "--mirror-lease-ttl", "2s"}));
  KillTheFetcher(a, b, content);
  EXPECT_NE(b.Log().find("fetching it here"), std::string::npos) << b.Log();
}

INSTANTIATE_TEST_SUITE_P(Registries, MirrorFleetTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "postgres" : "sqlite");
                         });

}  // namespace
}  // namespace modeld::testing
