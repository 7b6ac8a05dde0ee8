#include "cli/load.h"

#include <signal.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <variant>

#include "cli/errors.h"
#include "cli/exit_codes.h"
#include "cli/server_client.h"
#include "core/fs.h"
#include "core/names.h"
#include "core/time_format.h"
#include "service/open.h"

namespace modeld::cli {

namespace {

using nlohmann::json;

// NAME[:VERSION], version latest when not given.
Result<ModelRef> RefOf(const std::string& text) {
  if (text.find(':') != std::string::npos) return ParseModelRef(text);
  if (Status s = ValidateModelName(text); !s.ok()) return s;
  return ModelRef{text, "latest"};
}

std::string When(const json& t) {
  if (!t.is_number_integer()) return "never";
  return FormatUtc(t.get<int64_t>(), "%Y-%m-%d %H:%M:%S");
}

// "in 4 min 59 s" (from now, as `ollama ps` says it), "now" when due, or "never".
std::string Until(const json& t) {
  if (!t.is_number_integer()) return "never";
  const int64_t left = t.get<int64_t>() - UnixSeconds();
  return left <= 0 ? "now" : "in " + HumanDuration(std::chrono::seconds(left));
}

// One line about a loaded model (LoadedState's JSON): "REF in 0.42 s: 1.9 MiB, ...", the
// time when |load_ms| is a number.
std::string LoadedLine(const std::string& ref, const json& l, const json& load_ms = json()) {
  std::string took;
  if (load_ms.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " in %.2f s", load_ms.get<double>() / 1000.0);
    took = buf;
  }
  return ref + took + ": " + HumanBytes(l.value("bytes", uint64_t{0})) + ", " +
         HumanBytes(l.value("resident_bytes", uint64_t{0})) + " resident" +
         (l.value("mlocked", false) ? ", locked" : "") + ", instance " +
         std::to_string(l.value("instance_id", uint64_t{0})) + ", expires " +
         Until(l.value("expires_at", json()));
}

// The running server to hand the command to, if any; an exit code when it refuses us.
std::variant<int, std::optional<ServerClient>> Server(const char* command, const LoadArgs& args) {
  if (args.local) return std::optional<ServerClient>();
  auto server = ServerClient::Discover();
  if (!server) return std::optional<ServerClient>();
  auto use = UseServer(command, args.data_dir, /*quiet=*/false, *server);
  if (std::holds_alternative<int>(use)) return std::get<int>(use);
  return std::get<bool>(use) ? server : std::optional<ServerClient>();
}

int ServerError(const char* command, const ServerClient::Reply& r) {
  if (r.status == 0) {
    return PrintError(command, Status::Unavailable("the modeld server did not answer: " + r.error));
  }
  std::string detail = r.body.is_object() ? r.body.value("detail", std::string("failed"))
                                          : "HTTP " + std::to_string(r.status);
  return PrintError(command, ServerFailure(r.body, detail, Status::Code::kInternal));
}

json LoadBody(const ModelRef& ref, const LoadArgs& args) {
  json body = {{"version", ref.version}, {"mlock", args.mlock}};
  if (!args.keep_alive.empty()) body["keep_alive"] = args.keep_alive;
  return body;
}

// A standalone load holds the model: until SIGINT/SIGTERM, or until the loader has
// unloaded it (keep_alive expired). Checks once a second.
int Hold(service::ModelService& svc, const ModelRef& ref) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::fprintf(stderr,
               "modeld load: holding %s in memory until Ctrl-C (or until it has been idle for its "
               "keep-alive); a running `modeld serve` keeps models loaded without a terminal\n",
               ref.ToString().c_str());
  for (;;) {
    timespec wait{1, 0};
    if (sigtimedwait(&set, nullptr, &wait) > 0) {
      svc.UnloadAll();
      std::fprintf(stderr, "modeld load: unloaded %s\n", ref.ToString().c_str());
      return kExitOk;
    }
    bool still = false;
    for (const auto& l : svc.Loaded()) still = still || l.ref == ref;
    if (!still) {
      std::fprintf(stderr, "modeld load: %s was unloaded (keep-alive expired)\n",
                   ref.ToString().c_str());
      return kExitOk;
    }
  }
}

}  // namespace

int RunLoad(const LoadArgs& args) {
  auto ref = RefOf(args.ref);
  if (!ref.has_value()) return PrintError("load", ref.error());
  service::LoadOptions options;
  options.mlock = args.mlock;
  if (!args.keep_alive.empty()) {
    auto keep = service::ParseKeepAlive(args.keep_alive);
    if (!keep.has_value()) return PrintError("load", keep.error());
    options.keep_alive = *keep;
  }
  auto server = Server("load", args);
  if (std::holds_alternative<int>(server)) return std::get<int>(server);
  if (auto& s = std::get<std::optional<ServerClient>>(server)) {
    // The pages are read before the answer: allow for a large model on a slow disk.
    auto r = s->Post("/models/" + ref->name + "/load", LoadBody(*ref, args), 30 * 60 * 1000);
    if (r.status != 200) return ServerError("load", r);
    if (args.json) {
      PrintJson(r.body);
    } else if (r.body.value("status", std::string()) == "unloaded") {
      std::printf("unloaded %s (keep-alive 0)\n", ref->ToString().c_str());
    } else {
      std::printf("loaded %s\n", LoadedLine(ref->ToString(), r.body.value("loaded", json()),
                                            r.body.value("load_ms", json()))
                                     .c_str());
    }
    return kExitOk;
  }
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return PrintError("load", svc.error());
  auto loaded = (*svc)->Load(*ref, options);
  if (!loaded.has_value()) return PrintError("load", loaded.error());
  if (args.json) {
    json j = loaded->model.ToJson();
    j["joined"] = loaded->joined;
    j["load_ms"] = loaded->load_time.count();
    PrintJson(j);
  } else if (!loaded->loaded) {
    std::printf("unloaded %s (keep-alive 0)\n", ref->ToString().c_str());
  } else {
    std::printf("loaded %s\n", LoadedLine(ref->ToString(), loaded->model.loaded->ToJson(),
                                          loaded->load_time.count())
                                   .c_str());
  }
  std::fflush(stdout);
  if (!loaded->loaded) return kExitOk;
  return Hold(**svc, *ref);
}

int RunUnload(const LoadArgs& args) {
  auto ref = RefOf(args.ref);
  if (!ref.has_value()) return PrintError("unload", ref.error());
  auto server = Server("unload", args);
  if (std::holds_alternative<int>(server)) return std::get<int>(server);
  if (auto& s = std::get<std::optional<ServerClient>>(server)) {
    auto r = s->Post("/models/" + ref->name + "/unload", {{"version", ref->version}});
    if (r.status != 200) return ServerError("unload", r);
    if (args.json) {
      PrintJson(r.body);
    } else {
      std::printf("%s %s\n", r.body.value("was_loaded", false) ? "unloaded" : "was not loaded:",
                  ref->ToString().c_str());
    }
    return kExitOk;
  }
  // Nothing is loaded in this process: a model stays loaded only in the process that
  // loaded it (a server, or a `modeld load` in another terminal: Ctrl-C there).
  if (args.json) {
    PrintJson({{"status", "unloaded"}, {"ref", ref->ToString()}, {"was_loaded", false}});
  } else {
    std::printf(
        "was not loaded: %s (no modeld server runs; a standalone `modeld load` holds "
        "its model until Ctrl-C in its terminal)\n",
        ref->ToString().c_str());
  }
  return kExitOk;
}

int RunPs(const LoadArgs& args) {
  json models = json::array();
  auto server = Server("ps", args);
  if (std::holds_alternative<int>(server)) return std::get<int>(server);
  const auto& s = std::get<std::optional<ServerClient>>(server);
  if (s) {
    auto r = s->Get("/loaded");
    if (r.status != 200) return ServerError("ps", r);
    if (args.json) {
      PrintJson(r.body);
      return kExitOk;
    }
    models = r.body.value("models", json::array());
  } else if (args.json) {
    PrintJson({{"models", json::array()}});
    return kExitOk;
  }
  if (models.empty()) {
    std::printf("no model is loaded%s\n", s ? "" : " (no modeld server runs)");
    return kExitOk;
  }
  std::printf("%-48s %-16s %10s %10s  %-19s  %s\n", "NAME", "VERSION", "SIZE", "RESIDENT", "SINCE",
              "EXPIRES");
  for (const auto& m : models) {
    std::printf("%-48s %-16s %10s %10s  %-19s  %s\n", m.value("name", std::string()).c_str(),
                m.value("version", std::string()).c_str(),
                HumanBytes(m.value("bytes", uint64_t{0})).c_str(),
                HumanBytes(m.value("resident_bytes", uint64_t{0})).c_str(),
                When(m.value("since", json())).c_str(),
                Until(m.value("expires_at", json())).c_str());
  }
  return kExitOk;
}

}  // namespace modeld::cli
