// `modeld serve` as a child process on 127.0.0.1 port 0, for tests of what only a real
// process shows: signals, kill -9 and restarts, file descriptor limits, its log.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "subprocess.h"

namespace modeld::testing {

class ServeChild {
 public:
  // Starts `[prefix...] modeld serve --listen 127.0.0.1:0 --data-dir DIR args...` and
  // waits (reading its stderr, no polling) until it says where it listens. |prefix| runs
  // it under another program (prlimit, say).
  ServeChild(const std::filesystem::path& data_dir, const std::vector<std::string>& args = {},
             const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv_s = prefix;
    argv_s.push_back(ModeldBin());
    for (const char* a : {"serve", "--listen", "127.0.0.1:0", "--data-dir"}) argv_s.push_back(a);
    argv_s.push_back(data_dir.string());
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe";
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    // The Hub's cache and Ollama's directory beside the data dir: never the user's own.
    std::vector<std::string> env_s = {"MODELD_ALLOW_PRIVATE_UPSTREAMS=1",
                                      "HF_HUB_CACHE=" + (data_dir / "hf-cache").string(),
                                      "OLLAMA_MODELS=" + (data_dir / "ollama").string()};
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      if (kv.rfind("HF_HUB_CACHE=", 0) != 0 && kv.rfind("MODELD_TOKEN", 0) != 0 &&
          kv.rfind("OLLAMA_MODELS=", 0) != 0)
        env_s.emplace_back(kv);
    }
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = prefix.empty() ? posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data())
                            : posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      pid_ = -1;
      ADD_FAILURE() << "cannot start " << argv_s[0];
      return;
    }
    fd_ = fds[0];
    // Read until the "listening on" line (or the end: it failed to start).
    std::string line;
    char c;
    while (::read(fd_, &c, 1) == 1) {
      Append(c);
      if (c != '\n') {
        line += c;
        continue;
      }
      size_t at = line.find("listening on 127.0.0.1:");
      if (at != std::string::npos) {
        port_ = static_cast<uint16_t>(std::atoi(line.c_str() + at + 23));
        break;
      }
      line.clear();
    }
    reader_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd_, buf, sizeof buf)) > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  ~ServeChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  void Signal(int sig) { ::kill(pid_, sig); }
  // Waits for exit; the exit code, or 128 + the signal.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    if (reader_.joinable()) reader_.join();  // the pipe ends with the process
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // Everything it wrote to stderr so far.
  std::string Log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

 private:
  void Append(char c) {
    std::lock_guard<std::mutex> lock(mu_);
    log_ += c;
  }
  pid_t pid_ = -1;
  bool reaped_ = false;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread reader_;
  std::mutex mu_;
  std::string log_;  // GUARDED_BY(mu_)
};

}  // namespace modeld::testing
