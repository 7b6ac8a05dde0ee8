// Secrets out of what modeld echoes and logs: a URL's user:password, and query
// parameters that carry credentials (?token=, signed-URL signatures).
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace modeld {

// |url| with "user:password@" replaced by "***@" and the values of credential-like
// query parameters (token, access_token, api_key, key, password, signature, sig,
// X-Amz-Signature, X-Amz-Credential, ...; any case, names percent-decoded as servers
// read them) replaced by "***". Anything that does not look like a URL is returned
// unchanged.
std::string RedactUrl(std::string_view url);

// The query parameter names whose values are credentials, in lower case, as a server
// reads them (percent-decoded). What RedactUrl compares against; the fuzz target checks
// its results against the same list.
std::span<const std::string_view> CredentialParameterNames();

// The same for a request target in origin form ("/path?token=..." -> "/path?token=***").
std::string RedactTarget(std::string_view target);

// Every http(s) URL inside free text (an error message, a log line) redacted as RedactUrl
// does; a URL ends at whitespace, a quote, '<', '>' or ')'.
std::string RedactText(std::string_view text);

}  // namespace modeld
