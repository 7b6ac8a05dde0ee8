// A client for a running `modeld serve`: `modeld pull` uses one when it answers, so a
// download started from the command line shows up in every app's progress view.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "core/status.h"

namespace modeld::cli {

class ServerClient {
 public:
  // |base| like "http://127.0.0.1:8000"; |token| for Authorization: Bearer (may be empty).
  ServerClient(std::string base, std::string token);
  // The server from $MODELD_URL (default http://127.0.0.1:8000) with $MODELD_TOKEN, if
  // GET /healthz answers within 300 ms.
  static std::optional<ServerClient> Discover();

  struct Reply {
    long status = 0;  // 0: no answer
    nlohmann::json body;
    std::string error;  // transport error
  };
  Reply Get(const std::string& path, long timeout_ms = 10000) const;
  Reply Post(const std::string& path, const nlohmann::json& body, long timeout_ms = 60000) const;
  Reply Patch(const std::string& path, const nlohmann::json& body, long timeout_ms = 60000) const;
  Reply Delete(const std::string& path, long timeout_ms = 60000) const;
  // Reads Server-Sent Events from |path|, calling |on_event(name, data)| for each until
  // it returns false or the stream ends. Returns false on a transport error.
  bool Events(const std::string& path,
              const std::function<bool(const std::string&, const nlohmann::json&)>& on_event) const;
  const std::string& base() const { return base_; }
  bool has_token() const { return !token_.empty(); }

 private:
  Reply Send(const char* method, const std::string& path, const nlohmann::json& body,
             long timeout_ms) const;
  std::string base_;
  std::string token_;
};

// Whether |server| is to do |command|'s work (pull, load, unload, ps): only if it uses this
// process's data dir (|data_dir| as given, its GET /version says which), else this process
// does it and says why on stderr (unless |quiet|). A server that wants a token this process
// lacks is an error saying what to do. Returns the exit code of that error, else whether
// to hand the work over.
std::variant<int, bool> UseServer(const char* command, const std::string& data_dir, bool quiet,
                                  const ServerClient& server);

// A failure as the server tells it (a failed job's progress object: "error"; an error
// reply: "detail"; both with "error_code" and the typed "error_detail"), rebuilt as the
// Status the server had, so that it is worded the CLI's way. Without a known code it is
// |fallback|.
Status ServerFailure(const nlohmann::json& f, const std::string& message, Status::Code fallback);

}  // namespace modeld::cli
