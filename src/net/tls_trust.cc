#include "net/tls_trust.h"

#include <dirent.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/url/parse.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error_reasons.h"
#include "core/log.h"
#include "core/mutex.h"
#include "net/http.h"

namespace modeld::net {

namespace {

// The variables other tools read, in the order they are looked at.
constexpr const char* kCaVariables[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"};
constexpr std::string_view kFlag = "--ca-bundle";

// libcurl's built-in CA file (else its CA path), "" when it has none.
const std::string& DefaultCaStore() {
  static const std::string path = [] {
    EnsureCurlGlobalInit();
    std::string out;
    CURL* e = curl_easy_init();
    if (e == nullptr) return out;
    char* info = nullptr;
    if (curl_easy_getinfo(e, CURLINFO_CAINFO, &info) == CURLE_OK && info) out = info;
    if (out.empty() && curl_easy_getinfo(e, CURLINFO_CAPATH, &info) == CURLE_OK && info) out = info;
    curl_easy_cleanup(e);
    return out;
  }();
  return path;
}

// True when |path| is the system's store itself (a variable often names it: container
// images and conda set SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt).
bool IsSystemStore(const std::string& path) {
  const std::string& store = DefaultCaStore();
  if (path.empty() || store.empty()) return path.empty();
  struct stat a {
  }, b{};
  return ::stat(path.c_str(), &a) == 0 && ::stat(store.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

// Checks |path| as a CA bundle: fills |bundle|'s directory and certificates, and returns
// what is wrong with it ("" when it can be used).
std::string Inspect(const std::string& path, CaBundle* bundle) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? "it does not exist"
                           : std::string("cannot read it: ") + strerror(errno);
  }
  if (S_ISDIR(st.st_mode)) {
    bundle->directory = true;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return std::string("cannot read the directory: ") + strerror(errno);
    ::closedir(d);
    return "";
  }
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) {
    int err = errno;
    ERR_clear_error();
    return std::string("cannot read it: ") + strerror(err != 0 ? err : EIO);
  }
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    ++n;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the file reads as an error; never leave it to libcurl
  bundle->certificates = n;
  if (n == 0) return "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
  return "";
}

std::string Plural(int n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

Mutex g_ca_mu;
std::shared_ptr<const CaBundle> g_bundle GUARDED_BY(g_ca_mu);

// What a TLS verification failure is about, for the fix it suggests.
enum class Problem { kUntrusted, kName, kTime, kOther };

Problem Classify(long verify_result, std::string_view error_buffer) {
  // libcurl checks the name itself, after OpenSSL accepted the chain, and then reports
  // X509_V_ERR_UNSPECIFIED: "SSL: no alternative certificate subject name matches target
  // host name 'x'", "SSL: certificate subject name 'y' does not match target host name 'x'".
  if (error_buffer.find("subject name") != std::string_view::npos ||
      error_buffer.find("does not match target host") != std::string_view::npos)
    return Problem::kName;
  switch (verify_result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_INVALID_CA:
      return Problem::kUntrusted;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return Problem::kTime;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return Problem::kName;
    default:
      break;
  }
  return Problem::kOther;
}

// "host:port" and the bare host of the URL |easy| was at when it failed.
void FailedHost(CURL* easy, std::string* host_port, std::string* host) {
  char* eff = nullptr;
  if (easy) curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff);
  auto r = boost::urls::parse_absolute_uri(eff ? eff : "");
  if (!r) {
    *host_port = *host = "the upstream";
    return;
  }
  *host = std::string(r->encoded_host());
  std::string port =
      r->has_port() ? std::string(r->port()) : (r->scheme() == "http" ? "80" : "443");
  *host_port = *host + ":" + port;
}

}  // namespace

std::string CaBundle::Describe() const {
  if (system()) {
    const std::string& store = DefaultCaStore();
    return "the system's CA store" + (store.empty() ? std::string() : " (" + store + ")");
  }
  return path + " (from " + source + ")";
}

Result<CaBundle> ResolveCaBundle(std::string_view flag, const EnvLookup& env,
                                 std::string* warning) {
  if (warning) warning->clear();
  CaBundle b;
  if (!flag.empty()) {
    b.path = std::string(flag);
    b.source = std::string(kFlag);
    if (std::string why = Inspect(b.path, &b); !why.empty())
      return Status::InvalidArgument("--ca-bundle " + b.path + ": " + why);
    return b;
  }
  for (const char* name : kCaVariables) {
    const char* value = env ? env(name) : nullptr;
    if (value == nullptr || *value == '\0') continue;
    b.path = value;
    b.source = name;
    b.problem = Inspect(b.path, &b);
    if (!b.problem.empty() && warning) {
      *warning = std::string(name) + "=" + b.path + " names no usable CA bundle (" + b.problem +
                 "): every TLS connection will fail until it is fixed or unset (or --ca-bundle "
                 "names another)";
    }
    return b;
  }
  return b;  // the system's store
}

Result<CaBundle> ResolveCaBundle(std::string_view flag, std::string* warning) {
  return ResolveCaBundle(
      flag, [](const char* name) { return static_cast<const char*>(std::getenv(name)); }, warning);
}

void SetCaBundle(CaBundle bundle) {
  auto p = std::make_shared<const CaBundle>(std::move(bundle));
  MutexLock lock(&g_ca_mu);
  g_bundle = std::move(p);
}

std::shared_ptr<const CaBundle> CurrentCaBundle() {
  MutexLock lock(&g_ca_mu);
  if (!g_bundle) {
    std::string warning;
    auto r = ResolveCaBundle("", &warning);
    // Only a flag can fail to resolve; there is none here.
    g_bundle = std::make_shared<const CaBundle>(r.has_value() ? std::move(r.value()) : CaBundle{});
    if (!warning.empty()) log::Warn("TLS: {}", warning);
  }
  return g_bundle;
}

std::string CaBundleLogLine(const CaBundle& b) {
  if (b.system()) return "TLS: upstream certificates are checked against " + b.Describe();
  std::string what = b.directory ? "the CA directory " : "the CA bundle ";
  std::string line =
      "TLS: upstream certificates are checked against " + what + b.path + " (from " + b.source;
  if (!b.directory && b.certificates > 0) line += ", " + Plural(b.certificates, "certificate");
  line += IsSystemStore(b.path) ? "): the system's store" : "), which replaces the system's store";
  if (!b.problem.empty()) line += "; it cannot be used: " + b.problem;
  return line;
}

void ApplyCaBundle(CURL* e, const CaBundle& b) {
  if (b.system()) return;
  const char* file = b.directory ? nullptr : b.path.c_str();
  const char* dir = b.directory ? b.path.c_str() : nullptr;
  curl_easy_setopt(e, CURLOPT_CAINFO, file);
  curl_easy_setopt(e, CURLOPT_CAPATH, dir);
  curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, file);
  curl_easy_setopt(e, CURLOPT_PROXY_CAPATH, dir);
}

bool IsTlsFailure(CURLcode code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return true;
    default:
      return false;
  }
}

Status TlsFailureStatus(std::string_view context, CURLcode code, CURL* easy,
                        std::string_view error_buffer, const CaBundle& bundle) {
  std::string host_port, host;
  FailedHost(easy, &host_port, &host);
  std::string curl_words =
      error_buffer.empty() ? std::string(curl_easy_strerror(code)) : std::string(error_buffer);
  if (curl_words.rfind("SSL: ", 0) == 0) curl_words.erase(0, 5);
  const std::string prefix = std::string(context) + ": TLS: ";
  auto typed = [&](std::string message, const std::string& problem) {
    return Status::PermissionDenied(message).WithInfo({reason::kTlsCertificate,
                                                       {{"host", host_port},
                                                        {"problem", problem},
                                                        {"ca_bundle", bundle.path},
                                                        {"ca_bundle_source", bundle.source}}});
  };
  const std::string give_ca =
      "--ca-bundle FILE or SSL_CERT_FILE=FILE (a PEM file of CA certificates; it replaces the "
      "system's store)";

  if (code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CRL_BADFILE) {
    std::string problem = bundle.problem.empty() ? curl_words : bundle.problem;
    if (bundle.system()) {
      return typed(prefix + bundle.Describe() + " cannot be used (" + problem +
                       "): install the ca-certificates package, or give modeld a bundle with " +
                       give_ca,
                   problem);
    }
    std::string fix = bundle.source == kFlag
                          ? "point --ca-bundle at a readable PEM file or a CA directory"
                          : "point " + bundle.source +
                                " at a readable PEM file or a CA directory, unset it to use the "
                                "system's store, or give --ca-bundle FILE";
    return typed(prefix + "the CA bundle " + bundle.Describe() + " cannot be used (" + problem +
                     ") for " + host_port + ": " + fix,
                 problem);
  }

  if (code == CURLE_SSL_CONNECT_ERROR || code == CURLE_SSL_CIPHER) {
    // The handshake failed before any verdict on the certificate (a protocol or cipher
    // mismatch, a server that is not TLS, a connection cut): maybe transient.
    return Status::Unavailable(prefix + "the handshake with " + host_port +
                               " failed: " + curl_words);
  }

  long verify = X509_V_OK;
  if (easy) curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &verify);
  // OpenSSL's verdict, unless it has none to give (libcurl's own checks): then libcurl's.
  std::string problem = verify != X509_V_OK && verify != X509_V_ERR_UNSPECIFIED
                            ? std::string(X509_verify_cert_error_string(verify))
                            : curl_words;
  if (code == CURLE_SSL_CERTPROBLEM) {
    return typed(prefix + "a certificate problem with " + host_port + ": " + problem, problem);
  }
  const bool system_store = IsSystemStore(bundle.path);
  const std::string checked = bundle.system() ? "checked against " + bundle.Describe()
                              : system_store
                                  ? "checked against " + bundle.Describe() + ", the system's store"
                                  : "checked against the CA bundle " + bundle.Describe() +
                                        ", which replaces the system's store";
  switch (Classify(verify, error_buffer)) {
    case Problem::kUntrusted:
      if (system_store) {
        return typed(prefix + "the certificate of " + host_port + " is not trusted: " + problem +
                         " (" + checked +
                         "). If a private CA signed it (a proxy that inspects TLS, an internal "
                         "mirror), give modeld that CA: " +
                         give_ca,
                     problem);
      }
      return typed(
          prefix + "the certificate of " + host_port + " is not trusted: " + problem + " (" +
              checked + "). Add the CA that signed it to " + bundle.path +
              " (with the public CAs too if public hosts are fetched: a copy of " +
              (DefaultCaStore().empty() ? std::string("the system's bundle") : DefaultCaStore()) +
              " with it appended), or name a bundle that has it with " + give_ca,
          problem);
    case Problem::kName:
      return typed(prefix + "the certificate of " + host_port + " is not for " + host + ": " +
                       problem +
                       ". No CA setting fixes this: use a host name the certificate is for (in "
                       "the URL, HF_ENDPOINT or the registry's address), or the server needs a "
                       "certificate for " +
                       host,
                   problem);
    case Problem::kTime:
      return typed(prefix + "the certificate of " + host_port + " is refused: " + problem +
                       ". Check this machine's clock (date -u); if it is right, the server's "
                       "certificate must be renewed by its operator (no CA setting fixes this)",
                   problem);
    case Problem::kOther:
      break;
  }
  return typed(prefix + "the certificate of " + host_port + " is refused: " + problem + " (" +
                   checked + "). If a private CA signed it, give modeld that CA: " + give_ca,
               problem);
}

ScopedCaBundleForTest::ScopedCaBundleForTest(CaBundle bundle) : saved_(CurrentCaBundle()) {
  SetCaBundle(std::move(bundle));
}

ScopedCaBundleForTest::~ScopedCaBundleForTest() {
  MutexLock lock(&g_ca_mu);
  g_bundle = saved_;
}

}  // namespace modeld::net
