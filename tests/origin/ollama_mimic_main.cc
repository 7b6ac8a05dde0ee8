// modeld_ollama_mimic: the Ollama registry mimic (ollama_mimic.h) as a standalone server,
// for the Node client tests. Usage: modeld_ollama_mimic MODELS.json, where MODELS.json is
//
//   {"models": [{"name": "library/tiny",          (a bare "tiny" is "library/tiny")
//                "tags": ["latest", "1b"],        (default ["latest"])
//                "private_token": "",             (optional)
//                "layers": [{"mediaType": "application/vnd.ollama.image.model",
//                            "file": "/abs/path.gguf"},
//                           {"mediaType": "application/vnd.ollama.image.template",
//                            "text": "{{ .Prompt }}"}],
//                "config": "..."}],               (optional: the config blob's bytes)
//    "rate": 1048576,                             (optional: blob bytes/s per connection)
//    "require_token": false}                      (optional: RequireTokenForAll)
//
// It starts a registry origin and a blob-host origin and prints one line,
//   {"registry":"http://127.0.0.1:P","blobs":"http://127.0.0.1:Q"}
// then serves until SIGTERM or SIGINT, or until its stdin reaches EOF (so it dies with the
// test that spawned it; start it with a stdin pipe, not /dev/null). Besides the registry's
// routes, the registry answers GET /_ctl/bytes with {"bytes": N}, the body bytes the blob
// host has written so far. Exit status: 0 when stopped, 2 on a bad file, 64 on bad usage.
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

#include "ollama_mimic.h"
#include "origin.h"

using modeld::testing::OllamaLayer;
using modeld::testing::OllamaMimic;
using modeld::testing::SimpleResponse;
using modeld::testing::TestOrigin;
using nlohmann::json;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Registers every model of |doc| (the MODELS.json above) with |ollama|.
void AddModels(const json& doc, OllamaMimic& ollama) {
  for (const auto& m : doc.at("models")) {
    std::string name = m.at("name");
    if (name.find('/') == std::string::npos) name = "library/" + name;
    std::string ns = name.substr(0, name.find('/'));
    std::string model = name.substr(name.find('/') + 1);
    std::vector<OllamaLayer> layers;
    for (const auto& l : m.at("layers")) {
      OllamaLayer layer{l.at("mediaType"), ""};
      if (l.contains("file")) {
        layer.content = ReadFile(l.at("file"));
      } else {
        layer.content = l.at("text");
      }
      layers.push_back(std::move(layer));
    }
    std::string config;
    if (m.contains("config"))
      config = m["config"].is_string() ? m["config"].get<std::string>() : m["config"].dump();
    std::vector<std::string> tags = m.value("tags", std::vector<std::string>{"latest"});
    std::string token = m.value("private_token", "");
    for (size_t i = 0; i < tags.size(); ++i) {
      // The last tag takes the layers (a GGUF may be large); the others copy them.
      ollama.AddModel(ns, model, tags[i],
                      i + 1 == tags.size() ? std::move(layers) : std::vector<OllamaLayer>(layers),
                      config, token);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: modeld_ollama_mimic MODELS.json\n");
    return 64;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread: sigwait below takes them
  signal(SIGPIPE, SIG_IGN);

  TestOrigin registry, blobs;
  OllamaMimic ollama(registry, &blobs);
  try {
    json doc = json::parse(ReadFile(argv[1]));
    ollama.SetBlobRate(doc.value("rate", uint64_t{0}));
    ollama.RequireTokenForAll(doc.value("require_token", false));
    AddModels(doc, ollama);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modeld_ollama_mimic: %s: %s\n", argv[1], e.what());
    return 2;
  }
  registry.Handle("/_ctl/bytes", [&blobs](const std::string&, const std::string&,
                                          const std::map<std::string, std::string>&) {
    return SimpleResponse{
        200, {{"Content-Type", "application/json"}}, json{{"bytes", blobs.BodyBytes()}}.dump()};
  });

  std::printf("%s\n",
              nlohmann::ordered_json{{"registry", ollama.Endpoint()}, {"blobs", blobs.Url("")}}
                  .dump()
                  .c_str());
  std::fflush(stdout);
  // stdin's EOF stops the server as SIGTERM does (the signal is blocked, so sigwait gets it).
  std::thread([] {
    char buf[256];
    while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();
  int sig = 0;
  sigwait(&set, &sig);
  registry.Stop();
  blobs.Stop();
  return 0;
}
