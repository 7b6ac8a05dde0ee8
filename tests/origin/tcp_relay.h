// The plumbing the TLS front and the forward proxy share: a listener on 127.0.0.1 port 0
// with a thread per connection, a blocking connect, and a byte relay between two sockets.
//
// Thread safety: a ThreadedListener's methods are safe from any thread; |serve| runs on
// the connection's own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace modeld::testing {

class ThreadedListener {
 public:
  // Listens on 127.0.0.1, port 0, and calls |serve(fd)| on a new thread for each connection
  // accepted; |serve| must Untrack and close what it tracked. Throws if it cannot listen.
  explicit ThreadedListener(std::function<void(int fd)> serve);
  ~ThreadedListener();
  ThreadedListener(const ThreadedListener&) = delete;
  ThreadedListener& operator=(const ThreadedListener&) = delete;

  // Stops accepting, shuts every tracked socket down (so each |serve| returns) and joins
  // the threads. Idempotent.
  void Stop();
  uint16_t port() const { return port_; }

  // A socket Stop shuts down: every accepted one is tracked before |serve| gets it; |serve|
  // tracks the sockets it opens. Untrack before closing one. Track returns false once
  // stopping (then close it and return).
  bool Track(int fd);
  void Untrack(int fd);

 private:
  void AcceptLoop();

  std::function<void(int)> serve_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<int> fds_;                 // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;  // GUARDED_BY(mu_)
};

// A listening socket on 127.0.0.1, port 0 (the port chosen in |*port|). Throws
// runtime_error naming |who| if it cannot listen.
int ListenLoopback(uint16_t* port, const char* who);
// A blocking TCP connection to |host|:|port| (a name or an address); -1 if none.
int ConnectTcp(const std::string& host, uint16_t port);
// Writes all of |n| bytes; false on an error.
bool SendAll(int fd, const char* p, size_t n);
// Copies bytes both ways between sockets |a| and |b| until one side ends or fails, then
// shuts both down (neither is closed).
void Relay(int a, int b);

}  // namespace modeld::testing
