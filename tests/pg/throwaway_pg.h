// A throwaway PostgreSQL cluster for tests: Debian's postgresql (initdb and pg_ctl from
// /usr/lib/postgresql/<version>/bin, the newest there), initialised in a fresh temporary
// directory as an unprivileged user (PostgreSQL refuses root: "nobody" when the tests run
// as root), listening on a free TCP port of 127.0.0.1 with trust authentication, started
// with pg_ctl -w (which returns once it accepts connections), and stopped and deleted at
// the end.
//
// One cluster serves many tests, each with a database of its own (NewDatabase):
//  - under CTest, the throwaway_pg_start fixture starts one for the whole run and writes
//    where it is to kStateFile (throwaway_pg_main.cc); throwaway_pg_stop stops it;
//  - a test binary run by hand (or when that cluster is gone) starts its own on first use
//    and stops it when the process exits (a reaper process does it when the binary
//    crashes or is killed).
// Without postgresql or libpqxx, NewDatabase says what is missing, and the tests skip:
//   MODELD_PG_DATABASE_OR_SKIP(url);
//
// Thread safety: the functions may be called from any thread (one mutex inside).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace modeld::testing_pg {

// A running cluster: its data directory's parent (deleted at Stop) and its port.
struct Cluster {
  std::filesystem::path dir;
  int port = 0;
  // The URL of |database| on it, as the superuser "modeld".
  std::string Url(const std::string& database) const;
};

// Why no cluster can be started here, or "" when one can: no libpqxx in this build, no
// initdb/pg_ctl under /usr/lib/postgresql.
std::string Missing();

// Starts a cluster (see above); nullopt with the reason in |why|.
std::optional<Cluster> StartCluster(std::string* why);
// Stops |c| (pg_ctl stop -m immediate) and deletes its directory.
void StopCluster(const Cluster& c);

// The state file of CTest's shared cluster ("<port> <dir>"), from the build.
std::filesystem::path StateFile();
// The cluster |state| names, if it answers.
std::optional<Cluster> ReadState(const std::filesystem::path& state);

// A new, empty database on the process's cluster (CTest's, else one started now and
// stopped at exit), with C collation; its URL, or nullopt with the reason in |why|.
std::optional<std::string> NewDatabase(std::string* why);

}  // namespace modeld::testing_pg

// In a test body or SetUp (a function returning void): declares std::string |var|, the
// URL of a new database, or skips the test saying why there is none.
#define MODELD_PG_DATABASE_OR_SKIP(var)                                    \
  std::string var;                                                         \
  {                                                                        \
    std::string pg_why_;                                                   \
    auto pg_url_ = ::modeld::testing_pg::NewDatabase(&pg_why_);            \
    if (!pg_url_) GTEST_SKIP() << "PostgreSQL tests skipped: " << pg_why_; \
    var = *pg_url_;                                                        \
  }
