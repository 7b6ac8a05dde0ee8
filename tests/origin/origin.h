// TestOrigin: a real HTTP/1.1 server on 127.0.0.1, port 0, for tests and benchmarks.
//
// It serves in-memory files with Range, If-Range, ETag, Last-Modified, HEAD and
// keep-alive, and injects the faults real upstreams have: dropped connections, 429/503
// with Retry-After, stalls, corrupt bytes, a file that changes mid-download, no Range
// support, chunked bodies without a length, a lying Content-Length, redirects, a
// Content-Encoding nobody asked for, and per-connection rate limits (as CDNs cap). Every request is
// recorded, so tests can assert what the client sent and how many bytes it fetched.
//
// Thread safety: all methods are safe from any thread. One thread per connection.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace modeld::testing {

inline constexpr uint64_t kMiB = 1 << 20;

// Deterministic pseudo-random bytes (xorshift), so tests can hash what they expect.
std::string RandomBytes(size_t size, uint64_t seed);
std::string Sha256Hex(const std::string& data);
// "%XX" escapes decoded (a malformed one is kept as it is), and '+' as ' ' when
// |plus_is_space| (a query value): how the mimics read paths and queries.
std::string PercentDecode(const std::string& s, bool plus_is_space = false);

struct FileSpec {
  std::string content;
  std::string etag;  // default: "\"<first 16 hex of sha256>\""
  std::string last_modified = "Wed, 21 Oct 2026 07:28:00 GMT";
  bool ranges = true;    // honour Range and If-Range, send Accept-Ranges
  bool chunked = false;  // 200 with Transfer-Encoding: chunked, no length, no ranges
  uint64_t rate = 0;     // bytes per second per connection; 0 = unlimited
  std::string content_disposition;
  std::string content_encoding;  // sent as Content-Encoding (the bytes are sent as they are)

  // Faults. "times" counts GET requests to this file; -1 means every one.
  int fail_status = 0;  // answer the first fail_times GETs with this status
  int fail_times = 0;
  std::string retry_after;       // sent with fail_status
  int64_t drop_after = -1;       // close the connection after this many body bytes...
  int drop_times = 0;            // ...in the first drop_times responses
  int64_t stall_after = -1;      // stop sending (but keep the socket open) after this many...
  int stall_times = 0;           // ...in the first stall_times responses (-1: every one)
  bool stall_at_offset = false;  // stall_after is the file offset every response stops at
  std::vector<uint64_t> corrupt_offsets;  // flip these file offsets in every response
  int change_after = -1;  // after this many GETs, serve changed_content with a new ETag
  std::string changed_content;
  uint64_t lie_extra = 0;   // announce size + lie_extra; send the real bytes, then close
  std::string redirect_to;  // 302 to this URL instead of serving
  // One bad connection (a CDN edge gone slow): the first slow_times responses (-1: every
  // one) whose body covers offset slow_from are sent at slow_rate bytes a second from
  // that offset on; other responses at full speed.
  int64_t slow_from = -1;
  uint64_t slow_rate = 10'000;
  int slow_times = 1;
};

struct RequestLog {
  std::string method;
  std::string target;
  std::string range;
  std::string if_range;
  std::string authorization;
  int status = 0;
  uint64_t body_bytes = 0;  // bytes of body actually written
};

struct SimpleResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class TestOrigin {
 public:
  TestOrigin();
  ~TestOrigin();
  // Closes the listener and every connection and joins the threads (handlers included),
  // so what a handler uses may go away after. Idempotent; the destructor calls it.
  void Stop();
  TestOrigin(const TestOrigin&) = delete;
  TestOrigin& operator=(const TestOrigin&) = delete;

  uint16_t port() const { return port_; }
  std::string Url(const std::string& path) const;  // path starts with '/'
  // The "scheme://host:port" Url() starts with instead of http://127.0.0.1:port: a TLS
  // front's (tls_front.h), so the URLs this origin and its mimics hand out (redirects,
  // listings' next pages) lead through it. Call before requests come.
  void SetPublicBase(std::string base) { public_base_ = std::move(base); }

  void Put(const std::string& path, FileSpec spec);
  // Changes a served file in place (under the lock).
  void Update(const std::string& path, const std::function<void(FileSpec&)>& fn);
  // Counts |path|'s faults from zero again: its next GETs fail, drop, stall or slow down
  // as its FileSpec says for the first ones.
  void ResetFaults(const std::string& path);
  // A handler for every path starting with |prefix| (checked before files).
  using Handler = std::function<SimpleResponse(const std::string& method, const std::string& target,
                                               const std::map<std::string, std::string>& headers)>;
  void Handle(const std::string& prefix, Handler handler);

  // An outage: from now until |d| has passed, every connection is reset as soon as it
  // is accepted (no byte read or sent), and the connections open now are cut. Then it
  // serves again, by itself. 0 ends an outage at once.
  void RefuseConnectionsFor(std::chrono::milliseconds d);
  // Connections reset by an outage so far.
  int RefusedConnections() const;
  // The most connections that were open at once, since the origin started.
  int MaxOpenConnections() const;

  // Requests seen for |path| (all paths when empty), in order. A |path| without a query
  // also matches the targets that add one ("/f" counts "/f?sig=1"), here and below.
  std::vector<RequestLog> Requests(const std::string& path = "") const;
  // Body bytes written for |path| (all paths when empty).
  uint64_t BodyBytes(const std::string& path = "") const;
  void ResetLog();
  // Calls |pred| under the lock (it must not call this origin) each time a chunk is
  // written until it returns true, or
  // until |timeout| passes; returns whether it became true. For tests that must act at a
  // known point of a download without sleeping.
  bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
  // Waits until at least |n| requests for |path| (matched as by Requests) have come.
  bool WaitForRequests(const std::string& path, size_t n,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Waits until at least |bytes| of body have been written for |path|.
  bool WaitForBodyBytes(const std::string& path, uint64_t bytes,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  struct File {
    FileSpec spec;
    int gets = 0;
    int slowed = 0;  // responses slowed (FileSpec::slow_from)
    bool changed = false;
    std::shared_ptr<const std::string> content;  // spec.content, shared with senders
    std::string etag_cache;
  };
  void AcceptLoop();
  void Serve(int fd);
  std::string EtagFor(const FileSpec& spec) const;
  uint64_t BodyBytesLocked(const std::string& path) const;  // REQUIRES: mu_ held

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string public_base_;  // set before use
  std::thread accept_thread_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, File> files_;                      // GUARDED_BY(mu_)
  std::vector<std::pair<std::string, Handler>> handlers_;  // GUARDED_BY(mu_)
  std::vector<RequestLog> log_;                            // GUARDED_BY(mu_)
  std::vector<int> conn_fds_;                              // GUARDED_BY(mu_)
  std::vector<std::thread> conn_threads_;                  // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point refuse_until_{};   // GUARDED_BY(mu_)
  int refused_ = 0;                                        // GUARDED_BY(mu_)
  int max_open_ = 0;                                       // GUARDED_BY(mu_)
};

}  // namespace modeld::testing
