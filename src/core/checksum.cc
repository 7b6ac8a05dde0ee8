#include "core/checksum.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

namespace modeld {

std::string_view HashAlgorithmName(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::kSha256:
      return "sha256";
    case HashAlgorithm::kSha512:
      return "sha512";
    case HashAlgorithm::kSha1:
      return "sha1";
    case HashAlgorithm::kMd5:
      return "md5";
    case HashAlgorithm::kGitSha1:
      return "git-sha1";
  }
  return "?";
}

size_t HashHexLength(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::kSha256:
      return 64;
    case HashAlgorithm::kSha512:
      return 128;
    case HashAlgorithm::kSha1:
      return 40;
    case HashAlgorithm::kMd5:
      return 32;
    case HashAlgorithm::kGitSha1:
      return 40;
  }
  return 0;
}

std::string Checksum::ToString() const {
  return std::string(HashAlgorithmName(algorithm)) + ":" + hex;
}

Result<Checksum> ParseChecksum(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  if (text.empty()) return Status::InvalidArgument("checksum is empty");
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

  Checksum sum;
  std::string_view hex = lower;
  size_t colon = lower.find(':');
  if (colon != std::string::npos) {
    std::string algo = lower.substr(0, colon);
    algo.erase(std::remove(algo.begin(), algo.end(), '-'), algo.end());
    if (algo == "sha256") {
      sum.algorithm = HashAlgorithm::kSha256;
    } else if (algo == "sha512") {
      sum.algorithm = HashAlgorithm::kSha512;
    } else if (algo == "sha1") {
      sum.algorithm = HashAlgorithm::kSha1;
    } else if (algo == "md5") {
      sum.algorithm = HashAlgorithm::kMd5;
    } else if (algo == "gitsha1") {
      sum.algorithm = HashAlgorithm::kGitSha1;
    } else {
      return Status::InvalidArgument("unsupported checksum algorithm '" + algo +
                                     "' (use sha256, sha512, sha1, md5 or git-sha1)");
    }
    hex = std::string_view(lower).substr(colon + 1);
  } else {
    switch (hex.size()) {
      case 64:
        sum.algorithm = HashAlgorithm::kSha256;
        break;
      case 128:
        sum.algorithm = HashAlgorithm::kSha512;
        break;
      case 40:
        sum.algorithm = HashAlgorithm::kSha1;
        break;
      case 32:
        sum.algorithm = HashAlgorithm::kMd5;
        break;
      default:
        return Status::InvalidArgument("checksum '" + std::string(text) +
                                       "' has no algorithm prefix and an unknown length");
    }
  }
  if (hex.size() != HashHexLength(sum.algorithm)) {
    return Status::InvalidArgument(std::string(HashAlgorithmName(sum.algorithm)) +
                                   " checksum must have " +
                                   std::to_string(HashHexLength(sum.algorithm)) +
                                   " hex digits, got " + std::to_string(hex.size()));
  }
  if (!std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(c); })) {
    return Status::InvalidArgument("checksum has a character that is not a hex digit");
  }
  sum.hex = std::string(hex);
  return sum;
}

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
};

static const EVP_MD* MdFor(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::kSha256:
      return EVP_sha256();
    case HashAlgorithm::kSha512:
      return EVP_sha512();
    case HashAlgorithm::kSha1:
      return EVP_sha1();
    case HashAlgorithm::kMd5:
      return EVP_md5();
    case HashAlgorithm::kGitSha1:
      return EVP_sha1();
  }
  return EVP_sha256();
}

Hasher::Hasher(HashAlgorithm algo, std::optional<uint64_t> git_blob_size)
    : algo_(algo), git_blob_size_(git_blob_size), ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  Reset();
}

Hasher::~Hasher() { EVP_MD_CTX_free(ctx_->md); }

void Hasher::Reset() {
  EVP_DigestInit_ex(ctx_->md, MdFor(algo_), nullptr);
  if (algo_ == HashAlgorithm::kGitSha1) {
    std::string prefix = "blob " + std::to_string(git_blob_size_.value_or(0));
    EVP_DigestUpdate(ctx_->md, prefix.data(), prefix.size() + 1);  // with its NUL
  }
}

void Hasher::Update(const void* data, size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

std::string Hasher::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string HashHex(HashAlgorithm algo, std::string_view data) {
  Hasher h(algo,
           algo == HashAlgorithm::kGitSha1 ? std::optional<uint64_t>(data.size()) : std::nullopt);
  h.Update(data.data(), data.size());
  return h.FinishHex();
}

}  // namespace modeld
