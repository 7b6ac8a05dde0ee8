// Failures in the CLI's words (issue 11). The service's typed detail (Status::info(), the
// reasons of core/error_reasons.h) becomes what a command-line user reads: the CLI's own
// flags (--force, where the HTTP API says force_download=true), sizes as ls prints them
// (MiB, GiB), the directory and file system when space is short, and the next step (modeld
// search, the org/name Hub form, export HF_TOKEN=...). A failure without typed detail keeps
// its message. The HTTP dialects word the same failures their own way, from the same Status.
//
// Thread safety: stateless functions (PrintError writes to stderr).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace modeld::cli {

// What the failing command was doing, for the next step a message suggests.
struct ErrorContext {
  bool exporting = false;  // pull -o FILE: the store is not involved
};

// |status|'s failure in the CLI's words (no "modeld CMD: " prefix, no newline).
std::string CliMessage(const Status& status, const ErrorContext& context = {});

// Prints "modeld COMMAND: MESSAGE" to stderr and returns the exit code for |status|.
int PrintError(const char* command, const Status& status, const ErrorContext& context = {});

// |j| on stdout, indented by 2, with a newline: every command's --json output.
void PrintJson(const nlohmann::json& j);

}  // namespace modeld::cli
