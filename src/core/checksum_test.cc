#include "core/checksum.h"

#include <gtest/gtest.h>

namespace modeld {
namespace {

TEST(ChecksumTest, ParsesPrefixedForms) {
  struct Case {
    const char* text;
    HashAlgorithm algo;
    size_t len;
  } cases[] = {
      {"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
       HashAlgorithm::kSha256, 64},
      {"SHA-256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       HashAlgorithm::kSha256, 64},
      {"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", HashAlgorithm::kSha1, 40},
      {"md5:d41d8cd98f00b204e9800998ecf8427e", HashAlgorithm::kMd5, 32},
      {"sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0"
       "ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
       HashAlgorithm::kSha512, 128},
      {"  d41d8cd98f00b204e9800998ecf8427e\n", HashAlgorithm::kMd5, 32},
  };
  for (const auto& c : cases) {
    auto r = ParseChecksum(c.text);
    ASSERT_TRUE(r.has_value()) << c.text << ": " << r.error().ToString();
    EXPECT_EQ(r->algorithm, c.algo) << c.text;
    EXPECT_EQ(r->hex.size(), c.len);
    EXPECT_EQ(r->hex.find_first_of("ABCDEF"), std::string::npos) << "hex is lower-cased";
  }
}

TEST(ChecksumTest, RejectsBadInput) {
  const char* bad[] = {
      "",
      "sha256:",
      "sha256:abc",
      "crc32:deadbeef",
      "sha256:zz3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8",
      "abc123def456",
      "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  };
  for (const char* text : bad) {
    auto r = ParseChecksum(text);
    EXPECT_FALSE(r.has_value()) << text;
    if (!r.has_value()) {
      EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
    }
  }
}

TEST(ChecksumTest, HashesKnownVectors) {
  EXPECT_EQ(HashHex(HashAlgorithm::kSha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashHex(HashAlgorithm::kSha1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(HashHex(HashAlgorithm::kMd5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  // `echo hello | git hash-object --stdin`
  EXPECT_EQ(HashHex(HashAlgorithm::kGitSha1, "hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a");
  Hasher g(HashAlgorithm::kGitSha1, 6);
  g.Update("hel", 3);
  g.Reset();  // the prefix is fed again
  g.Update("hello\n", 6);
  EXPECT_EQ(g.FinishHex(), "ce013625030ba8dba906f756967f9e9ca394464a");
  auto parsed = ParseChecksum("git-sha1:CE013625030BA8DBA906F756967F9E9CA394464A");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->algorithm, HashAlgorithm::kGitSha1);
  Hasher h(HashAlgorithm::kSha256);
  h.Update("a", 1);
  h.Update("bc", 2);
  EXPECT_EQ(h.FinishHex(), HashHex(HashAlgorithm::kSha256, "abc"));
  h.Reset();
  EXPECT_EQ(h.FinishHex(), HashHex(HashAlgorithm::kSha256, ""));
}

}  // namespace
}  // namespace modeld
