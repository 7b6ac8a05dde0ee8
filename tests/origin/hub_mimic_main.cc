// modeld_hub_mimic: the Hugging Face Hub mimic (hub_mimic.h: its API on one origin, its
// CDN on another) as a standalone server, for the Node client tests of the Hub mirror.
// Usage: modeld_hub_mimic REPOS.json, where REPOS.json is
//
//   {"repos": [{"id": "org/name", "commit": "<40 hex>", "refs": ["main"],
//               "gated_token": "",                      (optional)
//               "files": [{"path": "config.json", "text": "{...}"},
//                         {"path": "model.safetensors", "file": "/abs/path", "lfs": true}]}],
//    "page_size": 1000,                                  (optional: tree entries a page)
//    "rate": 0}                                          (optional: CDN bytes/s a connection)
//
// It prints one line, {"api":"http://127.0.0.1:P","cdn":"http://127.0.0.1:Q"}, then serves
// until SIGTERM or SIGINT, or until its stdin reaches EOF (so it dies with the test that
// spawned it). The API origin also answers GET /_ctl/bytes with {"bytes": N}: the body
// bytes both origins have written so far (what a mirror fetched). Exit status: 0 when
// stopped, 2 on a bad file, 64 on bad usage.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hub_mimic.h"
#include "origin.h"

using modeld::testing::HubMimic;
using modeld::testing::HubRepoFile;
using modeld::testing::SimpleResponse;
using modeld::testing::TestOrigin;
using nlohmann::json;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: modeld_hub_mimic REPOS.json\n");
    return 64;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread: sigwait below takes them
  signal(SIGPIPE, SIG_IGN);

  TestOrigin api, cdn;
  HubMimic hub(api, &cdn);
  try {
    json doc = json::parse(ReadFile(argv[1]));
    hub.SetPageSize(doc.value("page_size", size_t{1000}));
    uint64_t rate = doc.value("rate", uint64_t{0});
    for (const auto& r : doc.at("repos")) {
      std::vector<HubRepoFile> files;
      for (const auto& f : r.at("files")) {
        HubRepoFile file{f.at("path"), "", f.value("lfs", false)};
        file.content =
            f.contains("file") ? ReadFile(f.at("file")) : f.at("text").get<std::string>();
        files.push_back(std::move(file));
      }
      std::vector<std::string> contents;
      for (const auto& f : files) {
        if (f.lfs) contents.push_back(f.content);
      }
      hub.AddRepo(r.at("id"), r.at("commit"), r.value("refs", std::vector<std::string>{"main"}),
                  std::move(files), r.value("gated_token", ""));
      if (rate > 0) {
        for (const auto& c : contents) {
          cdn.Update(hub.CdnPath(c), [rate](modeld::testing::FileSpec& s) { s.rate = rate; });
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modeld_hub_mimic: %s: %s\n", argv[1], e.what());
    return 2;
  }
  api.Handle("/_ctl/bytes", [&api, &cdn](const std::string&, const std::string&,
                                         const std::map<std::string, std::string>&) {
    return SimpleResponse{200,
                          {{"Content-Type", "application/json"}},
                          json{{"bytes", api.BodyBytes() + cdn.BodyBytes()}}.dump()};
  });
  std::printf("%s\n",
              nlohmann::ordered_json{{"api", hub.Endpoint()}, {"cdn", cdn.Url("")}}.dump().c_str());
  std::fflush(stdout);
  std::thread([] {
    char buf[256];
    while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();
  int sig = 0;
  sigwait(&set, &sig);
  api.Stop();
  cdn.Stop();
  return 0;
}
