// `modeld jobs`: lists download jobs and removes them. Through a running server when one
// answers (so its queue stays true), else straight from the registry: a job that stops
// every start of `modeld serve` can be removed while no server runs.
#pragma once

#include <string>
#include <vector>

namespace modeld::cli {

struct JobsArgs {
  std::string data_dir;
  bool json = false;
  bool local = false;               // never ask a running server
  std::vector<std::string> remove;  // `jobs rm ID...`
  bool remove_finished = false;     // `jobs rm --finished`
};

int RunJobs(const JobsArgs& args);

}  // namespace modeld::cli
