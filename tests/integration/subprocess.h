// Runs the modeld binary as a child process, for end-to-end CLI tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace modeld::testing {

// The binary under test: $MODELD_BIN if set, else the one this build made.
inline std::string ModeldBin() {
  const char* bin = std::getenv("MODELD_BIN");
  return bin ? bin : MODELD_BIN_PATH;
}

class Child {
 public:
  // Starts `modeld args...` with stdout and stderr sent to files in |dir|, with
  // |extra_env| ("NAME=value") added to the environment; through |prefix| when given (a
  // command found on PATH that runs the rest: `prlimit --memlock=... modeld ...`).
  Child(const std::vector<std::string>& args, const std::filesystem::path& dir,
        const std::vector<std::string>& extra_env = {},
        const std::vector<std::string>& prefix = {}) {
    out_ = dir / ("stdout." + std::to_string(counter_));
    err_ = dir / ("stderr." + std::to_string(counter_++));
    std::vector<std::string> argv_s = prefix;
    argv_s.push_back(ModeldBin());
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    // Never the real home: default data, Hub cache and Ollama dirs point into the scratch dir.
    // |extra_env| may name them itself, and then wins.
    std::vector<std::string> env_s = extra_env;
    for (std::string kv : {"MODELD_HOME=" + (dir / "modeld-home").string(),
                           "HF_HUB_CACHE=" + (dir / "hf-cache").string(),
                           "OLLAMA_MODELS=" + (dir / "ollama").string()}) {
      std::string name = kv.substr(0, kv.find('=') + 1);
      if (std::none_of(extra_env.begin(), extra_env.end(),
                       [&](const std::string& x) { return x.rfind(name, 0) == 0; })) {
        env_s.push_back(std::move(kv));
      }
    }
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      std::string_view name = kv.substr(0, kv.find('=') + 1);
      bool overridden = std::any_of(extra_env.begin(), extra_env.end(),
                                    [&](const std::string& x) { return x.rfind(name, 0) == 0; });
      if (!overridden && kv.rfind("MODELD_HOME=", 0) != 0 && kv.rfind("HF_HUB_CACHE=", 0) != 0 &&
          kv.rfind("HF_HOME=", 0) != 0 && kv.rfind("OLLAMA_MODELS=", 0) != 0) {
        env_s.emplace_back(kv);
      }
    }
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) {
      pid_ = -1;
      ADD_FAILURE() << "cannot start " << argv_s[0];
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }
  pid_t pid() const { return pid_; }
  // Waits for exit; returns the exit code, or 128 + signal number.
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  std::string Stdout() const { return Slurp(out_); }
  std::string Stderr() const { return Slurp(err_); }

 private:
  static std::string Slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  static inline int counter_ = 0;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_, err_;
};

// Runs modeld to completion with |extra_env| ("NAME=value") in its environment and returns
// its exit code.
inline int RunModeldEnv(const std::vector<std::string>& args, const std::filesystem::path& dir,
                        const std::vector<std::string>& extra_env, std::string* out = nullptr,
                        std::string* err = nullptr) {
  Child c(args, dir, extra_env);
  int rc = c.Wait();
  if (out) *out = c.Stdout();
  if (err) *err = c.Stderr();
  return rc;
}

// The same with the scratch environment only.
inline int RunModeld(const std::vector<std::string>& args, const std::filesystem::path& dir,
                     std::string* out = nullptr, std::string* err = nullptr) {
  return RunModeldEnv(args, dir, {}, out, err);
}

// Runs `modeld --data-dir DATA args... --json` in |dir|, expects exit code |want_rc| and
// JSON on stdout (a failure names the command and shows its stderr), and returns that JSON.
// |err_out|, when given, receives stderr.
inline nlohmann::json RunModeldJson(std::vector<std::string> args,
                                    const std::filesystem::path& data,
                                    const std::filesystem::path& dir, int want_rc = 0,
                                    std::string* err_out = nullptr) {
  std::string command = args.empty() ? std::string() : args.front();
  args.insert(args.begin(), {"--data-dir", data.string()});
  args.push_back("--json");
  std::string out, err;
  int rc = RunModeld(args, dir, &out, &err);
  EXPECT_EQ(rc, want_rc) << command << ": " << err;
  if (err_out) *err_out = err;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << command << " stdout: " << out << "\nstderr: " << err;
  return j;
}

}  // namespace modeld::testing
