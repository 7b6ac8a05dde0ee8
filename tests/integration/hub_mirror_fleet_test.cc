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
  const size_t kSize = 48u << 20;
  std::string content = AddFile(kSize, 1u << 20);  // 16 connections: about 3 s
  const std::string cdn_path = hub_.CdnPath(content);
  ServeChild a(dir_.path() / "data", Args()), b(dir_.path() / "data", Args());
  StreamResult from_a, from_b;
  std::thread ta([&] { from_a = StreamGet(a.base() + kPath); });
  // a fetches (its client came first); b's client joins once bytes flow.
  ASSERT_TRUE(cdn_.WaitForBodyBytes(cdn_path, 4u << 20));
  std::thread tb([&] { from_b = StreamGet(b.base() + kPath); });
  ASSERT_TRUE(cdn_.WaitForBodyBytes(cdn_path, 12u << 20));
  a.Signal(SIGKILL);
  a.Wait();
  ta.join();
  tb.join();
  EXPECT_LT(from_a.bytes, kSize) << "a's client is cut off with a";
  EXPECT_EQ(from_b.status, 200);
  EXPECT_EQ(from_b.bytes, kSize);
  EXPECT_EQ(from_b.sha256, Sha256(content)) << b.Log();
  // b resumed a's partial: far less than the file twice.
  uint64_t sent = cdn_.BodyBytes(cdn_path);
  EXPECT_LT(sent, kSize + kSize / 2) << "the upstream sent " << sent;
  // And the file is now served from the store, by either.
  ServeChild c(dir_.path() / "data", Args());
  auto again = StreamGet(c.base() + kPath);
  EXPECT_EQ(again.sha256, Sha256(content));
  EXPECT_EQ(cdn_.BodyBytes(cdn_path), sent);
}

// Instances of two names act as two hosts sharing the registry and the blob directory:
// the registry's lease decides who fetches (a file lock is not trusted across hosts).
// When the fetcher is killed, its lease must expire before the other takes the file over.
TEST_P(MirrorFleetTest, AcrossHostsTheFetchersLeaseExpiresAndAnotherFinishesIt) {
  const size_t kSize = 48u << 20;
  std::string content = AddFile(kSize, 1u << 20);
  const std::string cdn_path = hub_.CdnPath(content);
  ServeChild a(dir_.path() / "data", Args({"--instance", "host-a", "--mirror-lease-ttl", "2s"}));
  ServeChild b(dir_.path() / "data", Args({"--instance", "host-b", "--mirror-lease-ttl", "2s"}));
  StreamResult from_a, from_b, from_b2;
  std::thread ta([&] { from_a = StreamGet(a.base() + kPath); });
  ASSERT_TRUE(cdn_.WaitForBodyBytes(cdn_path, 4u << 20));
  std::thread tb([&] { from_b = StreamGet(b.base() + kPath); });
  ASSERT_TRUE(cdn_.WaitForBodyBytes(cdn_path, 12u << 20));
  a.Signal(SIGKILL);
  a.Wait();
  // A client arriving while host-a's lease still runs joins b's flight too.
  std::thread tb2([&] { from_b2 = StreamGet(b.base() + kPath); });
  ta.join();
  tb.join();
  tb2.join();
  EXPECT_LT(from_a.bytes, kSize);
  for (const auto* r : {&from_b, &from_b2}) {
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->sha256, Sha256(content)) << b.Log();
  }
  EXPECT_NE(b.Log().find("fetching it here"), std::string::npos) << b.Log();
  uint64_t sent = cdn_.BodyBytes(cdn_path);
  EXPECT_LT(sent, kSize + kSize / 2) << "the upstream sent " << sent;
}

INSTANTIATE_TEST_SUITE_P(Registries, MirrorFleetTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "postgres" : "sqlite");
                         });

}  // namespace
}  // namespace modeld::testing
