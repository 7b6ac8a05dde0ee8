#include "cli/errors.h"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/exit_codes.h"
#include "core/error_reasons.h"
#include "core/fs.h"

namespace modeld::cli {

namespace fs = std::filesystem;

namespace {

std::optional<uint64_t> Number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  uint64_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

// The directory |path| names, or the one holding it, nearest existing.
fs::path ExistingDir(fs::path path) {
  std::error_code ec;
  path = fs::absolute(path, ec).lexically_normal();
  while (!fs::is_directory(path, ec) && path.has_relative_path()) path = path.parent_path();
  return path;
}

// Where the file system holding |dir| is mounted: the topmost directory above it on the
// same device.
fs::path MountPoint(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return {};
  fs::path p = dir;
  while (p.has_relative_path()) {
    struct stat up {};
    if (::stat(p.parent_path().c_str(), &up) != 0 || up.st_dev != st.st_dev) break;
    p = p.parent_path();
  }
  return p;
}

// The first word of a model name, to search the catalogs for ("whisper" for "whisper-tiny").
std::string SearchWord(const std::string& name) {
  size_t end = name.find_first_of("-_.:/");
  std::string word = name.substr(0, end);
  return word.empty() ? name : word;
}

std::string NoSpace(const Status::Info& info, const ErrorContext& context) {
  fs::path dir = ExistingDir(info.Get("path"));
  fs::path mount = MountPoint(dir);
  std::optional<uint64_t> available = Number(info.Get("available"));
  if (!available) {
    auto free = AvailableBytes(dir);
    if (free.has_value()) available = *free;
  }
  std::string where = dir.string();
  if (!mount.empty()) where += " (the file system mounted at " + mount.string() + ")";
  std::string out;
  if (auto required = Number(info.Get("required"))) {
    out = "not enough space in " + where + ": " + HumanBytes(*required) + " needed, " +
          (available ? HumanBytes(*available) : std::string("less")) + " free";
  } else {
    out = "no space left in " + where + (available ? ", " + HumanBytes(*available) + " free" : "");
  }
  if (context.exporting) return out + "; free some, or give -o a directory on another disk";
  return out +
         "; free some (modeld gc --dry-run shows what gc would free, modeld rm NAME removes a "
         "model), or use --data-dir (or MODELD_HOME) on a larger disk";
}

std::string HubAccess(const Status::Info& info) {
  const std::string repo = info.Get("repo"), page = info.Get("page");
  const bool gated = info.Get("gated") == "1", token = info.Get("token") == "1";
  std::string endpoint = page;
  if (endpoint.size() > repo.size() + 1) endpoint.resize(endpoint.size() - repo.size() - 1);
  const std::string how = "export HF_TOKEN=hf_... (a read token from " + endpoint +
                          "/settings/tokens), then run the same command again";
  if (gated && !token) {
    return "repository '" + repo + "' is gated: accept its licence at " + page +
           " (logged in), then give modeld a token of that account: " + how;
  }
  if (gated) {
    return "repository '" + repo + "' is gated and the account of HF_TOKEN has not accepted " +
           "its licence: accept it at " + page + " as that account, or " + how;
  }
  if (!token) {
    return "repository '" + repo + "' is private or gated (or does not exist): if you have " +
           "access, " + how;
  }
  return "the token in HF_TOKEN has no access to repository '" + repo + "' (private, gated, " +
         "or misspelt: see " + page + "); for a token of an account that has access, " + how;
}

}  // namespace

std::string CliMessage(const Status& status, const ErrorContext& context) {
  const Status::Info* info = status.info();
  if (info == nullptr) return status.message();
  const std::string& r = info->reason;
  if (r == reason::kAlreadyInstalled) {
    std::string path = info->Get("path");
    return info->Get("model") + " is already installed" + (path.empty() ? "" : " at " + path) +
           "; --force downloads it again";
  }
  if (r == reason::kUnknownModel) {
    const std::string name = info->Get("name");
    return "unknown model '" + name + "': no catalog has it. `modeld search " + SearchWord(name) +
           "` lists the models the catalogs offer; a Hugging Face repository is pulled as "
           "org/name (e.g. modeld pull Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M), a file as its "
           "URL";
  }
  if (r == reason::kHttpStatus) {
    const std::string code = info->Get("status");
    const char* what = code == "404" ? "not found " : code == "410" ? "gone " : "";
    return what + ("(HTTP " + code + "): ") + info->Get("url");
  }
  if (r == reason::kNoSpace) return NoSpace(*info, context);
  if (r == reason::kHubAccess) return HubAccess(*info);
  return status.message();
}

int PrintError(const char* command, const Status& status, const ErrorContext& context) {
  std::fprintf(stderr, "modeld %s: %s\n", command, CliMessage(status, context).c_str());
  return ExitCodeFor(status);
}

void PrintJson(const nlohmann::json& j) {
  std::string s = j.dump(2) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
}

}  // namespace modeld::cli
