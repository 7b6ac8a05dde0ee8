// Integrity through the CLI (issue 11): a corrupt blob is never kept over a good one nor
// reused, `verify` says how to repair a broken model and `pull` repairs it, and `ls`,
// `info NAME` and `info NAME:VERSION` give one answer about a model whose files changed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "hub_mimic.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;

// Overwrites bytes of |file| in place: same inode, same size, other bytes (blobs and the
// hard links to them are read-only, so it is made writable first). With |keep_mtime| its
// modification time is put back, as bit rot would leave it: only a full hash can tell.
void CorruptInPlace(const fs::path& file, bool keep_mtime = false) {
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0) << file;
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << file;
  ASSERT_EQ(::pwrite(fd, "CORRUPT", 7, 100), 7);
  ::close(fd);
  ::chmod(file.c_str(), st.st_mode & 07777);
  if (keep_mtime) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  }
}

// Replaces |file| with another file of the same size (a new inode; the blob is untouched).
void ReplaceFile(const fs::path& file) {
  uint64_t size = fs::file_size(file);
  fs::remove(file);
  std::ofstream(file, std::ios::binary) << std::string(size, 'x');
}

class IntegrityCliTest : public ::testing::Test {
 protected:
  // Runs `modeld --data-dir D args... --json`, expects |want_rc| and parses stdout.
  nlohmann::json Json(std::vector<std::string> args, int want_rc = 0) {
    return RunModeldJson(std::move(args), data_, dir_.path(), want_rc);
  }
  int Run(std::vector<std::string> args, std::string* out = nullptr, std::string* err = nullptr) {
    args.insert(args.begin(), {"--data-dir", data_.string()});
    return RunModeld(args, dir_.path(), out, err);
  }
  // Puts |data| at |path| on the origin and pulls it as |ref| (with its sha256 if asked).
  void Pull(const std::string& path, const std::string& data, const std::string& ref,
            bool with_sha256 = true) {
    origin_.Put(path, {.content = data});
    std::vector<std::string> args = {"pull", "-q", origin_.Url(path), "--name", ref};
    if (with_sha256) args.insert(args.end(), {"--sha256", Sha256Hex(data)});
    std::string err;
    ASSERT_EQ(Run(args, nullptr, &err), 0) << err;
  }
  fs::path BlobFile(const std::string& data) const {
    return data_ / "blobs" / "sha256" / Sha256Hex(data);
  }
  fs::path ModelFile(const std::string& name, const std::string& version,
                     const std::string& file) const {
    return data_ / "models" / name / version / file;
  }
  // The status ls, info NAME and info NAME:VERSION give |name|:|version|, in that order.
  std::vector<std::string> Statuses(const std::string& name, const std::string& version) {
    std::vector<std::string> out;
    auto ls = Json({"ls"});
    for (const auto& m : ls["models"]) {
      if (m["name"] == name && m["version"] == version) out.push_back(m["status"]);
    }
    if (out.empty()) out.push_back("<not listed>");
    auto all = Json({"info", name});
    if (all.contains("versions")) {
      for (const auto& m : all["versions"]) {
        if (m["version"] == version) out.push_back(m["status"]);
      }
    } else {
      out.push_back(all.value("status", "<none>"));
    }
    out.push_back(Json({"info", name + ":" + version}).value("status", "<none>"));
    return out;
  }

  TestOrigin origin_;
  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
};

using Three = std::vector<std::string>;

// `pull --force` downloads and verifies the right bytes: they must end up in blobs/, not
// be dropped in favour of the corrupt blob that already had their digest.
TEST_F(IntegrityCliTest, ForcePullReplacesACorruptBlob) {
  std::string data = RandomBytes(kMiB, 1);
  Pull("/w.bin", data, "w:v1");
  CorruptInPlace(BlobFile(data));
  ASSERT_NE(FileSha256(BlobFile(data)), Sha256Hex(data));
  std::string err;
  ASSERT_EQ(Run({"pull", "-q", "--force", origin_.Url("/w.bin"), "--name", "w:v1", "--sha256",
                 Sha256Hex(data)},
                nullptr, &err),
            0)
      << err;
  EXPECT_EQ(FileSha256(BlobFile(data)), Sha256Hex(data)) << "the verified download wins";
  EXPECT_EQ(FileSha256(ModelFile("w", "v1", "w.bin")), Sha256Hex(data));
  EXPECT_EQ(Json({"verify", "w:v1"})["ok"], true);
}

// Bit rot keeps the size, the inode and the modification time: nothing but a hash can
// tell. `--force` fetches again and replaces whatever is there.
TEST_F(IntegrityCliTest, ForcePullReplacesEvenABlobThatLooksUnchanged) {
  std::string data = RandomBytes(kMiB, 2);
  Pull("/w.bin", data, "w:v1");
  CorruptInPlace(BlobFile(data), /*keep_mtime=*/true);
  std::string err;
  ASSERT_EQ(Run({"pull", "-q", "--force", origin_.Url("/w.bin"), "--name", "w:v1", "--sha256",
                 Sha256Hex(data)},
                nullptr, &err),
            0)
      << err;
  EXPECT_EQ(FileSha256(BlobFile(data)), Sha256Hex(data));
  EXPECT_EQ(FileSha256(ModelFile("w", "v1", "w.bin")), Sha256Hex(data));
}

// Another model with the same file: the corrupt blob is not reused (by its sha256, nor by
// the memo of the URL that produced it); the file is fetched again.
TEST_F(IntegrityCliTest, APullDoesNotReuseACorruptBlob) {
  for (bool with_sha256 : {true, false}) {
    SCOPED_TRACE(with_sha256 ? "by sha256" : "by the URL's memo");
    std::string data = RandomBytes(kMiB, with_sha256 ? 3 : 4);
    std::string path = with_sha256 ? "/a.bin" : "/b.bin";
    Pull(path, data, with_sha256 ? "a:v1" : "b:v1", with_sha256);
    CorruptInPlace(BlobFile(data));
    std::string copy = with_sha256 ? "acopy" : "bcopy";
    Pull(path, data, copy + ":v1", with_sha256);
    EXPECT_EQ(FileSha256(ModelFile(copy, "v1", path.substr(1))), Sha256Hex(data));
    EXPECT_EQ(FileSha256(BlobFile(data)), Sha256Hex(data));
  }
}

// A broken model: verify says it is, how to repair it, and exits 5; pulling it again
// repairs it (it is not "already installed").
TEST_F(IntegrityCliTest, VerifySaysHowToRepairAndPullRepairs) {
  struct Case {
    const char* what;
    std::function<void(const fs::path& model_file, const fs::path& blob)> breakage;
  };
  const std::vector<Case> cases = {
      {"deleted", [](const fs::path& f, const fs::path&) { fs::remove(f); }},
      {"replaced", [](const fs::path& f, const fs::path&) { ReplaceFile(f); }},
      {"changed in place", [](const fs::path& f, const fs::path&) { CorruptInPlace(f); }},
      {"rotten blob", [](const fs::path&, const fs::path& b) { CorruptInPlace(b, true); }},
  };
  int seed = 10;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    std::string data = RandomBytes(kMiB, seed++);
    std::string name = "w" + std::to_string(seed);
    std::string path = "/" + name + ".bin";
    Pull(path, data, name + ":v1");
    c.breakage(ModelFile(name, "v1", name + ".bin"), BlobFile(data));

    std::string out, err;
    EXPECT_EQ(Run({"verify", name + ":v1"}, &out, &err), 5) << out << err;
    EXPECT_NE(out.find("BROKEN"), std::string::npos) << out;
    EXPECT_NE(out.find("modeld pull " + name + ":v1"), std::string::npos)
        << "says how to repair it:\n"
        << out;
    auto v = Json({"verify", name + ":v1"}, 5);
    EXPECT_EQ(v["models"][0]["repair"], "modeld pull " + name + ":v1") << v.dump();

    ASSERT_EQ(Run({"pull", "-q", origin_.Url(path), "--name", name + ":v1"}, nullptr, &err), 0)
        << err;
    EXPECT_EQ(FileSha256(ModelFile(name, "v1", name + ".bin")), Sha256Hex(data));
    EXPECT_EQ(Json({"verify", name + ":v1"})["ok"], true);
    EXPECT_EQ(Statuses(name, "v1"), Three(3, "available"));
  }
}

// A Hub model whose blob rotted: the pull that repairs it repairs the Hugging Face cache's
// copy too (a hard link to the old, corrupt file until then), which transformers and
// llama.cpp read.
TEST_F(IntegrityCliTest, RepairingAHubModelRepairsTheHubCache) {
  HubOrigins hub;
  const std::string commit(40, 'c');
  AddTinyRepos(hub.hub, commit);
  const std::vector<std::string> env = {"HF_ENDPOINT=" + hub.hub.Endpoint(),
                                        "MODELD_URL=http://127.0.0.1:1"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_.string()});
    std::string err;
    int rc = RunModeldEnv(args, dir_.path(), env, nullptr, &err);
    return std::make_pair(rc, err);
  };
  auto [rc, err] = run({"pull", "-q", "org/tiny", "--include", "*.safetensors"});
  ASSERT_EQ(rc, 0) << err;
  const fs::path hf_file = dir_ / "hf-cache" / "models--org--tiny" / "snapshots" / commit /
                           "model.safetensors";  // the child's HF_HUB_CACHE (subprocess.h)
  ASSERT_EQ(FileSha256(hf_file), Sha256Hex(TinyWeights()));
  CorruptInPlace(BlobFile(TinyWeights()), true);
  EXPECT_NE(FileSha256(hf_file), Sha256Hex(TinyWeights())) << "one file, linked twice";
  std::tie(rc, err) = run({"verify"});
  EXPECT_EQ(rc, 5) << err;
  std::tie(rc, err) = run({"pull", "-q", "org/tiny", "--include", "*.safetensors"});
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(FileSha256(BlobFile(TinyWeights())), Sha256Hex(TinyWeights()));
  EXPECT_EQ(FileSha256(hf_file), Sha256Hex(TinyWeights()));
}

// The repair verify suggests, `modeld pull NAME:VERSION`, works for a model installed
// from a URL: the URL it came from is recorded.
TEST_F(IntegrityCliTest, PullByNameRepairsFromTheRecordedUrl) {
  std::string data = RandomBytes(kMiB, 20);
  Pull("/models/w.bin", data, "w:v1");
  fs::remove(ModelFile("w", "v1", "w.bin"));
  std::string err;
  ASSERT_EQ(Run({"pull", "-q", "w:v1"}, nullptr, &err), 0) << err;
  EXPECT_EQ(FileSha256(ModelFile("w", "v1", "w.bin")), Sha256Hex(data));
  // Intact now: asking again is "already installed", as before (success, nothing fetched).
  EXPECT_EQ(Run({"pull", "w:v1"}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("already installed"), std::string::npos) << err;
}

// ls, info NAME and info NAME:VERSION make the same check and give one answer.
TEST_F(IntegrityCliTest, LsAndInfoGiveOneAnswer) {
  std::string a = RandomBytes(kMiB, 30), b = RandomBytes(kMiB, 31), c = RandomBytes(kMiB, 32);
  Pull("/a.bin", a, "a:v1");
  Pull("/b.bin", b, "b:v1");
  Pull("/c.bin", c, "c:v1");
  Pull("/c.bin", c, "c:v2");
  EXPECT_EQ(Statuses("a", "v1"), Three(3, "available"));
  fs::remove(ModelFile("a", "v1", "a.bin"));
  EXPECT_EQ(Statuses("a", "v1"), Three(3, "broken")) << "a file deleted";
  ReplaceFile(ModelFile("b", "v1", "b.bin"));
  EXPECT_EQ(Statuses("b", "v1"), Three(3, "broken")) << "a file replaced, same size";
  CorruptInPlace(ModelFile("c", "v1", "c.bin"));
  EXPECT_EQ(Statuses("c", "v1"), Three(3, "broken")) << "a file changed in place";
  EXPECT_EQ(Statuses("c", "v2"), Three(3, "broken")) << "v2 shares that file's blob";
  // What is wrong is shown too.
  auto info = Json({"info", "a:v1"});
  ASSERT_TRUE(info["problems"].is_array()) << info.dump();
  EXPECT_NE(info["problems"][0].get<std::string>().find("a.bin: missing"), std::string::npos)
      << info.dump();
  std::string out;
  ASSERT_EQ(Run({"info", "b:v1"}, &out), 0);
  EXPECT_NE(out.find("changed"), std::string::npos) << out;
  EXPECT_NE(out.find("modeld pull b:v1"), std::string::npos) << out;
}

TEST_F(IntegrityCliTest, HelpSaysWhatEachCommandChecks) {
  std::string out;
  ASSERT_EQ(Run({"ls", "--help"}, &out), 0);
  EXPECT_NE(out.find("without reading"), std::string::npos) << out;
  EXPECT_NE(out.find("modeld verify"), std::string::npos) << out;
  ASSERT_EQ(Run({"info", "--help"}, &out), 0);
  EXPECT_NE(out.find("as ls does"), std::string::npos) << out;
  ASSERT_EQ(Run({"verify", "--help"}, &out), 0);
  EXPECT_NE(out.find("every byte"), std::string::npos) << out;
  EXPECT_NE(out.find("modeld pull"), std::string::npos) << "names the repair:\n" << out;
}

}  // namespace
}  // namespace modeld::testing
