#include "throwaway_pg.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <vector>

#ifdef MODELD_HAVE_PQXX
// libpq itself, not libpqxx: the databases are dropped from an exit handler, after libpqxx's
// own statics may be gone.
#include <libpq-fe.h>
#endif

namespace modeld::testing_pg {

namespace fs = std::filesystem;

namespace {

// The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl ($MODELD_PG_BINDIR
// first); empty when there is none.
fs::path BinDir() {
  if (const char* env = std::getenv("MODELD_PG_BINDIR"); env && *env) return env;
  std::error_code ec;
  fs::path best;
  int best_version = -1;
  for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end;
       it.increment(ec)) {
    fs::path bin = it->path() / "bin";
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "pg_ctl")) continue;
    int version = std::atoi(it->path().filename().c_str());
    if (version > best_version) {
      best_version = version;
      best = bin;
    }
  }
  return best;
}

// The user the cluster runs as: "nobody" when we are root (PostgreSQL refuses root),
// else ourselves.
struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

RunAs User() {
  RunAs r;
  if (::geteuid() != 0) return r;
  if (const passwd* pw = ::getpwnam("nobody")) {
    r.switch_user = true;
    r.uid = pw->pw_uid;
    r.gid = pw->pw_gid;
  }
  return r;
}

// Runs |argv| as User() in |cwd|, its output appended to |log|; its exit status (-1 when it
// could not run).
int Run(const std::vector<std::string>& argv, const fs::path& cwd, const fs::path& log) {
  const RunAs as = User();
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (null < 0 || out < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    // Nothing of the test process (CTest's pipes above all) may live on in the server.
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    if (as.switch_user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0) {
        ::_exit(126);
      }
    }
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A TCP port of 127.0.0.1 free a moment ago (bound to port 0, then closed).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

std::string Tail(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 1500 ? s.substr(s.size() - 1500) : s;
}

#ifdef MODELD_HAVE_PQXX
// Runs |sql| on |c|'s database "postgres"; "" when it worked, else the error.
std::string Exec(const Cluster& c, const std::string& sql) {
  PGconn* conn = PQconnectdb((c.Url("postgres") + "?connect_timeout=5").c_str());
  std::string err;
  if (PQstatus(conn) != CONNECTION_OK) {
    err = PQerrorMessage(conn);
  } else if (!sql.empty()) {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
      err = PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return err;
}

// Whether |c| accepts a connection, with the reason when not.
bool Answers(const Cluster& c, std::string* why) {
  std::string err = Exec(c, "");
  if (why) *why = err;
  return err.empty();
}
#else
bool Answers(const Cluster&, std::string* why) {
  if (why) *why = "built without libpqxx";
  return false;
}
#endif

struct Shared {
  std::mutex mu;
  bool tried = false;
  std::optional<Cluster> cluster;
  bool own = false;  // started by this process: stopped at exit
  std::string why;
  std::vector<std::string> databases;  // created by this process: dropped at exit
};

Shared& State() {
  static Shared* s = new Shared;  // never destroyed: used by the exit handler
  return *s;
}

void DropDatabases(const Cluster& c, const std::vector<std::string>& names) {
#ifdef MODELD_HAVE_PQXX
  // A cluster that is gone took its databases along: errors do not matter.
  for (const auto& name : names)
    (void)Exec(c, "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
#endif
}

// A process that outlives this one only to stop and delete |c| once this one is gone, however
// it ends (a crash skips AtExit): a shell reading a pipe only this process can write to,
// which ends at its exit. After a normal exit AtExit has done it already, and it finds
// nothing. (Exec'd straight after fork(): nothing of a multithreaded process runs there.)
void StartReaper(const Cluster& c) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const std::string script =
      "cat >/dev/null; d=\"$0\"; case \"$d\" in */modeld-pg-*) ;; *) exit 0;; esac; "
      "pid=$(head -n1 \"$d/data/postmaster.pid\" 2>/dev/null) && kill -QUIT \"$pid\" && "
      "for i in $(seq 100); do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.1; done; "
      "rm -rf \"$d\"";
  const std::string dir = c.dir.string();
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), dir.c_str(), nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[0], 0);  // dup2 clears close-on-exec on the copy
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::setsid();  // not in the test's process group: a Ctrl-C there must not stop it first
    ::execv(argv[0], const_cast<char**>(argv));
    ::_exit(127);
  }
  ::close(fds[0]);  // the write end stays open, close-on-exec, until this process ends
}

void AtExit() {
  Shared& s = State();
  std::lock_guard lock(s.mu);
  if (!s.cluster) return;
  if (s.own) {
    StopCluster(*s.cluster);
  } else {
    DropDatabases(*s.cluster, s.databases);
  }
  s.cluster.reset();
}

}  // namespace

std::string Cluster::Url(const std::string& database) const {
  return "postgresql://modeld@127.0.0.1:" + std::to_string(port) + "/" + database;
}

std::string Missing() {
#ifndef MODELD_HAVE_PQXX
  return "this build has no libpqxx (apt-get install libpqxx-dev, then cmake again)";
#else
  if (const fs::path bin = BinDir(); bin.empty() || !fs::exists(bin / "initdb")) {
    return "postgresql is not installed (no initdb in " +
           (bin.empty() ? std::string("/usr/lib/postgresql/<version>/bin") : bin.string()) +
           "; apt-get install postgresql, or scripts/install-deps.sh)";
  }
  if (::geteuid() == 0 && !User().switch_user) {
    return "running as root and there is no user \"nobody\" to run PostgreSQL as";
  }
  return "";
#endif
}

std::optional<Cluster> StartCluster(std::string* why) {
  if (std::string m = Missing(); !m.empty()) {
    *why = m;
    return std::nullopt;
  }
  const fs::path bin = BinDir();
  std::string templ = (fs::temp_directory_path() / "modeld-pg-XXXXXX").string();
  if (!::mkdtemp(templ.data())) {
    *why = "mkdtemp failed";
    return std::nullopt;
  }
  Cluster c;
  c.dir = templ;
  const RunAs as = User();
  if (as.switch_user && ::chown(c.dir.c_str(), as.uid, as.gid) != 0) {
    *why = "cannot give " + c.dir.string() + " to nobody";
    fs::remove_all(c.dir);
    return std::nullopt;
  }
  const fs::path data = c.dir / "data", log = c.dir / "setup.log";
  if (Run({(bin / "initdb").string(), "-D", data.string(), "-U", "modeld", "-A", "trust", "-E",
           "UTF8", "--locale=C", "-N"},
          c.dir, log) != 0) {
    *why = "initdb failed: " + Tail(log);
    fs::remove_all(c.dir);
    return std::nullopt;
  }
  // A port picked now may be taken before the server binds it: then another.
  for (int attempt = 0; attempt < 8; ++attempt) {
    c.port = FreePort();
    const std::string options =
        "-c port=" + std::to_string(c.port) +
        " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" + c.dir.string() +
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=300";
    if (Run({(bin / "pg_ctl").string(), "-D", data.string(), "-w", "-t", "60", "-l",
             (c.dir / "server.log").string(), "-o", options, "start"},
            c.dir, log) == 0) {
      std::string unused;
      if (Answers(c, &unused)) return c;
    }
    Run({(bin / "pg_ctl").string(), "-D", data.string(), "-m", "immediate", "-w", "stop"}, c.dir,
        log);
  }
  *why = "the server did not start: " + Tail(c.dir / "server.log");
  fs::remove_all(c.dir);
  return std::nullopt;
}

void StopCluster(const Cluster& c) {
  // Only what StartCluster made (the state file could name anything).
  if (c.dir.filename().string().rfind("modeld-pg-", 0) != 0) return;
  const fs::path bin = BinDir();
  if (!bin.empty()) {
    Run({(bin / "pg_ctl").string(), "-D", (c.dir / "data").string(), "-m", "immediate", "-w",
         "stop"},
        c.dir, c.dir / "setup.log");
  }
  std::error_code ec;
  fs::remove_all(c.dir, ec);
}

fs::path StateFile() { return MODELD_TEST_PG_STATE_FILE; }

std::optional<Cluster> ReadState(const fs::path& state) {
  std::ifstream in(state);
  Cluster c;
  std::string dir;
  if (!(in >> c.port >> dir) || c.port <= 0) return std::nullopt;
  c.dir = dir;
  if (!Answers(c, nullptr)) return std::nullopt;
  return c;
}

std::optional<std::string> NewDatabase(std::string* why) {
  Shared& s = State();
  std::lock_guard lock(s.mu);
  if (!s.tried) {
    s.tried = true;
    if (std::string m = Missing(); !m.empty()) {
      s.why = m;
    } else if (auto shared = ReadState(StateFile())) {
      s.cluster = shared;
    } else {
      s.cluster = StartCluster(&s.why);
      s.own = s.cluster.has_value();
      if (s.own) StartReaper(*s.cluster);
    }
    if (s.cluster) std::atexit(AtExit);
  }
  if (!s.cluster) {
    *why = s.why;
    return std::nullopt;
  }
#ifdef MODELD_HAVE_PQXX
  static std::atomic<int> counter{0};
  std::random_device rd;
  const std::string name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
                           "_" + std::to_string(rd() % 100000);
  if (std::string err = Exec(*s.cluster, "CREATE DATABASE \"" + name +
                                             "\" TEMPLATE template0 ENCODING 'UTF8' "
                                             "LC_COLLATE 'C' LC_CTYPE 'C'");
      !err.empty()) {
    *why = "CREATE DATABASE failed: " + err;
    return std::nullopt;
  }
  s.databases.push_back(name);
  return s.cluster->Url(name);
#else
  *why = s.why;
  return std::nullopt;
#endif
}

}  // namespace modeld::testing_pg
