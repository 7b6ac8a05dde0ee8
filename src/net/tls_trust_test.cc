#include "net/tls_trust.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error_reasons.h"
#include "net/fetch.h"
#include "net/upstream_policy.h"
#include "origin.h"
#include "tls_front.h"

namespace modeld::net {
namespace {

namespace fs = std::filesystem;
using testing::CertAndKey;
using testing::TestCa;
using testing::TestOrigin;
using testing::TlsFront;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("modeld_tls_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// An environment of |vars| for ResolveCaBundle.
EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(CaBundleTest, PrecedenceFlagThenSslCertFileThenCurlThenRequests) {
  TempDir dir;
  TestCa ca;
  for (const char* f : {"flag.pem", "ssl.pem", "curl.pem", "requests.pem"}) ca.WriteCert(dir / f);
  const std::string flag = (dir / "flag.pem").string(), ssl = (dir / "ssl.pem").string(),
                    curl = (dir / "curl.pem").string(), req = (dir / "requests.pem").string();
  std::map<std::string, std::string> all = {
      {"SSL_CERT_FILE", ssl}, {"CURL_CA_BUNDLE", curl}, {"REQUESTS_CA_BUNDLE", req}};
  std::string warning;
  auto b = ResolveCaBundle(flag, Env(all), &warning);
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_EQ(b->path, flag);
  EXPECT_EQ(b->source, "--ca-bundle");
  EXPECT_EQ(b->certificates, 1);
  EXPECT_TRUE(warning.empty());

  b = ResolveCaBundle("", Env(all), &warning);
  EXPECT_EQ(b->path, ssl);
  EXPECT_EQ(b->source, "SSL_CERT_FILE");
  all["SSL_CERT_FILE"] = "";  // empty is unset
  b = ResolveCaBundle("", Env(all), &warning);
  EXPECT_EQ(b->path, curl);
  EXPECT_EQ(b->source, "CURL_CA_BUNDLE");
  all.erase("CURL_CA_BUNDLE");
  b = ResolveCaBundle("", Env(all), &warning);
  EXPECT_EQ(b->path, req);
  EXPECT_EQ(b->source, "REQUESTS_CA_BUNDLE");
  b = ResolveCaBundle("", Env({}), &warning);
  EXPECT_TRUE(b->system());
  EXPECT_EQ(b->source, "");
  EXPECT_NE(CaBundleLogLine(*b).find("the system's CA store"), std::string::npos);
}

TEST(CaBundleTest, AFlagNamingNothingUsableIsAnErrorAVariableAWarning) {
  TempDir dir;
  std::ofstream(dir / "empty.pem") << "not a certificate\n";
  std::string warning;
  auto b = ResolveCaBundle((dir / "missing.pem").string(), Env({}), &warning);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(b.error().message().find("--ca-bundle " + (dir / "missing.pem").string() +
                                     ": it does not exist"),
            std::string::npos)
      << b.error().message();
  b = ResolveCaBundle((dir / "empty.pem").string(), Env({}), &warning);
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().message().find("holds no PEM certificate"), std::string::npos);

  // A variable: the bundle stays in force (every use fails, saying so), with a warning
  // naming the variable; a lower one is not used instead.
  TestCa ca;
  ca.WriteCert(dir / "ok.pem");
  b = ResolveCaBundle("",
                      Env({{"CURL_CA_BUNDLE", (dir / "missing.pem").string()},
                           {"REQUESTS_CA_BUNDLE", (dir / "ok.pem").string()}}),
                      &warning);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->source, "CURL_CA_BUNDLE");
  EXPECT_EQ(b->problem, "it does not exist");
  EXPECT_NE(warning.find("CURL_CA_BUNDLE=" + (dir / "missing.pem").string() +
                         " names no usable CA bundle (it does not exist)"),
            std::string::npos)
      << warning;
}

TEST(CaBundleTest, ADirectoryIsACaPath) {
  TempDir dir;
  std::string warning;
  auto b = ResolveCaBundle("", Env({{"REQUESTS_CA_BUNDLE", (dir / "").string()}}), &warning);
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->directory);
  EXPECT_TRUE(b->problem.empty());
  EXPECT_NE(CaBundleLogLine(*b).find("the CA directory"), std::string::npos);
}

// A real TLS upstream signed by a private CA, fetched through net::Fetch (the path of the
// Hub API and catalogs; the engine's transfers use the same handle set-up).
class TlsUpstreamTest : public ::testing::Test {
 protected:
  TlsUpstreamTest() {
    UpstreamPolicy p;
    p.set_allow_private(true);
    policy_ = std::make_unique<ScopedUpstreamPolicyForTest>(std::move(p));
    origin_.Put("/f", {.content = "hello"});
    ca_.WriteCert(dir_ / "ca.pem");
    TestCa other("another CA");
    other.WriteCert(dir_ / "other.pem");
  }
  // The Status of a GET of |path| on a front with |cert| while |bundle| is in force.
  Status Get(const CertAndKey& cert, CaBundle bundle, std::string host = "localhost") {
    TlsFront front(origin_.port(), cert);
    ScopedCaBundleForTest scoped(std::move(bundle));
    auto r = Fetch(front.Base(host) + "/f", {}, std::chrono::seconds(10));
    if (!r.has_value()) return r.error();
    EXPECT_EQ(r->body, "hello");
    return Status::OK();
  }
  CaBundle Bundle(const std::string& file, const std::string& source = "--ca-bundle") {
    std::string warning;
    const std::string path = (dir_ / file).string();
    auto b = source == "--ca-bundle" ? ResolveCaBundle(path, Env({}), &warning)
                                     : ResolveCaBundle("", Env({{source, path}}), &warning);
    EXPECT_TRUE(b.has_value());
    return b.has_value() ? b.value() : CaBundle{};
  }

  TempDir dir_;
  std::unique_ptr<ScopedUpstreamPolicyForTest> policy_;
  TestOrigin origin_;
  TestCa ca_;
  CertAndKey good_ = ca_.Issue({"localhost", "127.0.0.1"});
};

TEST_F(TlsUpstreamTest, TrustedThroughTheBundleReplacingTheSystemStore) {
  EXPECT_TRUE(Get(good_, Bundle("ca.pem")).ok());
  EXPECT_TRUE(Get(good_, Bundle("ca.pem", "SSL_CERT_FILE"), "127.0.0.1").ok());
  // A bundle replaces the system's store: another CA's bundle does not fall back to it.
  Status s = Get(good_, Bundle("other.pem", "REQUESTS_CA_BUNDLE"));
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
}

TEST_F(TlsUpstreamTest, UntrustedWithTheSystemStoreSaysWhichHostWhatAndHowToFixIt) {
  Status s = Get(good_, CaBundle{});
  ASSERT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  const std::string& m = s.message();
  EXPECT_NE(m.find("TLS: the certificate of localhost:"), std::string::npos) << m;
  EXPECT_NE(m.find("is not trusted: self-signed certificate in certificate chain"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("the system's CA store"), std::string::npos) << m;
  EXPECT_NE(m.find("--ca-bundle FILE or SSL_CERT_FILE=FILE"), std::string::npos) << m;
  ASSERT_NE(s.info(), nullptr);
  EXPECT_EQ(s.info()->reason, reason::kTlsCertificate);
  EXPECT_EQ(s.info()->Get("problem"), "self-signed certificate in certificate chain");
  EXPECT_EQ(s.info()->Get("ca_bundle"), "");
  EXPECT_EQ(s.info()->Get("host").rfind("localhost:", 0), 0u);
}

TEST_F(TlsUpstreamTest, UntrustedWithABundleNamesTheBundleAndItsVariable) {
  Status s = Get(good_, Bundle("other.pem", "CURL_CA_BUNDLE"));
  ASSERT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  const std::string& m = s.message();
  EXPECT_NE(m.find("is not trusted: "), std::string::npos) << m;
  EXPECT_NE(m.find((dir_ / "other.pem").string() + " (from CURL_CA_BUNDLE)"), std::string::npos)
      << m;
  EXPECT_NE(m.find("Add the CA that signed it to " + (dir_ / "other.pem").string()),
            std::string::npos)
      << m;
  EXPECT_EQ(s.info()->Get("ca_bundle_source"), "CURL_CA_BUNDLE");
}

TEST_F(TlsUpstreamTest, ANameMismatchSaysNoCaSettingFixesIt) {
  Status s = Get(ca_.Issue({"mirror.example"}), Bundle("ca.pem"));
  ASSERT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("is not for localhost"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No CA setting fixes this"), std::string::npos) << s.message();
}

TEST_F(TlsUpstreamTest, AnExpiredCertificateSaysCheckTheClock) {
  Status s = Get(ca_.Issue({"localhost"}, std::chrono::hours(-48), std::chrono::hours(-24)),
                 Bundle("ca.pem"));
  ASSERT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("certificate has expired"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("clock"), std::string::npos) << s.message();
}

TEST_F(TlsUpstreamTest, AMissingBundleNamedByAVariableFailsEachUseNamingIt) {
  Status s = Get(good_, Bundle("gone.pem", "SSL_CERT_FILE"));
  ASSERT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("the CA bundle " + (dir_ / "gone.pem").string() +
                             " (from SSL_CERT_FILE) cannot be used (it does not exist)"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("point SSL_CERT_FILE at"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace modeld::net
