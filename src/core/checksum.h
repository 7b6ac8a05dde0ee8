// Checksums: parsing "algo:HEX" strings and incremental hashing with OpenSSL.
//
// Thread safety: Checksum is a value. A Hasher is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace modeld {

// kGitSha1 is git's blob id: SHA-1 of "blob <size>\0" followed by the content, which the
// Hugging Face Hub gives for files not stored in LFS. Hashing it needs the size up front.
enum class HashAlgorithm { kSha256, kSha512, kSha1, kMd5, kGitSha1 };

std::string_view HashAlgorithmName(HashAlgorithm algo);  // "sha256"
size_t HashHexLength(HashAlgorithm algo);                // 64 for sha256

struct Checksum {
  HashAlgorithm algorithm = HashAlgorithm::kSha256;
  std::string hex;  // lower case

  std::string ToString() const;  // "sha256:abcd..."
  bool operator==(const Checksum&) const = default;
};

// Parses "sha256:HEX", "sha512:HEX", "sha1:HEX", "md5:HEX", "git-sha1:HEX"
// (case-insensitive, also "sha-256:"), or a bare hex string whose length names the
// algorithm (64 -> sha256, 128 -> sha512, 40 -> sha1, 32 -> md5).
// Returns InvalidArgument naming what is wrong.
Result<Checksum> ParseChecksum(std::string_view text);

class Hasher {
 public:
  // REQUIRES: |git_blob_size| is set for kGitSha1 (the content's size).
  explicit Hasher(HashAlgorithm algo, std::optional<uint64_t> git_blob_size = std::nullopt);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  HashAlgorithm algorithm() const { return algo_; }
  void Update(const void* data, size_t size);
  // Returns the lower-case hex digest. The hasher must not be updated afterwards.
  std::string FinishHex();
  // Starts again from the empty input.
  void Reset();

 private:
  HashAlgorithm algo_;
  std::optional<uint64_t> git_blob_size_;
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Convenience: the hex digest of |data| (kGitSha1 uses data.size()).
std::string HashHex(HashAlgorithm algo, std::string_view data);

}  // namespace modeld
