// modeld_bench_slow_origin: the test origin (tests/origin) serving one file in which one
// connection goes slow from the middle, for bench/slow_conn.sh.
//
//   modeld_bench_slow_origin SIZE_MIB [RATE] [SLOW_RATE]
//     RATE       bytes a second per connection (0: as fast as loopback goes; default 0)
//     SLOW_RATE  the slow connection's bytes a second from the middle on (default 10000)
//
//   GET /model.bin               the file (Range, ETag, keep-alive)
//   GET /_ctl/arm?slow=1|0       the next response that covers the middle is slowed (1),
//                                or none is (0); the byte count starts from 0
//   GET /_ctl/bytes              {"bytes": body bytes sent for /model.bin since arm}
//
// Prints "http://127.0.0.1:PORT SHA256" and serves until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "origin.h"

using modeld::testing::FileSpec;
using modeld::testing::RandomBytes;
using modeld::testing::Sha256Hex;
using modeld::testing::SimpleResponse;
using modeld::testing::TestOrigin;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SIZE_MIB [RATE] [SLOW_RATE]\n", argv[0]);
    return 2;
  }
  const uint64_t size = std::strtoull(argv[1], nullptr, 10) << 20;
  const uint64_t rate = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  const uint64_t slow_rate = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 10'000;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread after this one too
  signal(SIGPIPE, SIG_IGN);

  std::string data = RandomBytes(size, 7);
  const std::string sha = Sha256Hex(data);
  TestOrigin origin;
  const int64_t middle = static_cast<int64_t>(size / 2);
  origin.Put("/model.bin", {.content = std::move(data),
                            .rate = rate,
                            .slow_from = -1,
                            .slow_rate = slow_rate,
                            .slow_times = 1});
  origin.Handle("/_ctl/", [&](const std::string&, const std::string& target, const auto&) {
    if (target.rfind("/_ctl/arm", 0) == 0) {
      bool slow = target.find("slow=1") != std::string::npos;
      origin.Update("/model.bin", [&](FileSpec& f) { f.slow_from = slow ? middle : -1; });
      origin.ResetFaults("/model.bin");
      origin.ResetLog();
      return SimpleResponse{200, {{"Content-Type", "application/json"}}, "{\"ok\":true}"};
    }
    if (target.rfind("/_ctl/bytes", 0) == 0) {
      return SimpleResponse{200,
                            {{"Content-Type", "application/json"}},
                            "{\"bytes\":" + std::to_string(origin.BodyBytes("/model.bin")) + "}"};
    }
    return SimpleResponse{404, {}, "unknown control\n"};
  });
  std::printf("%s %s\n", origin.Url("").c_str(), sha.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
