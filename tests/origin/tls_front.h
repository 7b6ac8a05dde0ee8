// TLS for the test servers: a private CA made at test time (OpenSSL's C API, no files or
// tools needed), server certificates it signs, and TlsFront, a TLS-terminating front on
// 127.0.0.1 port 0 that relays each connection's plain bytes to a TestOrigin (or a mimic
// on one). For tests of upstreams whose certificates only a private CA vouches for.
//
// Thread safety: a TestCa is immutable after construction (safe to share); TlsFront's
// methods are safe from any thread, one thread per connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tcp_relay.h"

struct ssl_ctx_st;

namespace modeld::testing {

struct CertAndKey {
  std::string cert_pem;  // the certificate, then the issuing CA's (the chain a server sends)
  std::string key_pem;
};

class TestCa {
 public:
  // A new self-signed CA (EC P-256, valid from an hour ago for a day) named |name|.
  explicit TestCa(const std::string& name = "modeld test CA");
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_pem() const { return cert_pem_; }
  // Writes the CA's certificate (PEM) to |path|: the bundle a client trusts.
  void WriteCert(const std::filesystem::path& path) const;

  // A server certificate for |names| (DNS names and IP addresses, as subjectAltName),
  // valid from |not_before| to |not_after| relative to now.
  CertAndKey Issue(const std::vector<std::string>& names,
                   std::chrono::seconds not_before = std::chrono::hours(-1),
                   std::chrono::seconds not_after = std::chrono::hours(24)) const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
  std::string cert_pem_;
};

class TlsFront {
 public:
  // Serves TLS with |cert| on 127.0.0.1 (port 0) and relays each connection, decrypted,
  // to 127.0.0.1:|backend_port|. Throws if the certificate or key does not load.
  TlsFront(uint16_t backend_port, const CertAndKey& cert);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;
  // Closes the listener and every connection and joins the threads. Idempotent.
  void Stop();

  uint16_t port() const { return listener_->port(); }
  // "https://|host|:port" (the certificates TestCa issues in tests name localhost and
  // 127.0.0.1).
  std::string Base(const std::string& host = "localhost") const;
  // Handshakes completed, and those that failed (a client that refused the certificate).
  int Handshakes() const;
  int FailedHandshakes() const;
  // Waits until at least |n| handshakes have failed (the client's alert reaches the front
  // after the client has given up); false after |timeout|.
  bool WaitForFailedHandshakes(int n,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

 private:
  void Serve(int fd);

  uint16_t backend_port_;
  ssl_ctx_st* ctx_ = nullptr;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int handshakes_ = 0;                          // GUARDED_BY(mu_)
  int failed_handshakes_ = 0;                   // GUARDED_BY(mu_)
  std::unique_ptr<ThreadedListener> listener_;  // last: stopped first
};

}  // namespace modeld::testing
