// Registers N models in a data dir for benchmarks: modeld_bench_populate DATA_DIR N.
// Each model has two small files; blobs are shared between models, as in real caches.
#include <cstdio>
#include <fstream>
#include <string>

#include "core/checksum.h"
#include "store/store.h"

int main(int argc, char** argv) {
  using namespace modeld;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR N\n", argv[0]);
    return 2;
  }
  store::StoreOptions opts;
  opts.data_dir = argv[1];
  opts.hf_cache = std::string(argv[1]) + "/hf";
  auto st = store::Store::Open(opts);
  if (!st.has_value()) {
    std::fprintf(stderr, "%s\n", st.error().ToString().c_str());
    return 1;
  }
  auto& s = **st;
  std::vector<store::FileEntry> blobs;
  for (int i = 0; i < 16; ++i) {
    std::string content = "weights " + std::to_string(i) + std::string(4096, 'w');
    std::string sha = HashHex(HashAlgorithm::kSha256, content);
    auto tmp = opts.data_dir / ("tmp" + std::to_string(i));
    std::ofstream(tmp, std::ios::binary) << content;
    if (!s.AdoptBlob(tmp, sha).ok()) return 1;
    blobs.push_back({"", content.size(), sha});
  }
  int n = std::stoi(argv[2]);
  for (int i = 0; i < n; ++i) {
    store::InstallSpec spec;
    spec.ref = {"org" + std::to_string(i % 100) + "/model-" + std::to_string(i), "v1"};
    spec.source = "bench";
    spec.description = "benchmark model";
    spec.tags = {"bench"};
    auto a = blobs[i % 16], b = blobs[(i + 1) % 16];
    a.path = "model.bin";
    b.path = "config.json";
    spec.files = {a, b};
    auto r = s.Install(spec);
    if (!r.has_value()) {
      std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
      return 1;
    }
  }
  return 0;
}
