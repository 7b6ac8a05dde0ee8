#include "core/ollama.h"

#include <cctype>
#include <vector>

#include "core/json.h"

namespace modeld {

namespace {

bool PartChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

Status CheckPart(std::string_view what, std::string_view part, size_t max, bool port_ok) {
  if (part.empty()) return Status::InvalidArgument("the " + std::string(what) + " is empty");
  if (part.size() > max) {
    return Status::InvalidArgument("the " + std::string(what) + " is longer than " +
                                   std::to_string(max) + " characters");
  }
  if (!std::isalnum(static_cast<unsigned char>(part.front()))) {
    return Status::InvalidArgument("the " + std::string(what) +
                                   " must start with a letter or a digit");
  }
  bool seen_colon = false;
  for (char c : part) {
    if (c == ':' && port_ok && !seen_colon) {
      seen_colon = true;
      continue;
    }
    if (!PartChar(c)) {
      return Status::InvalidArgument("the " + std::string(what) +
                                     " may only contain letters, digits, '_', '-' and '.'");
    }
  }
  return Status::OK();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == s.npos ? s.npos : at - start));
    if (at == s.npos) return out;
    start = at + 1;
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

constexpr uint64_t kMaxBlobSize = uint64_t{1} << 50;
constexpr size_t kMaxLayers = 1024;

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<OllamaBlob> ParseBlob(const nlohmann::json& j, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Status::Corrupt("the registry's manifest has a bad " + where + ": " + why);
  };
  if (!j.is_object()) return bad("not an object");
  OllamaBlob b;
  auto mt = j.find("mediaType");
  if (mt == j.end() || !mt->is_string()) return bad("no mediaType");
  b.media_type = mt->get<std::string>();
  if (b.media_type.size() > 256) return bad("mediaType too long");
  auto dg = j.find("digest");
  if (dg == j.end() || !dg->is_string()) return bad("no digest");
  const std::string& digest = dg->get_ref<const std::string&>();
  if (digest.rfind("sha256:", 0) != 0 || !IsHex64(std::string_view(digest).substr(7))) {
    return bad("digest (not sha256:<64 lower-case hex digits>)");
  }
  b.sha256 = digest.substr(7);
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_unsigned() || sz->get<uint64_t>() > kMaxBlobSize) {
    return bad("size");
  }
  b.size = sz->get<uint64_t>();
  return b;
}

}  // namespace

bool OllamaName::OnHub() const { return IEquals(host, "hf.co") || IEquals(host, "huggingface.co"); }

std::string OllamaName::Shortest() const {
  if (host == kOllamaDefaultHost) {
    if (ns == "library") return model + ":" + tag;
    return ns + "/" + model + ":" + tag;
  }
  return Full();
}

std::string OllamaName::Full() const { return host + "/" + ns + "/" + model + ":" + tag; }

Result<ModelRef> OllamaName::ToModelRef() const {
  // A model name holds no ':': a host's port is written "_PORT" ("localhost_5000"), which
  // no host name can end with (DNS names hold no '_').
  std::string stored_host = host;
  if (size_t colon = host.find(':'); colon != std::string::npos) {
    std::string_view port = std::string_view(host).substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return Status::InvalidArgument("invalid registry port in '" + host + "'");
    }
    stored_host[colon] = '_';
  }
  ModelRef ref{stored_host + "/" + ns + "/" + model, tag};
  if (Status s = ValidateModelName(ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(ref.version); !s.ok()) return s;
  return ref;
}

Result<OllamaName> ParseOllamaName(std::string_view text) {
  auto invalid = [&](const Status& why) {
    return Status::InvalidArgument("invalid model name: " + why.message());
  };
  for (std::string_view scheme : {"https://", "http://"}) {
    if (text.substr(0, scheme.size()) == scheme) text.remove_prefix(scheme.size());
  }
  if (text.empty()) return Status::InvalidArgument("invalid model name: it is empty");
  if (text.find('@') != text.npos) {
    return Status::InvalidArgument("invalid model name: a digest ('@sha256:...') is not supported");
  }
  OllamaName name;
  const size_t slash = text.rfind('/');
  const size_t colon = text.rfind(':');
  if (colon != text.npos && (slash == text.npos || colon > slash)) {
    name.tag = std::string(text.substr(colon + 1));
    text = text.substr(0, colon);
    if (Status s = CheckPart("tag", name.tag, 80, false); !s.ok()) return invalid(s);
  }
  std::vector<std::string_view> parts = Split(text, '/');
  if (parts.size() > 3) {
    return Status::InvalidArgument("invalid model name: at most host/namespace/model");
  }
  name.model = std::string(parts.back());
  if (Status s = CheckPart("model", name.model, 80, false); !s.ok()) return invalid(s);
  if (parts.size() >= 2) {
    name.ns = std::string(parts[parts.size() - 2]);
    if (Status s = CheckPart("namespace", name.ns, 80, false); !s.ok()) return invalid(s);
  }
  if (parts.size() == 3) {
    name.host = std::string(parts[0]);
    if (Status s = CheckPart("host", name.host, 350, true); !s.ok()) return invalid(s);
    // No DNS name holds '_' (and a stored name writes a port as "_PORT": ToModelRef).
    if (name.host.find('_') != std::string::npos) {
      return Status::InvalidArgument("invalid model name: the host may not contain '_'");
    }
  }
  return name;
}

std::optional<OllamaName> OllamaNameOf(const ModelRef& ref) {
  std::vector<std::string_view> parts = Split(ref.name, '/');
  if (parts.size() != 3) return std::nullopt;
  std::string host(parts[0]);
  // "host_PORT" is "host:PORT" (ToModelRef).
  if (size_t u = host.rfind('_');
      u != std::string::npos && u + 1 < host.size() &&
      host.find_first_not_of("0123456789", u + 1) == std::string::npos) {
    host[u] = ':';
  }
  if (host.find('.') == std::string::npos && host.find(':') == std::string::npos &&
      host != "localhost") {
    return std::nullopt;  // "org/repo"-like names, not a registry's
  }
  OllamaName name;
  name.host = std::move(host);
  name.ns = std::string(parts[1]);
  name.model = std::string(parts[2]);
  name.tag = ref.version;
  return name;
}

Result<OllamaManifest> ParseOllamaManifest(std::string_view body) {
  auto doc = ParseJson(body, "the registry's manifest");
  if (!doc.has_value()) return Status::Corrupt(doc.error().message());
  const nlohmann::json& j = *doc;
  if (!j.is_object()) return Status::Corrupt("the registry's manifest is not a JSON object");
  OllamaManifest m;
  auto cfg = j.find("config");
  if (cfg == j.end()) return Status::Corrupt("the registry's manifest has no config");
  auto config = ParseBlob(*cfg, "config");
  if (!config.has_value()) return config.error();
  m.config = *config;
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array() || layers->empty() || layers->size() > kMaxLayers) {
    return Status::Corrupt("the registry's manifest has no list of 1 to 1024 layers");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    auto b = ParseBlob((*layers)[i], "layer " + std::to_string(i + 1));
    if (!b.has_value()) return b.error();
    m.layers.push_back(*b);
  }
  return m;
}

}  // namespace modeld
