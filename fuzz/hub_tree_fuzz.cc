// The Hugging Face Hub's recursive tree listing (one page of it, from the Hub or a
// mirror named by HF_ENDPOINT): sources::ParseHubTree, then sources::SelectHubFiles.
//
// Invariants: a refused page is Corrupt, never an exception; every file has a path that
// passes ValidateRelativePath, and a resolve URL on the endpoint whose decoded path is
// the repository, "resolve", the commit and the file's own path segments (so the bytes
// fetched are those of the file listed); an LFS digest only with an "lfs" entry;
// selecting everything keeps every file, sorted by path.
#include <string>

#include "core/names.h"
#include "fuzz_check.h"
#include "net/http.h"
#include "sources/huggingface.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view body = fuzz::AsText(data, size);
  const std::string endpoint = "https://hub.example", repo = "org/repo", commit = "0123abcd";
  auto files = sources::ParseHubTree(body, repo, commit, endpoint);
  if (!files.has_value()) {
    FUZZ_CHECK(files.error().code() == Status::Code::kCorrupt);
    return 0;
  }
  for (const auto& f : *files) {
    FUZZ_CHECK(ValidateRelativePath(f.path).ok());
    FUZZ_CHECK(net::UrlOrigin(f.url) == "https://hub.example:443");
    auto segs = net::UrlPathSegments(f.url);
    FUZZ_CHECK(segs.has_value());
    std::vector<std::string> want = {"org", "repo", "resolve", commit};
    for (size_t pos = 0;;) {
      size_t slash = f.path.find('/', pos);
      want.push_back(
          f.path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    FUZZ_CHECK(*segs == want);
    if (f.lfs()) FUZZ_CHECK(body.find("\"lfs\"") != std::string_view::npos);
  }
  if (files->empty()) return 0;
  sources::HubPlan listing;
  listing.repo_id = repo;
  listing.revision = "main";
  listing.commit = commit;
  listing.files = *files;
  auto all = sources::SelectHubFiles(listing, {});
  FUZZ_CHECK(all.has_value() && all->files.size() == files->size());
  for (size_t i = 1; i < all->files.size(); ++i)
    FUZZ_CHECK(all->files[i - 1].path <= all->files[i].path);
  return 0;
}
