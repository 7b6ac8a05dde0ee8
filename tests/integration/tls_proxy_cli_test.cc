// Corporate networks (issue 17): upstreams whose TLS certificates only a private CA vouches
// for, reached through a forward proxy. The CA is made at test time (tls_front.h); each
// upstream is a test origin or mimic behind a TLS front; `modeld` runs as a child process,
// so the proxy and CA variables are its own environment, read as libcurl and other tools
// read them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine_harness.h"
#include "fixtures.h"
#include "forward_proxy.h"
#include "gguf_writer.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "ollama_mimic.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"
#include "tls_front.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Removes (or sets) an environment variable of this process for the scope, before any
// server thread starts; children inherit the result. libcurl reads https_proxy before
// HTTPS_PROXY, and an empty one as "no proxy", so a child's must be unset, not empty.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (saved_) {
      ::setenv(name_, saved_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

// A test origin behind a TLS front with a certificate for localhost and 127.0.0.1 from
// |ca|: the URLs it hands out are the front's.
struct TlsOrigin {
  explicit TlsOrigin(const TestCa& ca)
      : front(origin.port(), ca.Issue({"localhost", "127.0.0.1"})) {
    origin.SetPublicBase(front.Base());
  }
  std::string HostPort() const { return "localhost:" + std::to_string(front.port()); }
  TestOrigin origin;
  TlsFront front;
};

class TlsProxyTest : public ::testing::Test {
 protected:
  TlsProxyTest() {
    ca_.WriteCert(ca_pem_);
    TestCa("another CA").WriteCert(other_pem_);
    site_.origin.Put("/m.bin", {.content = data_});
  }

  // `modeld [global...] pull -q --local URL -o FILE --sha256 ...` with |env| added.
  int PullUrl(const std::string& url, const std::vector<std::string>& env,
              const std::vector<std::string>& global = {}, std::string* err = nullptr) {
    fs::remove(dir_ / "m.bin");
    std::vector<std::string> args = global;
    for (const std::string& a :
         {std::string("pull"), std::string("-q"), std::string("--local"), url, std::string("-o"),
          (dir_ / "m.bin").string(), std::string("--sha256"), Sha256Hex(data_)}) {
      args.push_back(a);
    }
    std::string e;
    int rc = RunModeldEnv(args, dir_.path(), env, nullptr, &e);
    if (rc == 0) EXPECT_EQ(FileSha256(dir_ / "m.bin"), Sha256Hex(data_));
    if (err) *err = e;
    return rc;
  }
  std::string Url() const { return site_.origin.Url("/m.bin"); }

  // Nothing of the caller's environment leaks in: no proxy, no CA variables.
  ScopedEnv unset_[10] = {{"http_proxy", nullptr},     {"https_proxy", nullptr},
                          {"HTTPS_PROXY", nullptr},    {"all_proxy", nullptr},
                          {"ALL_PROXY", nullptr},      {"no_proxy", nullptr},
                          {"NO_PROXY", nullptr},       {"SSL_CERT_FILE", nullptr},
                          {"CURL_CA_BUNDLE", nullptr}, {"REQUESTS_CA_BUNDLE", nullptr}};
  ScratchDir dir_;
  const std::string ca_pem_ = (dir_ / "ca.pem").string();
  const std::string other_pem_ = (dir_ / "other.pem").string();
  TestCa ca_;
  const std::string data_ = RandomBytes(300000, 17);
  TlsOrigin site_{ca_};
};

TEST_F(TlsProxyTest, WithoutTheCaItFailsSayingWhichHostWhatAndWhichSetting) {
  std::string err;
  EXPECT_EQ(PullUrl(Url(), {}, {}, &err), 7) << err;  // permission denied
  EXPECT_NE(err.find("TLS: the certificate of " + site_.HostPort() +
                     " is not trusted: self-signed certificate in certificate chain"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("the system's CA store"), std::string::npos) << err;
  EXPECT_NE(err.find("--ca-bundle FILE or SSL_CERT_FILE=FILE"), std::string::npos) << err;
  EXPECT_TRUE(site_.front.WaitForFailedHandshakes(1));
  EXPECT_TRUE(site_.origin.Requests().empty());  // no byte got past the handshake
  EXPECT_FALSE(fs::exists(dir_ / "m.bin"));
}

TEST_F(TlsProxyTest, TheFlagAndEachVariableTrustThePrivateCaInTheirOrder) {
  std::string err;
  EXPECT_EQ(PullUrl(Url(), {}, {"--ca-bundle", ca_pem_}, &err), 0) << err;
  for (const char* var : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"}) {
    EXPECT_EQ(PullUrl(Url(), {std::string(var) + "=" + ca_pem_}, {}, &err), 0)
        << var << ": " << err;
  }
  // The flag over SSL_CERT_FILE over CURL_CA_BUNDLE over REQUESTS_CA_BUNDLE: the winner
  // names a bundle without the CA, and the message names the winner.
  EXPECT_EQ(PullUrl(Url(), {"SSL_CERT_FILE=" + other_pem_}, {"--ca-bundle", ca_pem_}, &err), 0)
      << err;
  EXPECT_EQ(PullUrl(Url(), {"SSL_CERT_FILE=" + other_pem_, "CURL_CA_BUNDLE=" + ca_pem_}, {}, &err),
            7);
  EXPECT_NE(err.find(other_pem_ + " (from SSL_CERT_FILE)"), std::string::npos) << err;
  EXPECT_NE(err.find("Add the CA that signed it to " + other_pem_), std::string::npos) << err;
  EXPECT_EQ(
      PullUrl(Url(), {"CURL_CA_BUNDLE=" + other_pem_, "REQUESTS_CA_BUNDLE=" + ca_pem_}, {}, &err),
      7);
  EXPECT_NE(err.find("(from CURL_CA_BUNDLE)"), std::string::npos) << err;
  EXPECT_EQ(
      PullUrl(Url(), {"CURL_CA_BUNDLE=" + ca_pem_, "REQUESTS_CA_BUNDLE=" + other_pem_}, {}, &err),
      0)
      << err;
  // An empty variable is unset.
  EXPECT_EQ(PullUrl(Url(), {"SSL_CERT_FILE=", "REQUESTS_CA_BUNDLE=" + ca_pem_}, {}, &err), 0)
      << err;
}

TEST_F(TlsProxyTest, AMissingBundleIsAStartUpErrorForTheFlagAndAWarningForAVariable) {
  const std::string gone = (dir_ / "gone.pem").string();
  std::string err;
  EXPECT_EQ(PullUrl(Url(), {}, {"--ca-bundle", gone}, &err), 2) << err;
  EXPECT_NE(err.find("--ca-bundle " + gone + ": it does not exist"), std::string::npos) << err;
  EXPECT_TRUE(site_.origin.Requests().empty());

  EXPECT_EQ(PullUrl(Url(), {"REQUESTS_CA_BUNDLE=" + gone}, {}, &err), 7) << err;
  EXPECT_NE(err.find("REQUESTS_CA_BUNDLE=" + gone + " names no usable CA bundle"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("the CA bundle " + gone + " (from REQUESTS_CA_BUNDLE) cannot be used"),
            std::string::npos)
      << err;
}

// Every hop kind through a forward proxy that sees the CONNECT of each TLS host. libcurl
// sends loopback hosts through the proxy too unless no_proxy names them.
class TlsThroughProxyTest : public TlsProxyTest {
 protected:
  std::vector<std::string> Env(const char* var = "https_proxy") {
    return {std::string(var) + "=" + proxy_.Url(), "SSL_CERT_FILE=" + ca_pem_};
  }
  ForwardProxy proxy_;
};

TEST_F(TlsThroughProxyTest, AUrlDownload) {
  std::string err;
  ASSERT_EQ(PullUrl(Url(), Env(), {}, &err), 0) << err;
  EXPECT_GE(proxy_.TunnelsTo(site_.HostPort()), 1);
  EXPECT_GE(site_.origin.Requests("/m.bin").size(), 1u);
  // Without the CA, through the proxy, the message is the same.
  ASSERT_EQ(PullUrl(Url(), {"HTTPS_PROXY=" + proxy_.Url()}, {}, &err), 7) << err;
  EXPECT_NE(err.find("TLS: the certificate of " + site_.HostPort() + " is not trusted"),
            std::string::npos)
      << err;
  // no_proxy is honoured: the tunnels do not grow.
  size_t tunnels = proxy_.Tunnels().size();
  std::vector<std::string> env = Env();
  env.push_back("no_proxy=localhost");
  ASSERT_EQ(PullUrl(Url(), env, {}, &err), 0) << err;
  EXPECT_EQ(proxy_.Tunnels().size(), tunnels);
}

// A proxy that wants credentials, or blocks the host, says so: no retrying for minutes.
TEST_F(TlsThroughProxyTest, AProxyThatRefusesTheTunnelSaysWhy) {
  proxy_.RefuseTunnels(407);
  std::string err;
  EXPECT_EQ(PullUrl(Url(), Env(), {}, &err), 7) << err;
  EXPECT_NE(
      err.find("the proxy wants credentials (HTTP 407) to open a tunnel to " + site_.HostPort() +
               ": give them in the proxy's URL, https_proxy=http://USER:PASSWORD@PROXY:PORT"),
      std::string::npos)
      << err;
  proxy_.RefuseTunnels(403);
  EXPECT_EQ(PullUrl(Url(), Env(), {}, &err), 7) << err;
  EXPECT_NE(err.find("the proxy refused a tunnel to " + site_.HostPort() + " (HTTP 403)"),
            std::string::npos)
      << err;
  EXPECT_TRUE(site_.origin.Requests().empty());
}

TEST_F(TlsThroughProxyTest, ARedirectToASecondTlsHost) {
  TlsOrigin cdn(ca_);
  cdn.origin.Put("/blob", {.content = data_});
  site_.origin.Put("/r.bin", {.content = "", .redirect_to = cdn.origin.Url("/blob")});
  std::string err;
  ASSERT_EQ(PullUrl(site_.origin.Url("/r.bin"), Env("HTTPS_PROXY"), {}, &err), 0) << err;
  EXPECT_GE(proxy_.TunnelsTo(site_.HostPort()), 1);
  EXPECT_GE(proxy_.TunnelsTo(cdn.HostPort()), 1);
  EXPECT_GE(cdn.origin.Requests("/blob").size(), 1u);
}

TEST_F(TlsThroughProxyTest, AHubRepositoryAndItsCdn) {
  TestOrigin api, cdn;
  TlsFront api_front(api.port(), ca_.Issue({"localhost"}));
  TlsFront cdn_front(cdn.port(), ca_.Issue({"localhost"}));
  api.SetPublicBase(api_front.Base());
  cdn.SetPublicBase(cdn_front.Base());
  HubMimic hub(api, &cdn);
  const std::string weights = RandomBytes(200000, 3);
  hub.AddRepo("org/tiny", std::string(40, 'a'), {"main"},
              {{"config.json", "{\"model_type\": \"tiny\"}", false}, {"w.bin", weights, true}});
  std::vector<std::string> env = Env();
  env.push_back("HF_ENDPOINT=" + hub.Endpoint());
  std::string out, err, err_without_ca;
  int rc =
      RunModeldEnv({"--data-dir", (dir_ / "data").string(), "pull", "-q", "--local", "org/tiny"},
                   dir_.path(), env, &out, &err);
  // Without the CA the Hub API call is the one that says so.
  int rc_without_ca = RunModeldEnv(
      {"--data-dir", (dir_ / "data2").string(), "pull", "-q", "--local", "org/tiny"}, dir_.path(),
      {"https_proxy=" + proxy_.Url(), "HF_ENDPOINT=" + hub.Endpoint()}, &out, &err_without_ca);
  api.Stop();  // the mimic's handlers run on the origins' threads
  cdn.Stop();
  ASSERT_EQ(rc, 0) << err;
  const std::string api_host = "localhost:" + std::to_string(api_front.port());
  const std::string cdn_host = "localhost:" + std::to_string(cdn_front.port());
  EXPECT_GE(proxy_.TunnelsTo(api_host), 1);
  EXPECT_GE(proxy_.TunnelsTo(cdn_host), 1);
  EXPECT_TRUE(cdn.WaitForBodyBytes("", weights.size()));
  EXPECT_EQ(rc_without_ca, 7) << err_without_ca;
  EXPECT_NE(err_without_ca.find("TLS: the certificate of " + api_host + " is not trusted"),
            std::string::npos)
      << err_without_ca;
}

TEST_F(TlsThroughProxyTest, ACatalogUrlAndItsFiles) {
  json catalog = {{"name", "corp"},
                  {"models",
                   {{{"name", "corp-model"},
                     {"latest", "1"},
                     {"versions",
                      {{{"version", "1"},
                        {"files",
                         {{{"url", site_.origin.Url("/m.bin")},
                           {"size", data_.size()},
                           {"sha256", Sha256Hex(data_)}}}}}}}}}}};
  site_.origin.Put("/catalog.json", {.content = catalog.dump()});
  std::string out, err;
  int rc = RunModeldEnv({"--data-dir", (dir_ / "data").string(), "--catalog",
                         site_.origin.Url("/catalog.json"), "pull", "-q", "--local", "corp-model"},
                        dir_.path(), Env(), &out, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_GE(site_.origin.Requests("/catalog.json").size(), 1u);
  EXPECT_GE(site_.origin.Requests("/m.bin").size(), 1u);
  EXPECT_GE(proxy_.TunnelsTo(site_.HostPort()), 2);  // the catalog, then the file
}

TEST_F(TlsThroughProxyTest, AnOllamaRegistryAndItsBlobHost) {
  TestOrigin registry, blobs;
  TlsFront registry_front(registry.port(), ca_.Issue({"localhost"}));
  TlsFront blobs_front(blobs.port(), ca_.Issue({"localhost"}));
  registry.SetPublicBase(registry_front.Base());
  blobs.SetPublicBase(blobs_front.Base());
  OllamaMimic ollama(registry, &blobs);
  const std::string gguf = EncodeGguf(AllTypesGguf(3));
  ollama.AddModel("library", "tiny", "latest", {{kOllamaModelType, gguf}});
  std::string out, err;
  int rc = RunModeldEnv({"--data-dir", (dir_ / "data").string(), "--ollama-registry",
                         ollama.Endpoint(), "pull", "-q", "--local", "ollama://tiny"},
                        dir_.path(), Env(), &out, &err);
  registry.Stop();
  blobs.Stop();
  ASSERT_EQ(rc, 0) << err;
  EXPECT_GE(proxy_.TunnelsTo("localhost:" + std::to_string(registry_front.port())), 1);
  EXPECT_GE(proxy_.TunnelsTo("localhost:" + std::to_string(blobs_front.port())), 1);
  EXPECT_TRUE(blobs.WaitForBodyBytes("", gguf.size()));
}

// `modeld serve`: the bundle in force is logged at start-up; a request that fails on a
// certificate says why (the answer to POST, which resolves and probes first), and so does a
// job that fails on one later (a Hub model whose CDN another CA signed).
TEST_F(TlsProxyTest, ServeLogsTheBundleAndSaysWhyARequestOrAJobFailed) {
  {
    ServeChild s(dir_ / "data");
    ASSERT_GT(s.port(), 0) << s.Log();
    EXPECT_NE(s.Log().find("TLS: upstream certificates are checked against the system's CA store"),
              std::string::npos)
        << s.Log();
    auto r = HttpCall("POST", s.base() + "/model-download",
                      json{{"model_name", "corp"}, {"download_url", Url()}}.dump(),
                      {"Content-Type: application/json"});
    EXPECT_EQ(r.status, 403) << r.body;
    json j = json::parse(r.body, nullptr, false);
    const std::string detail = j.value("detail", "");
    EXPECT_NE(detail.find("TLS: the certificate of " + site_.HostPort() + " is not trusted"),
              std::string::npos)
        << r.body;
    EXPECT_NE(detail.find("--ca-bundle FILE"), std::string::npos) << r.body;
    EXPECT_EQ(j["error_detail"]["reason"], "TLS_CERTIFICATE") << r.body;
    EXPECT_EQ(j["error_detail"]["host"], site_.HostPort()) << r.body;
    EXPECT_EQ(j["error_detail"]["problem"], "self-signed certificate in certificate chain");
    s.Signal(SIGTERM);
    EXPECT_EQ(s.Wait(), 0);
  }
  TestOrigin api, cdn;
  TlsFront api_front(api.port(), ca_.Issue({"localhost"}));
  TestCa other("another CA");
  TlsFront cdn_front(cdn.port(), other.Issue({"localhost"}));
  api.SetPublicBase(api_front.Base());
  cdn.SetPublicBase(cdn_front.Base());
  HubMimic hub(api, &cdn);
  hub.AddRepo("org/tiny", std::string(40, 'b'), {"main"},
              {{"w.bin", RandomBytes(100000, 5), true}});
  const std::string cdn_host = "localhost:" + std::to_string(cdn_front.port());
  ScopedEnv endpoint("HF_ENDPOINT", hub.Endpoint().c_str());
  {
    ServeChild s(dir_ / "data", {"--ca-bundle", ca_pem_});
    ASSERT_GT(s.port(), 0) << s.Log();
    EXPECT_NE(
        s.Log().find("TLS: upstream certificates are checked against the CA bundle " + ca_pem_ +
                     " (from --ca-bundle, 1 certificate), which replaces the system's store"),
        std::string::npos)
        << s.Log();
    // The CA in the bundle: a URL download completes.
    auto r = HttpCall("POST", s.base() + "/model-download",
                      json{{"model_name", "corp"}, {"download_url", Url()}, {"wait", true}}.dump(),
                      {"Content-Type: application/json"}, nullptr, 120);
    EXPECT_EQ(r.status, 200) << r.body;
    // The Hub's API is signed by it, its CDN by another: the job fails on the CDN's hop.
    r = HttpCall("POST", s.base() + "/model-download", json{{"model_name", "org/tiny"}}.dump(),
                 {"Content-Type: application/json"});
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string id = json::parse(r.body)["download_id"];
    HttpCall("GET", s.base() + "/model-download/" + id + "/events", "", {}, nullptr, 120);
    auto p = HttpCall("GET", s.base() + "/model-download/" + id + "/progress");
    json j = json::parse(p.body, nullptr, false);
    EXPECT_EQ(j["state"], "failed") << p.body;
    const std::string error = j.value("error", "");
    EXPECT_NE(error.find("TLS: the certificate of " + cdn_host + " is not trusted"),
              std::string::npos)
        << p.body;
    EXPECT_NE(error.find(ca_pem_ + " (from --ca-bundle)"), std::string::npos) << p.body;
    EXPECT_EQ(j["error_detail"]["reason"], "TLS_CERTIFICATE") << p.body;
    EXPECT_EQ(j["error_detail"]["host"], cdn_host) << p.body;
    EXPECT_EQ(j["error_detail"]["ca_bundle_source"], "--ca-bundle") << p.body;
    s.Signal(SIGTERM);
    EXPECT_EQ(s.Wait(), 0);
  }
  api.Stop();  // the mimic's handlers run on the origins' threads
  cdn.Stop();
}

}  // namespace
}  // namespace modeld::testing
