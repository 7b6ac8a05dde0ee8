// CTest's shared throwaway PostgreSQL cluster (tests/pg/throwaway_pg.h):
//   throwaway_pg start   starts one and writes where it is to the state file
//   throwaway_pg stop    stops the one the state file names and deletes it
// Both exit 0 whatever happens (a start that cannot run says why): a failing fixture would
// keep every test that needs it from running, and those skip on their own, saying why.
#include <cstdio>
#include <fstream>
#include <string>

#include "throwaway_pg.h"

int main(int argc, char** argv) {
  namespace pg = modeld::testing_pg;
  const std::string cmd = argc > 1 ? argv[1] : "";
  const auto state = pg::StateFile();
  std::error_code ec;
  if (cmd == "stop" || cmd == "start") {
    // A cluster a killed run left behind goes first.
    std::ifstream in(state);
    int port = 0;
    std::string dir;
    if (in >> port >> dir) pg::StopCluster(pg::Cluster{dir, port});
    std::filesystem::remove(state, ec);
  }
  if (cmd == "stop") return 0;
  if (cmd != "start") {
    std::fprintf(stderr, "usage: throwaway_pg start|stop\n");
    return 2;
  }
  std::string why;
  auto c = pg::StartCluster(&why);
  if (!c) {
    std::printf("no shared PostgreSQL cluster: %s\n", why.c_str());
    return 0;
  }
  std::filesystem::create_directories(state.parent_path(), ec);
  std::ofstream(state) << c->port << " " << c->dir.string() << "\n";
  std::printf("PostgreSQL cluster on 127.0.0.1:%d in %s\n", c->port, c->dir.c_str());
  return 0;
}
