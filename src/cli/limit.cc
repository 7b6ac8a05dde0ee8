#include "cli/limit.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "cli/server_client.h"
#include "core/fs.h"

namespace modeld::cli {

namespace {

using nlohmann::json;

std::string RateText(uint64_t rate) { return rate == 0 ? "no limit" : HumanBytes(rate) + "/s"; }

int Refused(const char* what, const ServerClient::Reply& r) {
  std::string why = r.body.is_object() ? r.body.value("detail", r.error) : r.error;
  if (r.status == 0) why = "no answer from " + why;
  std::fprintf(stderr, "modeld limit: %s: %s\n", what, why.c_str());
  if (r.status == 404) return kExitNotFound;
  if (r.status == 400 || r.status == 409) return kExitUsage;  // refused as asked
  return r.status == 0 || r.status >= 500 ? kExitNetwork : kExitInternal;
}

}  // namespace

Result<uint64_t> ParseRate(const std::string& text) {
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  }
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "off" || lower == "none" || lower == "unlimited") return uint64_t{0};
  auto bad = [&] {
    return Status::InvalidArgument("'" + text +
                                   "' is not a rate: give bytes a second, e.g. 10M, 512K, "
                                   "1.5G (K = 1024), or 0 for no limit");
  };
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return bad();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(s.substr(0, i), &used);
    if (used != i) return bad();
  } catch (...) {
    return bad();
  }
  std::string unit = lower.substr(i);
  if (unit.size() >= 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) {
    unit.resize(unit.size() - 2);
  }
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double scale = 1;
  if (unit == "k") {
    scale = 1024.0;
  } else if (unit == "m") {
    scale = 1024.0 * 1024;
  } else if (unit == "g") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "t") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else if (!unit.empty()) {
    return bad();
  }
  double bytes = value * scale;
  if (!std::isfinite(bytes) || bytes > 1e12) {
    return Status::InvalidArgument("'" + text + "' is more than 1 TB a second");
  }
  if (bytes > 0 && bytes < 1024) {
    return Status::InvalidArgument("'" + text +
                                   "' is under 1K a second: give at least 1K, or 0 for no limit");
  }
  return static_cast<uint64_t>(std::llround(bytes));
}

int RunLimit(const LimitArgs& args) {
  auto server = ServerClient::Discover();
  if (!server) {
    std::fprintf(stderr,
                 "modeld limit: no modeld server answers at $MODELD_URL (default "
                 "http://127.0.0.1:8000); limits are a running server's (`modeld pull "
                 "--max-rate` limits a download of its own)\n");
    return kExitNetwork;
  }
  std::optional<uint64_t> rate;
  if (!args.rate.empty()) {
    auto r = ParseRate(args.rate);
    if (!r.has_value()) {
      std::fprintf(stderr, "modeld limit: %s\n", r.error().message().c_str());
      return kExitUsage;
    }
    rate = *r;
  }
  if (!args.job.empty()) {
    if (args.per_host > 0) {
      std::fprintf(stderr, "modeld limit: --per-host is the server's, not a job's\n");
      return kExitUsage;
    }
    ServerClient::Reply r =
        rate ? server->Patch("/model-download/" + args.job, {{"max_rate", *rate}})
             : server->Get("/model-download/" + args.job + "/progress");
    if (r.status != 200) return Refused(args.job.c_str(), r);
    uint64_t now = r.body.value("max_rate", uint64_t{0});
    if (args.json) {
      std::printf("%s\n", json{{"download_id", args.job}, {"max_rate", now}}.dump().c_str());
    } else {
      std::printf("%s: %s\n", args.job.c_str(), RateText(now).c_str());
    }
    return kExitOk;
  }
  ServerClient::Reply r;
  if (rate || args.per_host > 0) {
    json body = json::object();
    if (rate) body["max_rate"] = *rate;
    if (args.per_host > 0) body["max_connections_per_host"] = args.per_host;
    r = server->Patch("/settings", body);
  } else {
    r = server->Get("/settings");
  }
  if (r.status != 200) return Refused("settings", r);
  if (args.json) {
    std::printf("%s\n", r.body.dump().c_str());
  } else {
    std::printf("rate: %s\nconnections per host: %d\ndownloads at once: %d\n",
                RateText(r.body.value("max_rate", uint64_t{0})).c_str(),
                r.body.value("max_connections_per_host", 0), r.body.value("max_concurrent", 0));
  }
  return kExitOk;
}

}  // namespace modeld::cli
