#include "cli/store_commands.h"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cli/errors.h"
#include "cli/exit_codes.h"
#include "core/fs.h"
#include "core/names.h"
#include "core/time_format.h"
#include "service/open.h"

namespace modeld::cli {

namespace {

int Fail(const char* cmd, const Status& s) { return PrintError(cmd, s); }

std::string Date(int64_t t) { return FormatUtc(t, "%Y-%m-%d %H:%M"); }

// The command that makes a broken model whole: a pull fetches again what is missing or
// changed (from where the model came from); an interrupted removal is finished by rm.
std::string RepairCommand(const ModelRef& ref, bool removing) {
  return (removing ? "modeld rm " : "modeld pull ") + ref.ToString();
}

std::string Count(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string Joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

// What rm and gc say about files no model uses that the Hugging Face cache links too:
// kept (with how to free them), or removed from it with --hf-cache.
void PrintHubLinked(const service::HubLinkedFiles& hub, const std::filesystem::path& hf_cache,
                    bool dry_run) {
  if (hub.kept > 0) {
    std::printf(
        "kept %s (%s): the Hugging Face cache (%s) still links them (%s), so removing them "
        "here would free nothing; modeld gc --hf-cache %s both\n",
        Count(hub.kept, "file", "files").c_str(), HumanBytes(hub.kept_bytes).c_str(),
        hf_cache.c_str(), Joined(hub.repos).c_str(), dry_run ? "would remove" : "removes");
  }
  if (hub.links_removed > 0) {
    std::printf("%s %s from the Hugging Face cache (%s)\n", dry_run ? "would remove" : "removed",
                Count(hub.links_removed, "file", "files").c_str(), Joined(hub.repos).c_str());
  }
}

// The Hugging Face cache's directory (a Cache() report: only asked for when it is named).
std::filesystem::path HubCacheDir(service::ModelService& svc) {
  auto rep = svc.Cache();
  return rep.has_value() ? rep->hf_cache : std::filesystem::path();
}

}  // namespace

int RunLs(const StoreArgs& args) {
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail("ls", svc.error());
  // Streamed: one model at a time into one output buffer.
  std::string out;
  size_t count = 0;
  char line[512];
  if (args.json) {
    out = "{\"models\": [";
  } else {
    std::snprintf(line, sizeof line, "%-48s %-16s %-10s %10s  %s\n", "NAME", "VERSION", "STATUS",
                  "SIZE", "INSTALLED");
    out = line;
  }
  Status s = (*svc)->ForEachModel([&](const service::Model& m) {
    if (args.json) {
      if (count) out += ",";
      out += "\n  ";
      out += m.ToJson().dump();
    } else {
      std::snprintf(line, sizeof line, "%-48s %-16s %-10s %10s  %s\n", m.ref.name.c_str(),
                    m.ref.version.c_str(), m.status.c_str(), HumanBytes(m.size).c_str(),
                    Date(m.installed_at).c_str());
      out += line;
    }
    ++count;
  });
  if (!s.ok()) return Fail("ls", s);
  if (args.json) {
    out += count ? "\n]}\n" : "]}\n";
  } else if (count == 0) {
    out = "no models installed (modeld pull URL installs one)\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

int RunInfo(const StoreArgs& args) {
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail("info", svc.error());
  // NAME:VERSION shows one version; NAME alone shows every installed version.
  std::vector<service::Model> models;
  if (args.ref.find(':') != std::string::npos) {
    auto ref = ParseModelRef(args.ref);
    if (!ref.has_value()) return Fail("info", ref.error());
    auto m = (*svc)->Info(*ref);
    if (!m.has_value()) return Fail("info", m.error());
    models.push_back(std::move(m.value()));
  } else {
    if (Status s = ValidateModelName(args.ref); !s.ok()) return Fail("info", s);
    auto v = (*svc)->Versions(args.ref);
    if (!v.has_value()) return Fail("info", v.error());
    if (v->empty())
      return Fail("info", Status::NotFound("model '" + args.ref + "' is not installed"));
    models = std::move(v.value());
  }
  if (args.json) {
    if (models.size() == 1) {
      PrintJson(models[0].ToJson());
    } else {
      auto arr = nlohmann::json::array();
      for (const auto& m : models) arr.push_back(m.ToJson());
      PrintJson({{"name", args.ref}, {"versions", arr}});
    }
    return kExitOk;
  }
  for (const auto& m : models) {
    std::printf("%s\n  status:    %s\n", m.ref.ToString().c_str(), m.status.c_str());
    for (const auto& p : m.problems) std::printf("  problem:   %s\n", p.c_str());
    if (m.status != "available") {
      std::printf("  repair:    %s\n", RepairCommand(m.ref, m.removing).c_str());
    }
    if (const auto& in = m.inspection) {
      if (!in->error.empty()) {
        std::printf("  contents:  could not be read: %s\n", in->error.c_str());
      } else if (!in->format.empty()) {
        std::printf("  format:    %s%s\n", in->format.c_str(),
                    in->split_count > 1
                        ? (" (" + std::to_string(in->split_count) + " parts)").c_str()
                        : "");
        if (!in->architecture.empty()) {
          std::printf("  arch:      %s\n", in->architecture.c_str());
        }
        if (in->parameter_count > 0) {
          std::printf("  params:    %s (%llu)\n", in->parameters.c_str(),
                      static_cast<unsigned long long>(in->parameter_count));
        }
        if (!in->quantization.empty()) {
          std::printf("  quant:     %s (%.2f bits per weight)\n", in->quantization.c_str(),
                      in->bits_per_weight);
        }
        if (in->context_length > 0) {
          std::printf("  context:   %llu\n", static_cast<unsigned long long>(in->context_length));
        }
      }
    }
    std::printf("  path:      %s\n  size:      %s\n  source:    %s\n", m.path.c_str(),
                HumanBytes(m.size).c_str(), m.source.c_str());
    if (!m.description.empty()) std::printf("  about:     %s\n", m.description.c_str());
    if (!m.tags.empty()) std::printf("  tags:      %s\n", nlohmann::json(m.tags).dump().c_str());
    std::printf("  installed: %s UTC\n  files:\n", Date(m.installed_at).c_str());
    for (const auto& f : m.files) {
      std::printf("    %-40s %10s  sha256:%s\n", f.path.c_str(), HumanBytes(f.size).c_str(),
                  f.sha256.c_str());
    }
  }
  return kExitOk;
}

int RunRm(const StoreArgs& args) {
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail("rm", svc.error());
  std::string name = args.ref, version;
  if (size_t colon = args.ref.find(':'); colon != std::string::npos) {
    auto ref = ParseModelRef(args.ref);
    if (!ref.has_value()) return Fail("rm", ref.error());
    name = ref->name;
    version = ref->version;
  }
  service::CleanupOptions options;
  options.hf_cache = args.hf_cache;
  auto rep = (*svc)->Remove(name, version, options);
  if (!rep.has_value()) return Fail("rm", rep.error());
  if (args.json) {
    auto arr = nlohmann::json::array();
    for (const auto& r : rep->removed) arr.push_back(r.ToString());
    PrintJson({{"removed", arr},
               {"blobs_removed", rep->blobs_removed},
               {"freed_bytes", rep->freed_bytes},
               {"hf_cache", rep->hf_cache.ToJson()}});
    return kExitOk;
  }
  for (const auto& r : rep->removed) std::printf("removed %s\n", r.ToString().c_str());
  std::printf("freed %s", HumanBytes(rep->freed_bytes).c_str());
  if (rep->blob_bytes > rep->freed_bytes + rep->hf_cache.kept_bytes) {
    // Deleted, yet the bytes stay: another hard link (not the Hub cache's) holds them.
    std::printf(" (%s of the files removed stay on disk: another hard link holds them)",
                HumanBytes(rep->blob_bytes - rep->freed_bytes).c_str());
  }
  std::printf("\n");
  PrintHubLinked(rep->hf_cache, rep->hf_cache.kept ? HubCacheDir(**svc) : "", false);
  return kExitOk;
}

int RunVerify(const StoreArgs& args) {
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail("verify", svc.error());
  std::optional<ModelRef> only;
  if (!args.ref.empty()) {
    auto ref = ParseModelRef(args.ref);
    if (!ref.has_value()) return Fail("verify", ref.error());
    only = *ref;
  }
  Status recorded;
  auto results = (*svc)->Verify(only, !args.quick, &recorded);
  if (!results.has_value()) return Fail("verify", results.error());
  if (!recorded.ok()) {  // a full disk: what was found still stands
    std::fprintf(stderr, "modeld verify: warning: the statuses found could not be recorded: %s\n",
                 recorded.message().c_str());
  }
  bool all_ok = true;
  auto arr = nlohmann::json::array();
  for (const auto& r : *results) {
    all_ok &= r.ok;
    nlohmann::json j = {{"ref", r.ref.ToString()}, {"ok", r.ok}, {"problems", r.problems}};
    if (!r.ok) j["repair"] = RepairCommand(r.ref, r.removing);
    arr.push_back(std::move(j));
    if (!args.json) {
      std::printf("%-60s %s\n", r.ref.ToString().c_str(), r.ok ? "ok" : "BROKEN");
      for (const auto& p : r.problems) std::printf("    %s\n", p.c_str());
      if (!r.ok) std::printf("    repair: %s\n", RepairCommand(r.ref, r.removing).c_str());
    }
  }
  if (args.json) PrintJson({{"models", arr}, {"ok", all_ok}});
  return all_ok ? kExitOk : kExitChecksum;
}

int RunGc(const StoreArgs& args) {
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail("gc", svc.error());
  service::CleanupOptions options;
  options.dry_run = args.dry_run;
  options.hf_cache = args.hf_cache;
  auto rep =
      (*svc)->Gc(std::chrono::seconds(static_cast<int64_t>(args.partial_age_h * 3600)), options);
  if (!rep.has_value()) return Fail("gc", rep.error());
  if (args.json) {
    PrintJson(rep->ToJson());
    return kExitOk;
  }
  const bool dry = rep->dry_run;
  if (rep->removals_finished > 0) {
    std::printf(
        "%s %s\n", dry ? "would finish" : "finished",
        Count(rep->removals_finished, "interrupted removal", "interrupted removals").c_str());
  }
  std::printf(
      "%s %s (%s), %s (%s), %s\n", dry ? "would remove" : "removed",
      Count(rep->blobs_removed, "unused file", "unused files").c_str(),
      HumanBytes(rep->blob_bytes).c_str(),
      Count(rep->partials_removed, "stale partial download", "stale partial downloads").c_str(),
      HumanBytes(rep->partial_bytes).c_str(),
      Count(rep->content_dirs_removed, "orphaned directory", "orphaned directories").c_str());
  std::printf("%s %s\n", dry ? "would free" : "freed", HumanBytes(rep->freed_bytes).c_str());
  PrintHubLinked(rep->hf_cache, rep->hf_cache.kept ? HubCacheDir(**svc) : "", dry);
  if (dry) std::printf("nothing was removed (--dry-run)\n");
  return kExitOk;
}

int RunCache(const StoreArgs& args) {
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail("cache", svc.error());
  auto rep = (*svc)->Cache();
  if (!rep.has_value()) return Fail("cache", rep.error());
  if (args.json) {
    PrintJson(rep->ToJson());
    return kExitOk;
  }
  std::printf("data dir:  %s\nhub cache: %s\n", rep->data_dir.c_str(), rep->hf_cache.c_str());
  std::printf("models:    %llu using %s (%s on disk after de-duplication, %llu blobs)\n",
              static_cast<unsigned long long>(rep->model_count),
              HumanBytes(rep->logical_bytes).c_str(), HumanBytes(rep->blob_bytes).c_str(),
              static_cast<unsigned long long>(rep->blob_count));
  std::printf("partial:   %llu downloads, %s\nfree:      %s\n",
              static_cast<unsigned long long>(rep->partial_count),
              HumanBytes(rep->partial_bytes).c_str(), HumanBytes(rep->free_bytes).c_str());
  for (const auto& [ref, size] : rep->per_model) {
    std::printf("  %-58s %10s\n", ref.c_str(), HumanBytes(size).c_str());
  }
  // Ollama's own directory: what an installed Ollama lists (modeld reuses its blobs).
  if (!rep->ollama_models.empty()) {
    std::printf("ollama:    %s, %s\n", rep->ollama_models.c_str(),
                Count(rep->ollama_dir_models.size(), "model", "models").c_str());
    for (const auto& m : rep->ollama_dir_models) {
      std::printf("  %-58s %10s\n", m.name.Shortest().c_str(), HumanBytes(m.size).c_str());
    }
  }
  // The Hugging Face cache's files that are modeld's (hard links: the bytes are on disk once).
  if (rep->hf_cache_repos.empty()) {
    std::printf("hub cache: holds none of modeld's files\n");
    return kExitOk;
  }
  uint64_t files = 0, bytes = 0, unused_files = 0, unused_bytes = 0;
  for (const auto& r : rep->hf_cache_repos) {
    files += r.files;
    bytes += r.bytes;
    unused_files += r.unused_files;
    unused_bytes += r.unused_bytes;
  }
  std::printf("hub cache: %s of modeld's (%s, hard links: on disk once), in %s:\n",
              Count(files, "file", "files").c_str(), HumanBytes(bytes).c_str(),
              Count(rep->hf_cache_repos.size(), "repository", "repositories").c_str());
  for (const auto& r : rep->hf_cache_repos) {
    std::string unused =
        r.unused_files ? ", " + std::to_string(r.unused_files) + " used by no model" : "";
    std::printf("  %-40s %4llu files %10s%s\n", r.repo_id.c_str(),
                static_cast<unsigned long long>(r.files), HumanBytes(r.bytes).c_str(),
                unused.c_str());
  }
  if (unused_files > 0) {
    std::printf(
        "%s (%s) no model uses stay because the Hugging Face cache links them: "
        "modeld gc --hf-cache frees them\n",
        Count(unused_files, "file", "files").c_str(), HumanBytes(unused_bytes).c_str());
  }
  return kExitOk;
}

}  // namespace modeld::cli
