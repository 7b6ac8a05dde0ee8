// TLS trust for upstream connections: which CA certificates verify an upstream's
// certificate (the CA bundle in force), and what a TLS failure is said to be.
//
// The bundle is process-wide, like the upstream policy: the composition root resolves it
// once at start-up (ResolveCaBundle: --ca-bundle and the environment) and installs it
// (SetCaBundle); net/curl_setup.h applies it to every upstream handle (the Hub API, its
// CDN, registries, catalog URLs, download URLs and every redirect hop), for the origin and
// for an https:// proxy alike. Until SetCaBundle is called it is resolved from the
// environment alone, on first use.
//
// Precedence, as other tools read them: --ca-bundle FILE > SSL_CERT_FILE > CURL_CA_BUNDLE >
// REQUESTS_CA_BUNDLE > the system's store (libcurl's built-in default; Debian's is
// /etc/ssl/certs/ca-certificates.crt). An empty variable counts as unset. A bundle
// REPLACES the system's store, as it does for curl and Python's requests: it must hold
// every CA the upstreams need (behind a proxy that inspects TLS its CA is usually all;
// otherwise a copy of the system bundle with the private CA appended). A directory is
// used as OpenSSL's CA path (certificates under hashed names: `openssl rehash DIR`).
//
// Thread safety: a CaBundle is a value, immutable once installed; the global accessors
// and the functions are safe from any thread.
#pragma once

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace modeld::net {

struct CaBundle {
  std::string path;        // a PEM file or a CA directory; empty: the system's store
  bool directory = false;  // |path| is a directory (CURLOPT_CAPATH)
  // Where |path| came from: "--ca-bundle", "SSL_CERT_FILE", "CURL_CA_BUNDLE",
  // "REQUESTS_CA_BUNDLE"; empty for the system's store.
  std::string source;
  int certificates = 0;  // PEM certificates in the file (0 for a directory or the system's)
  // Why |path| cannot be used, when it cannot (missing, unreadable, no certificate): then
  // every TLS connection fails, saying so (only a variable can name such a bundle; the
  // flag is refused at start-up).
  std::string problem;

  bool system() const { return path.empty(); }
  // "/etc/corp/ca.pem (from SSL_CERT_FILE)", or "the system's CA store
  // (/etc/ssl/certs/ca-certificates.crt)".
  std::string Describe() const;
};

// getenv, or a stand-in for tests.
using EnvLookup = std::function<const char*(const char* name)>;

// The bundle from |flag| (the value of --ca-bundle; empty when not given), else from the
// first of SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE that is set and not empty,
// else the system's store. |flag| naming a path that is missing, unreadable, or a file
// without a PEM certificate is InvalidArgument naming it. A variable naming such a path is
// still the bundle in force (with |problem| set) and |warning| says which variable names
// what and what goes wrong (else it is cleared).
Result<CaBundle> ResolveCaBundle(std::string_view flag, const EnvLookup& env, std::string* warning);
Result<CaBundle> ResolveCaBundle(std::string_view flag, std::string* warning);  // getenv

// Installs |bundle| for every handle set up from now on.
void SetCaBundle(CaBundle bundle);
// The bundle in force. Before SetCaBundle: ResolveCaBundle("") on first use, its warning
// logged.
std::shared_ptr<const CaBundle> CurrentCaBundle();
// The line start-up logs: "TLS: CA bundle /x/ca.pem (from --ca-bundle, 2 certificates),
// replacing the system's store" or "TLS: the system's CA store (...)".
std::string CaBundleLogLine(const CaBundle& bundle);

// Applies |bundle| to |easy|: for a bundle, CURLOPT_CAINFO or CURLOPT_CAPATH (and their
// PROXY_ twins) set to it and the other cleared, so the system's store is not used; for
// the system's store, nothing (libcurl's defaults stay).
void ApplyCaBundle(CURL* easy, const CaBundle& bundle);

// True for the libcurl results of a failed TLS setup or verification.
bool IsTlsFailure(CURLcode code);

// The Status of a transfer on |easy| that ended with TLS failure |code|
// (IsTlsFailure), from |context| ("GET URL"): which host:port (the hop that failed, from
// CURLINFO_EFFECTIVE_URL), what is wrong with its certificate (OpenSSL's words for
// CURLINFO_SSL_VERIFYRESULT, or libcurl's |error_buffer|: a name mismatch, an expired
// certificate, ...) and what fixes it (--ca-bundle FILE or SSL_CERT_FILE for an untrusted
// issuer, naming |bundle| when one was in force; the clock for an expired certificate;
// the URL for a name mismatch). A verification failure and an unusable bundle are
// PermissionDenied with reason kTlsCertificate; a handshake failure (no certificate
// verdict) is Unavailable.
Status TlsFailureStatus(std::string_view context, CURLcode code, CURL* easy,
                        std::string_view error_buffer, const CaBundle& bundle);

// Test hook: installs |bundle| for the lifetime of this object, then restores the last one.
class ScopedCaBundleForTest {
 public:
  explicit ScopedCaBundleForTest(CaBundle bundle);
  ~ScopedCaBundleForTest();
  ScopedCaBundleForTest(const ScopedCaBundleForTest&) = delete;
  ScopedCaBundleForTest& operator=(const ScopedCaBundleForTest&) = delete;

 private:
  std::shared_ptr<const CaBundle> saved_;
};

}  // namespace modeld::net
