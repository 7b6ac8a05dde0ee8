// The store commands: ls, info, rm, verify, gc, cache. Each prints a table for people or
// JSON (--json) for programs, and returns a process exit code. Sizes are printed as ls
// prints them (HumanBytes: B, KiB, MiB, GiB). rm and gc say what they freed, and what stays
// because the Hugging Face cache links it (--hf-cache frees that too).
#pragma once

#include <string>

namespace modeld::cli {

struct StoreArgs {
  std::string data_dir;
  bool json = false;
  std::string ref;             // info, rm, verify
  bool quick = false;          // verify: size check only
  double partial_age_h = 168;  // gc: partials older than this (hours) go
  bool dry_run = false;        // gc: say what would go, remove nothing
  bool hf_cache = false;       // rm, gc: also free what the Hugging Face cache links
};

int RunLs(const StoreArgs& args);
int RunInfo(const StoreArgs& args);
int RunRm(const StoreArgs& args);
int RunVerify(const StoreArgs& args);
int RunGc(const StoreArgs& args);
int RunCache(const StoreArgs& args);

}  // namespace modeld::cli
