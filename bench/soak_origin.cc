// modeld_bench_soak_origin: the test origin and the Hub mimic (tests/origin) as a standalone
// server, for bench/soak.sh. Each pull of the soak gets new content (so the store's
// de-duplication never turns a pull into a no-op), made on request:
//
//   GET /_ctl/new?kind=single|tar.gz|zip|hub&id=N&size=BYTES
//     -> {"url", "sha256" (single, archives: of the bytes served) | "repo": "soak/hub-N",
//         "download_size": bytes a pull fetches once,
//         "files": [{"path", "size", "sha256"}...]}   the files a model ends up with
//   GET /_ctl/bytes?id=N  -> {"bytes": body bytes served for pull N so far (all origins)}
//   GET /_ctl/drop?id=N   -> forgets pull N's file and archive bytes (memory)
//
// Files are served at RATE bytes a second per connection (--rate, default 1 MiB/s), so a
// pull takes a few seconds and a kill lands in the middle. Prints one line,
// "files http://127.0.0.1:P hub http://127.0.0.1:Q", then serves until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "archive_writer.h"
#include "hub_mimic.h"
#include "origin.h"

using modeld::testing::ArchiveBytes;
using modeld::testing::ArchiveItem;
using modeld::testing::FileSpec;
using modeld::testing::HubMimic;
using modeld::testing::HubRepoFile;
using modeld::testing::RandomBytes;
using modeld::testing::Sha256Hex;
using modeld::testing::SimpleResponse;
using modeld::testing::TestOrigin;
using nlohmann::json;

namespace {

std::map<std::string, std::string> Query(const std::string& target) {
  std::map<std::string, std::string> q;
  auto at = target.find('?');
  if (at == std::string::npos) return q;
  std::string rest = target.substr(at + 1);
  size_t i = 0;
  while (i <= rest.size()) {
    size_t amp = rest.find('&', i);
    if (amp == std::string::npos) amp = rest.size();
    std::string kv = rest.substr(i, amp - i);
    auto eq = kv.find('=');
    if (eq != std::string::npos) q[kv.substr(0, eq)] = kv.substr(eq + 1);
    i = amp + 1;
  }
  return q;
}

SimpleResponse Json(int status, const json& j) {
  return {status, {{"Content-Type", "application/json"}}, j.dump()};
}

struct Pull {
  std::vector<std::pair<TestOrigin*, std::string>> paths;  // where its bytes are served from
};

}  // namespace

int main(int argc, char** argv) {
  uint64_t rate = 1 << 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rate" && i + 1 < argc) {
      rate = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr,
                   "usage: modeld_bench_soak_origin [--rate BYTES_PER_SECOND_PER_CONNECTION]\n");
      return 64;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  TestOrigin files, api, cdn;
  HubMimic hub(api, &cdn);
  std::mutex mu;
  std::map<std::string, Pull> pulls;

  files.Handle(
      "/_ctl/",
      [&](const std::string&, const std::string& target,
          const std::map<std::string, std::string>&) -> SimpleResponse {
        auto q = Query(target);
        const std::string id = q["id"];
        if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
          return Json(400, {{"detail", "id=N needed"}});
        }
        uint64_t seed = std::strtoull(id.c_str(), nullptr, 10) * 1000 + 7;
        if (target.rfind("/_ctl/bytes", 0) == 0) {
          std::lock_guard<std::mutex> lock(mu);
          uint64_t n = 0;
          for (const auto& [origin, path] : pulls[id].paths) n += origin->BodyBytes(path);
          return Json(200, {{"bytes", n}});
        }
        if (target.rfind("/_ctl/drop", 0) == 0) {
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& [origin, path] : pulls[id].paths) {
            if (origin == &files)
              origin->Update(path, [](FileSpec& s) { std::string().swap(s.content); });
          }
          return Json(200, {{"dropped", id}});
        }
        if (target.rfind("/_ctl/new", 0) != 0) return Json(404, {{"detail", "unknown"}});
        const std::string kind = q["kind"];
        uint64_t size = std::strtoull(q["size"].c_str(), nullptr, 10);
        if (size < 1024) size = 1024;
        json out;
        out["files"] = json::array();
        Pull pull;
        auto describe = [&](const std::string& path, const std::string& content) {
          out["files"].push_back(
              {{"path", path}, {"size", content.size()}, {"sha256", Sha256Hex(content)}});
        };
        if (kind == "single") {
          std::string path = "/s/soak-" + id + ".bin";
          std::string content = RandomBytes(size, seed);
          describe("soak-" + id + ".bin", content);
          out["sha256"] = Sha256Hex(content);
          out["download_size"] = content.size();
          files.Put(path, {.content = std::move(content), .rate = rate});
          pull.paths.emplace_back(&files, path);
          out["url"] = files.Url(path);
        } else if (kind == "tar.gz" || kind == "zip") {
          std::vector<ArchiveItem> items = {
              {.path = "weights/part-0.bin", .data = RandomBytes(size / 2, seed + 1)},
              {.path = "weights/part-1.bin", .data = RandomBytes(size / 3, seed + 2)},
              {.path = "README.txt", .data = "soak archive " + id + "\n"},
          };
          for (const auto& it : items) describe(it.path, it.data);
          std::string path = "/a/soak-" + id + "." + kind;
          std::string archive = ArchiveBytes(items, kind);
          out["download_size"] = archive.size();
          out["sha256"] = Sha256Hex(archive);
          files.Put(path, {.content = std::move(archive), .rate = rate});
          pull.paths.emplace_back(&files, path);
          out["url"] = files.Url(path);
        } else if (kind == "hub") {
          std::string repo = "soak/hub-" + id;
          char commit[41];
          std::snprintf(commit, sizeof commit, "%040llx", static_cast<unsigned long long>(seed));
          std::vector<HubRepoFile> repo_files = {
              {"config.json", "{\"model_type\": \"soak\", \"id\": " + id + "}", false},
              {"tokenizer.json", "{\"vocab\": [\"a\", \"b\", \"" + id + "\"]}", false},
              {"model-00001-of-00002.safetensors", RandomBytes(size / 2, seed + 1), true},
              {"model-00002-of-00002.safetensors", RandomBytes(size / 2, seed + 2), true},
          };
          uint64_t total = 0;
          for (const auto& f : repo_files) {
            describe(f.path, f.content);
            total += f.content.size();
            if (f.lfs) {
              pull.paths.emplace_back(&cdn, hub.CdnPath(f.content));
            } else {
              pull.paths.emplace_back(&api, "/" + repo + "/resolve/" + commit + "/" + f.path);
              pull.paths.emplace_back(&api, "/" + repo + "/resolve/main/" + f.path);
            }
          }
          std::vector<std::string> cdn_paths;
          for (const auto& f : repo_files) {
            if (f.lfs) cdn_paths.push_back(hub.CdnPath(f.content));
          }
          hub.AddRepo(repo, commit, {"main"}, std::move(repo_files));
          for (const auto& p : cdn_paths) cdn.Update(p, [&](FileSpec& s) { s.rate = rate; });
          out["download_size"] = total;
          out["repo"] = repo;
          out["commit"] = commit;
        } else {
          return Json(400, {{"detail", "kind: single, tar.gz, zip or hub"}});
        }
        std::lock_guard<std::mutex> lock(mu);
        pulls[id] = std::move(pull);
        return Json(200, out);
      });

  std::printf("files %s hub %s\n", files.Url("").c_str(), api.Url("").c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  files.Stop();
  api.Stop();
  cdn.Stop();
  return 0;
}
