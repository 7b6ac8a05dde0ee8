#include "tls_front.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <stdexcept>

namespace modeld::testing {

namespace {

[[noreturn]] void Fail(const std::string& what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  throw std::runtime_error("test TLS: " + what + ": " + buf);
}

EVP_PKEY* NewKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) Fail("EC key");
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) Fail("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for |key| named |cn|, signed by |issuer_key| as |issuer| (itself when
// null), valid from |from| to |to| seconds from now.
X509* NewCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, long from,
              long to) {
  static std::atomic<long> serial{1};
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  return x;
}

std::string Pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string Pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

struct TestCa::Rep {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~Rep() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

TestCa::TestCa(const std::string& name) : rep_(std::make_unique<Rep>()) {
  rep_->key = NewKey();
  X509* x = NewCert(rep_->key, name, nullptr, nullptr, -3600, 86400);
  rep_->cert = x;
  AddExtension(x, x, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(x, x, NID_subject_key_identifier, "hash");
  AddExtension(x, x, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(x, rep_->key, EVP_sha256()) == 0) Fail("sign the CA");
  cert_pem_ = Pem(x);
}

TestCa::~TestCa() = default;

void TestCa::WriteCert(const std::filesystem::path& path) const {
  std::ofstream(path, std::ios::binary) << cert_pem_;
}

CertAndKey TestCa::Issue(const std::vector<std::string>& names, std::chrono::seconds not_before,
                         std::chrono::seconds not_after) const {
  EVP_PKEY* key = NewKey();
  X509* x = NewCert(key, names.empty() ? "server" : names.front(), rep_->cert, rep_->key,
                    static_cast<long>(not_before.count()), static_cast<long>(not_after.count()));
  std::string san;
  for (const auto& n : names) {
    if (!san.empty()) san += ",";
    san += (IsIpAddress(n) ? "IP:" : "DNS:") + n;
  }
  AddExtension(x, rep_->cert, NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(x, rep_->cert, NID_key_usage, "critical,digitalSignature");
  AddExtension(x, rep_->cert, NID_ext_key_usage, "serverAuth");
  if (!san.empty()) AddExtension(x, rep_->cert, NID_subject_alt_name, san);
  AddExtension(x, rep_->cert, NID_subject_key_identifier, "hash");
  AddExtension(x, rep_->cert, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(x, rep_->key, EVP_sha256()) == 0) Fail("sign a server certificate");
  CertAndKey out{Pem(x) + cert_pem_, Pem(key)};
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

TlsFront::TlsFront(uint16_t backend_port, const CertAndKey& cert) : backend_port_(backend_port) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (ctx_ == nullptr) Fail("SSL_CTX_new");
  BIO* bio = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
  X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  if (leaf == nullptr || SSL_CTX_use_certificate(ctx_, leaf) != 1) Fail("server certificate");
  X509_free(leaf);
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    SSL_CTX_add_extra_chain_cert(ctx_, extra);  // takes it
  }
  BIO_free(bio);
  ERR_clear_error();
  bio = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx_, key) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1)
    Fail("server key");
  EVP_PKEY_free(key);
  // A read that only consumed a handshake message returns to the poll loop.
  SSL_CTX_clear_mode(ctx_, SSL_MODE_AUTO_RETRY);
  listener_ = std::make_unique<ThreadedListener>([this](int fd) { Serve(fd); });
}

TlsFront::~TlsFront() {
  Stop();
  SSL_CTX_free(ctx_);
}

void TlsFront::Stop() { listener_->Stop(); }

std::string TlsFront::Base(const std::string& host) const {
  return "https://" + host + ":" + std::to_string(port());
}

int TlsFront::Handshakes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handshakes_;
}

int TlsFront::FailedHandshakes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_handshakes_;
}

bool TlsFront::WaitForFailedHandshakes(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return failed_handshakes_ >= n; });
}

void TlsFront::Serve(int fd) {
  // OpenSSL writes with write(): a peer that closed would raise SIGPIPE. Blocked here, it
  // stays pending on this thread (thread-directed) and goes with it.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  int up = -1;
  bool ok = SSL_accept(ssl) == 1;
  ERR_clear_error();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++(ok ? handshakes_ : failed_handshakes_);
  }
  cv_.notify_all();
  if (ok) {
    up = ConnectTcp("127.0.0.1", backend_port_);
    if (up >= 0 && !listener_->Track(up)) {
      ::close(up);
      up = -1;
    }
  }
  char buf[64 * 1024];
  while (ok && up >= 0) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {up, POLLIN, 0}};
    if (SSL_pending(ssl) == 0 && ::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (SSL_pending(ssl) > 0 || fds[0].revents != 0) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) {
        if (!SendAll(up, buf, static_cast<size_t>(n))) break;
      } else {
        int err = SSL_get_error(ssl, n);
        ERR_clear_error();
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) break;
      }
    }
    if (fds[1].revents != 0) {
      ssize_t n = ::recv(up, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      int w = 0;
      while (w < n) {
        int r = SSL_write(ssl, buf + w, static_cast<int>(n - w));
        if (r > 0) {
          w += r;
          continue;
        }
        int err = SSL_get_error(ssl, r);
        ERR_clear_error();
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) break;
      }
      if (w < n) break;
    }
  }
  if (ok) SSL_shutdown(ssl);
  ERR_clear_error();
  SSL_free(ssl);
  if (up >= 0) {
    listener_->Untrack(up);
    ::close(up);
  }
  listener_->Untrack(fd);
  ::close(fd);
}

}  // namespace modeld::testing
