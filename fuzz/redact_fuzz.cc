// What modeld echoes and logs of URLs and messages that carry outside text (download
// URLs, request targets, upstream errors): RedactUrl, RedactTarget, RedactText
// (core/redact.h).
//
// Invariants: redacting twice changes nothing; text without "http" is unchanged by
// RedactText; and in a URL as a server reads it (Boost.URL: userinfo, decoded query
// parameter names), no password is left and every credential parameter's value is "***".
#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <string>

#include "core/redact.h"
#include "fuzz_check.h"

namespace {

// The name Boost.URL decoded, compared in lower case with the list RedactUrl uses.
bool IsSecret(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto names = modeld::CredentialParameterNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// |redacted| as a server would read it: nothing secret left. The fragment, which a
// client never sends, is cut first: Boost.URL 1.81's params() never ends on an empty
// query before a fragment ("http://h/?#": a stack overflow), which modeld cannot reach
// (Router::Find parses origin-form targets, which have no fragment).
void CheckNoSecrets(std::string_view redacted, bool absolute) {
  redacted = redacted.substr(0, redacted.find('#'));
  auto u = absolute ? boost::urls::parse_uri(redacted) : boost::urls::parse_origin_form(redacted);
  if (!u) return;
  if (absolute && u->has_userinfo())
    FUZZ_CHECK(!u->has_password() && u->encoded_userinfo() == "***");
  for (auto p : u->params()) {
    if (IsSecret(std::string(p.key)) && p.has_value) FUZZ_CHECK(p.value == "***");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view text = fuzz::AsText(data, size);
  std::string url = RedactUrl(text);
  FUZZ_CHECK(RedactUrl(url) == url);
  CheckNoSecrets(url, text.find("://") != std::string_view::npos);
  std::string target = RedactTarget(text);
  FUZZ_CHECK(RedactTarget(target) == target);
  CheckNoSecrets(target, false);
  std::string free_text = RedactText(text);
  FUZZ_CHECK(RedactText(free_text) == free_text);
  if (text.find("http") == std::string_view::npos) FUZZ_CHECK(free_text == text);
  // A URL alone in a message is redacted as RedactUrl does.
  std::string one = std::string(text.substr(0, text.find_first_of(" \t\r\n\"'<>)")));
  while (!one.empty() && std::string_view(":,.;").find(one.back()) != std::string_view::npos)
    one.pop_back();
  if (one.rfind("http://", 0) == 0 || one.rfind("https://", 0) == 0) {
    FUZZ_CHECK(RedactText("GET " + one + ": HTTP 404") == "GET " + RedactUrl(one) + ": HTTP 404");
    CheckNoSecrets(RedactUrl(one), true);
  }
  return 0;
}
